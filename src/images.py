"""Image files and image arrays for the whole project: training data, evaluation, infer.py.

Two readers over one decoder (bytes via np.fromfile + cv2.imdecode, so any path works;
the image turned as its EXIF orientation says, as viewers show it;
an empty, undecodable or truncated file is an :class:`ImageError` naming it; truncated:
a JPEG without its end marker, a PNG whose data stops early: OpenCV may silently return
a partly grey image, so such a file is also fully decoded by Pillow when available):

* :func:`read_rgb` (training, evaluation): uint8 (H, W, 3) RGB; every conversion logs
  one WARNING line naming the file through the ``src.data`` logger: greyscale -> the
  channel repeated; RGBA / grey+alpha -> alpha dropped; 16-bit -> round(v * 255 / 65535);
  float (TIFF/EXR) -> clipped to [0, 1] and scaled to 0..255.
* :func:`read_image` (infer.py): a :class:`DecodedImage`, float32 RGB in [0, 1] that keeps
  what the network does not model, so :func:`assemble_output` can restore it:
      greyscale   replicated to 3 channels; the output is the mean of the 3 output channels
      RGBA        the colour goes through the network; alpha is upscaled on its own by
                  MATLAB-compatible bicubic resize (src.data.imresize), clipped, re-attached
      16-bit      read as float (/65535) and written back as 16-bit (PNG/TIFF); formats
                  without 16-bit support (JPEG, BMP) get 8-bit
      8-bit       read /255, written rounded to 8-bit
  Other sample types (float or 32-bit TIFF...) are refused with a message.

Writers (:func:`write_image`, :func:`write_png`) are atomic (src.files.atomic_write: a
temporary file of a made-up name in the same folder, then a rename), mode 0666 minus the
umask, and can create their file exclusively (``overwrite=False``).
Arrays: :func:`to_uint8` is the one float [0, 1] -> uint8 rounding (as a saved PNG holds
it), :func:`pad_to_multiple` the one edge-replicating pad to the unshuffle grid.
"""
import io
import logging
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from src.config import ConfigError
from src.deploy.outputs import output_file

LOGGER = logging.getLogger("src.data")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
MAX_VALUE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class ImageError(ConfigError):
    """An image that cannot be read or written, or an image option that cannot be used;
    ``str()`` is a one-line message naming the file or option."""


def unusable(path, reason, hint="replace or remove the file"):
    """The ImageError for a file that cannot be used as an image."""
    return ImageError(f"cannot use image '{path}': {reason}; {hint}")


def warn_conversion(path, what):
    """Report one conversion of ``path`` as a one-line warning."""
    LOGGER.warning("'%s': %s", path, what)


# --- reading -----------------------------------------------------------------------------

def read_bytes(path):
    """The file's bytes as uint8 (np.fromfile copes with non-ASCII paths)."""
    try:
        return np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise unusable(path, "file not found", "check the path") from None
    except OSError as err:
        raise unusable(path, f"cannot read it ({err.strerror or err})") from None


PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
JPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


def ends_cleanly(raw):
    """True for a PNG ending in its IEND chunk or a JPEG ending in its EOI marker
    (the fast path: a cut file has lost its end)."""
    head, tail = bytes(raw[:8]), bytes(raw[-16:]).rstrip(b"\x00\r\n ")
    return ((head == PNG_SIGNATURE and tail.endswith(PNG_END))
            or (head[:3] == JPEG_START and tail.endswith(JPEG_END)))


def truncation_reason(raw):
    """Why the encoded bytes are incomplete, or None. Files that end cleanly pass;
    others (other formats, JPEGs with trailing data) must survive Pillow's full
    decode, which raises on cut data that OpenCV may pad with grey. Without Pillow
    only PNG/JPEG end markers are checked."""
    if ends_cleanly(raw):
        return None
    try:
        from PIL import Image
    except ImportError:
        if bytes(raw[:8]) == PNG_SIGNATURE or bytes(raw[:3]) == JPEG_START:
            return "image data is truncated (no end marker)"
        return None
    try:
        with Image.open(io.BytesIO(raw.tobytes())) as pil_image:
            pil_image.load()
    except Image.UnidentifiedImageError:     # a format Pillow lacks, OpenCV decoded it
        return None
    except (OSError, SyntaxError, ValueError) as err:
        return f"image data is truncated or corrupt ({str(err).splitlines()[0]})"
    return None


EXIF_ORIENTATION = 0x0112      # the EXIF tag; 1 = as stored, 2-8 = flipped and/or turned


def orientation_of(pil_image):
    """The EXIF orientation (1-8) of an opened Pillow image; 1 when it has none."""
    try:
        value = pil_image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, TypeError):      # a damaged EXIF block
        return 1
    return value if value in range(1, 9) else 1


def exif_orientation(raw):
    """The EXIF orientation of the encoded image ``raw`` (Pillow reads the header only);
    1 without one, or without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return 1
    try:
        with Image.open(io.BytesIO(raw.tobytes())) as pil_image:
            return orientation_of(pil_image)
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 1


def apply_orientation(image, orientation):
    """``image`` (H, W[, C]) turned the way viewers (and cv2.imread) show a file with
    this EXIF orientation: 6, a phone held upright, turns it a quarter clockwise."""
    turns = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1],
             4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
             6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
             8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns[orientation](image))


def decode_file(path):
    """The file as cv2.IMREAD_UNCHANGED decodes it: (H, W) or (H, W, 1|3|4), BGR(A)
    order, the file's sample type, turned as its EXIF orientation says (IMREAD_UNCHANGED
    ignores it; viewers and cv2.imread do not). ImageError for an empty, undecodable or
    cut file."""
    raw = read_bytes(path)
    if raw.size == 0:
        raise unusable(path, "the file is empty")
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    reason = truncation_reason(raw)
    if image is None or reason:
        raise unusable(path, reason or "not an image OpenCV can decode "
                                       "(corrupt or unsupported format)")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise unusable(path, f"has {image.shape[2]} channels; expected 1, 3 or 4")
    return apply_orientation(image, exif_orientation(raw))


def read_rgb(path, quiet=False) -> np.ndarray:
    """Read ``path`` as a uint8 HxWx3 RGB array (conversions: module docstring).

    Raises:
        ImageError: missing/unreadable/undecodable/truncated file.
    """
    return to_uint8_rgb(decode_file(path), path, quiet)


def to_uint8_rgb(image, path, quiet=False):
    """Convert a decoded OpenCV array (BGR order) to uint8 RGB, warning per change."""
    if image.dtype != np.uint8:
        image = to_8bit(image, path, quiet)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if not quiet:
            warn_conversion(path, "greyscale image converted to RGB (channel repeated)")
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        if not quiet:
            warn_conversion(path, "alpha channel dropped (RGBA -> RGB)")
        image = image[:, :, :3]
    return np.ascontiguousarray(image[:, :, ::-1])


def to_8bit(image, path, quiet=False):
    """A decoded file's 16-bit or float samples as 8-bit: 16-bit by round(v * 255 / 65535),
    float by :func:`to_uint8` (clip to [0, 1], * 255, round); a warning names the file."""
    if image.dtype == np.uint16:
        if not quiet:
            warn_conversion(path, "16-bit image scaled to 8-bit")
        return np.round(image.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not quiet:
            warn_conversion(path, "floating-point image clipped to [0, 1] and scaled to 8-bit")
        return to_uint8(image)
    raise unusable(path, f"pixel type {image.dtype} is not supported (use 8/16-bit)")


@dataclass
class DecodedImage:
    """rgb: (H, W, 3) float32 in [0, 1]; alpha: (H, W) float32 or None; grey: the file
    was single-channel; dtype: uint8 or uint16, the sample type of the file."""
    rgb: np.ndarray
    alpha: Optional[np.ndarray]
    grey: bool
    dtype: np.dtype


def decode(path, data):
    """Split cv2's IMREAD_UNCHANGED array into a DecodedImage."""
    if data.dtype not in MAX_VALUE:
        raise unusable(path, f"{data.dtype} samples are not supported",
                       "convert it to 8- or 16-bit")
    scaled = data.astype(np.float32) / MAX_VALUE[data.dtype]
    if scaled.ndim == 3 and scaled.shape[2] == 1:
        scaled = scaled[:, :, 0]
    if scaled.ndim == 2:
        return DecodedImage(np.repeat(scaled[:, :, None], 3, axis=2), None, True, data.dtype)
    if scaled.shape[2] == 4:
        rgb = np.ascontiguousarray(scaled[:, :, 2::-1])          # BGRA -> RGB
        return DecodedImage(rgb, scaled[:, :, 3], False, data.dtype)
    return DecodedImage(np.ascontiguousarray(scaled[:, :, ::-1]), None, False, data.dtype)


def read_image(path):
    """Read a PNG/JPEG/BMP/TIFF/WebP file (8/16-bit; grey, RGB or RGBA) for infer.py."""
    return decode(path, decode_file(path))


def list_images(folder, flag="--data_dir") -> list:
    """Sorted paths of the image files directly inside ``folder`` (extensions in
    :data:`IMAGE_EXTENSIONS`, any case). Raises ConfigError for a missing or empty
    folder; its hint names ``flag``, the caller's flag for the folder."""
    folder = str(folder)
    if not os.path.isdir(folder):
        raise ConfigError(f"data folder '{folder}' does not exist; run "
                          f"scripts/prepare_data.sh or pass {flag}")
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS)
                   and os.path.isfile(os.path.join(folder, name)))
    if not paths:
        raise ConfigError(f"data folder '{folder}' has no image files "
                          f"({', '.join(IMAGE_EXTENSIONS)}); run scripts/prepare_data.sh "
                          f"or pass {flag}")
    return paths


# --- arrays ------------------------------------------------------------------------------

def to_uint8(img):
    """Float image in [0, 1] -> uint8 as a saved PNG holds it (clip, * 255, round)."""
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def pad_to_multiple(array, multiple, axes=(0, 1)):
    """``array`` edge-replicated at the bottom/right of its two spatial ``axes`` (H, W)
    up to multiples of ``multiple``: (H, W, C) with the default axes, (B, C, H, W) with
    axes=(2, 3). The unshuffle grid needs H and W divisible by the unshuffle factor."""
    pad = [(0, 0)] * array.ndim
    for axis in axes:
        pad[axis] = (0, -array.shape[axis] % multiple)
    if all(after == 0 for _, after in pad):
        return array
    return np.pad(array, pad, mode="edge")


def to_network_input(rgb):
    """(H, W, 3) float32 -> (1, 3, H, W) float32."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)


def from_network_output(sr):
    """(1, 3, sH, sW) -> (sH, sW, 3)."""
    return sr[0].transpose(1, 2, 0)


def upscale_alpha(alpha, scale, shape):
    """MATLAB-bicubic alpha upscaling, clipped to [0, 1] and cut to ``shape`` (H, W)."""
    from src.data.imresize import imresize
    big = imresize(alpha.astype(np.float64), scale)
    return np.clip(big, 0.0, 1.0)[:shape[0], :shape[1]].astype(np.float32)


def assemble_output(sr_rgb, source: DecodedImage, scale, extension):
    """The array to write for network output ``sr_rgb`` (sH, sW, 3) float: grey/alpha/bit
    depth restored as the module docstring says; BGR(A) order for OpenCV."""
    dtype = source.dtype if extension in SIXTEEN_BIT_EXTENSIONS else np.dtype(np.uint8)
    top = MAX_VALUE[np.dtype(dtype)]
    if source.grey:
        planes = [sr_rgb.mean(axis=2)]
    else:
        planes = [sr_rgb[:, :, 2], sr_rgb[:, :, 1], sr_rgb[:, :, 0]]
    if source.alpha is not None and extension not in (".jpg", ".jpeg", ".bmp"):
        planes.append(upscale_alpha(source.alpha, scale, sr_rgb.shape[:2]))
    stacked = np.stack(planes, axis=2) if len(planes) > 1 else np.array(planes[0])
    np.clip(stacked, 0.0, 1.0, out=stacked)          # in place: a 4K x2 plane set is 400 MB
    stacked *= top
    np.round(stacked, out=stacked)
    return stacked.astype(dtype)


# --- writing -----------------------------------------------------------------------------

def write_image(path, array, overwrite=True):
    """Write ``array`` (OpenCV order: BGR(A) or grey) atomically, mode 0666 minus the
    umask; without ``overwrite`` an existing ``path`` is left as it is (OutputExistsError).
    A write failure is one OutputError naming the path; no temporary file is left."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        raise ImageError(f"output '{path}': unknown image extension; use one of "
                         f"{', '.join(IMAGE_EXTENSIONS)}")
    ok, encoded = cv2.imencode(extension, array)
    if not ok:
        raise ImageError(f"OpenCV could not encode '{path}' ({array.dtype}, {array.shape})")
    with output_file(path, overwrite) as tmp:
        encoded.tofile(tmp)
    return path


def write_png(path, img_uint8_rgb, overwrite=True):
    """Write a uint8 HxWx3 RGB (or HxW grey) array as PNG, atomically (write_image)."""
    img = np.asarray(img_uint8_rgb)
    if not str(path).lower().endswith(".png"):
        raise ValueError(f"write_png('{path}'): the name must end in .png")
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"write_png('{path}'): expected a uint8 HxW[x3] array, "
                         f"got {img.dtype} {img.shape}")
    return write_image(path, img[:, :, ::-1] if img.ndim == 3 else img, overwrite)
