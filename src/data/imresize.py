"""MATLAB-compatible bicubic ``imresize`` in numpy (the SR papers' LR convention).

What MATLAB's ``imresize(A, scale)`` (default 'bicubic', 'Antialiasing' true) does,
and what this module reproduces:

* Kernel: Keys cubic with a = -0.5 (``cubic`` below), support [-2, 2].
* Antialiasing when downscaling (scale < 1): the kernel is stretched by 1/scale,
  h(x) = scale * cubic(scale * x), so its support becomes 4/scale input pixels
  (x2 down: 8 taps, x3 down: 12 taps). Upscaling uses the plain 4-tap kernel.
* Geometry: output pixel x (1-based) maps to input u = x/scale + 0.5*(1 - 1/scale)
  (pixel-centre alignment; computed as (x - 0.5)/scale + 0.5, exactly when
  scale = 1/n, see ``integer_factor``: float rounding differs from MATLAB's
  by an ulp at most); taps are floor(u - width/2) + 0 .. ceil(width)+1, their
  weights are normalised to sum to 1, and tap columns that are zero for every
  output pixel are dropped.
* Border: symmetric padding (the image mirrored with its edge pixel repeated:
  ... 2 1 | 1 2 3 ... n | n n-1 ...), done by folding out-of-range indices.
* Output size: ceil(scale * in) per dimension (a 1e-9 tolerance absorbs float
  error in scale = 1/3 etc.; MATLAB computes in double the same way).
* Separable, one dimension at a time, the dimension with the smaller scale first
  (MATLAB sorts the scales; for equal scales: rows (height) first, then columns).
* Arithmetic in float64.

``imresize`` keeps float64 throughout (no rounding or clipping: bicubic overshoots).
``imresize_uint8`` is what MATLAB returns for a uint8 image: MATLAB's resize pass
(``imresizemex``) returns the class of its input, so a uint8 image is rounded
(half away from zero) and saturated to 0..255 after *each* of the two passes.
``round_each_pass=False`` rounds once at the end instead (float-exact, not MATLAB).

Weight/index tables are cached per (in_len, out_len, scale): training crops
reuse the same few tables for every patch.
"""
import functools
import math

import numpy as np

CUBIC_A = -0.5
CUBIC_SUPPORT = 4.0          # width of the unscaled cubic kernel, in pixels


def cubic(x):
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    absx = np.abs(np.asarray(x, dtype=np.float64))
    absx2, absx3 = absx ** 2, absx ** 3
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def output_length(in_len, scale):
    """MATLAB's output length ceil(scale * in_len), tolerant to float error in scale."""
    return int(math.ceil(in_len * scale - 1e-9))


@functools.lru_cache(maxsize=256)
def contributions(in_len, out_len, scale):
    """(weights, indices) for resizing one dimension, as MATLAB builds them.

    Returns read-only arrays of shape (out_len, taps): output pixel i (0-based) is
    ``sum_t weights[i, t] * input[indices[i, t]]`` with indices already folded
    into [0, in_len) by symmetric padding.
    """
    antialias = scale < 1
    factor = integer_factor(scale)
    width = CUBIC_SUPPORT * (factor or 1.0 / scale) if antialias else CUBIC_SUPPORT
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = (x - 0.5) * factor + 0.5 if factor else (x - 0.5) / scale + 0.5   # 1-based input
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    positions = left[:, None] + np.arange(taps)[None, :]   # 1-based, unfolded
    distance = u[:, None] - positions
    if antialias:
        weights = cubic(distance / factor) if factor else cubic(scale * distance)
    else:
        weights = cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    indices = fold_symmetric(positions.astype(np.int64) - 1, in_len)
    used = np.any(weights != 0, axis=0)
    weights = np.ascontiguousarray(weights[:, used])
    indices = np.ascontiguousarray(indices[:, used])
    weights.setflags(write=False)
    indices.setflags(write=False)
    return weights, indices


def integer_factor(scale):
    """n when scale == 1/n (within float error) for an integer n >= 2, else None.
    Downscaling by 1/n then uses exact arithmetic, u = (x - 0.5) * n + 0.5, so the
    weights depend only on the output pixel's phase: a crop resized alone gets
    bit-identical values to the same pixels of the whole image."""
    if scale >= 1:
        return None
    n = round(1.0 / scale)
    return n if n >= 2 and abs(1.0 / scale - n) < 1e-9 else None


def fold_symmetric(indices, length):
    """Map 0-based indices onto [0, length) by MATLAB's symmetric padding
    (edge pixel repeated: -1 -> 0, -2 -> 1, length -> length-1)."""
    period = np.mod(indices, 2 * length)
    return np.where(period < length, period, 2 * length - 1 - period)


def resize_axis(img, axis, out_len, scale, round_uint8=False):
    """Resize float64 ``img`` along ``axis`` (0 or 1) to ``out_len``; a tap loop, so
    memory stays at one output-sized array even for whole 2K images."""
    weights, indices = contributions(img.shape[axis], out_len, float(scale))
    moved = np.moveaxis(img, axis, 0)
    extra = (slice(None),) + (None,) * (moved.ndim - 1)
    out = weights[:, 0][extra] * moved[indices[:, 0]]
    for tap in range(1, weights.shape[1]):
        out += weights[:, tap][extra] * moved[indices[:, tap]]
    if round_uint8:
        out = round_to_uint8_range(out)
    return np.moveaxis(out, 0, axis)


def round_to_uint8_range(values):
    """Saturate to [0, 255] and round half away from zero, as MATLAB casts to uint8
    (kept float64 so the next pass reads it unchanged)."""
    np.clip(values, 0.0, 255.0, out=values)
    return np.floor(values + 0.5, out=values)


def check_image(img, scale):
    """Validate an imresize input; returns float scale."""
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
        raise ValueError(f"imresize: expected an HxW or HxWxC numpy array, got "
                         f"{type(img).__name__} with shape {getattr(img, 'shape', None)}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"imresize: image has an empty side (shape {img.shape})")
    scale = float(scale)
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"imresize: scale must be a positive number, got {scale}")
    return scale


def resize_passes(img, scale, round_uint8):
    """Both separable passes in MATLAB's order (equal scales: rows first)."""
    out = img.astype(np.float64)
    for axis in (0, 1):
        out = resize_axis(out, axis, output_length(img.shape[axis], scale), scale,
                          round_uint8)
    return out


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` bicubic with antialiasing, in float64.

    Args:
        img: HxW or HxWxC array, any real dtype (uint8, uint16, float...).
        scale: resize factor, e.g. 2 or 3 (up), 1/2 or 1/3 (down); the same for
            height and width.
    Returns:
        float64 array of shape (ceil(H*scale), ceil(W*scale)[, C]) in the input's
        value range; not rounded, not clipped (bicubic can overshoot).
    """
    scale = check_image(img, scale)
    return resize_passes(img, scale, round_uint8=False)


def imresize_uint8(img_uint8: np.ndarray, scale: float, round_each_pass=True) -> np.ndarray:
    """MATLAB ``imresize`` of a uint8 image: uint8 out.

    MATLAB rounds (half away from zero) and saturates after each separable pass,
    because its resize kernel returns the input's class; ``round_each_pass=False``
    keeps the intermediate in float64 and rounds once at the end instead (the two
    differ by at most 1 grey level on a small fraction of pixels).
    """
    if not isinstance(img_uint8, np.ndarray) or img_uint8.dtype != np.uint8:
        raise ValueError(f"imresize_uint8: expected a uint8 array, got "
                         f"{getattr(img_uint8, 'dtype', type(img_uint8).__name__)}")
    scale = check_image(img_uint8, scale)
    out = resize_passes(img_uint8, scale, round_uint8=round_each_pass)
    if not round_each_pass:
        out = round_to_uint8_range(out)
    return out.astype(np.uint8)
