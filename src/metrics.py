"""Image-quality metrics for super-resolution, as pure numpy functions.

Conventions (the ones SR papers and BasicSR use):

* Images are (H, W, 3) RGB or (H, W) single-channel arrays on the [0, 255] scale:
  uint8, or float holding values in [0, 255]. Everything is computed in float64.
* Y is ITU-R BT.601 luma of 8-bit studio range, as MATLAB's ``rgb2ycbcr``:
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 255], so
  Y lies in [16, 235]. It is NOT rounded (BasicSR's ``to_y_channel`` convention).
* ``crop_border`` pixels are removed from every side before a metric (paper-style
  numbers use crop_border = scale; the NTIRE 2023 RTSR kit used 0).
* PSNR uses data_range 255 on both RGB and Y: 10 log10(255^2 / MSE), +inf when the
  images are identical.
* SSIM is Wang et al.'s SSIM with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
  K2 = 0.03, L = 255, population (not sample) covariances, averaged over the "valid"
  region where the window lies inside the image; RGB SSIM is the mean of the three
  per-channel SSIMs. This is MATLAB's ``ssim_index`` (filter2 'valid') and BasicSR's
  ``calculate_ssim`` (cv2.filter2D, then a 5-pixel border dropped). We compute it with
  scikit-image's ``structural_similarity``: it filters the whole image (reflect-padded)
  and then averages after dropping (win_size - 1) / 2 = 5 pixels on each side, which is
  exactly that valid region, so no extra crop is needed. tests/test_metrics.py checks
  it against an independent cv2 implementation to ~1e-6.
* NTIRE 2023 RTSR score: see :func:`ntire_score`.
"""
import math

import numpy as np
from skimage.metrics import structural_similarity

from src.config import ConfigError

DATA_RANGE = 255.0
# ITU-R BT.601 luma weights of R, G, B: the project's one luma formula (the training
# sampler's patch texture uses them at full range, 0-255).
BT601_LUMA = np.array([0.299, 0.587, 0.114])
# Studio range (MATLAB rgb2ycbcr): the same weights scaled to 219 levels,
# 65.481 = 219 * 0.299 etc., divided by 255 for inputs in [0, 255].
Y_WEIGHTS = BT601_LUMA * 219 / 255.0
Y_OFFSET = 16.0
# The whole of MATLAB's rgb2ycbcr, the project's one copy: rows Y, Cb, Cr, columns R, G, B,
# for inputs in [0, 255]; the Y row is the luma above, Cb and Cr span 224 levels around 128.
YCBCR_WEIGHTS = np.array([Y_WEIGHTS,
                          np.array([-37.797, -74.203, 112.0]) / 255.0,
                          np.array([112.0, -93.786, -18.214]) / 255.0])
YCBCR_OFFSETS = np.array([Y_OFFSET, 128.0, 128.0])
SSIM_OPTIONS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                    K1=0.01, K2=0.03, data_range=DATA_RANGE)


class MetricError(ConfigError):
    """Images that cannot be measured as given (shapes differ, too small for the border
    crop or the SSIM window, not RGB): they come from the user's folders, so a tool
    reports this in one line (src.evaluate adds the image's name)."""


def rgb_to_y(img):
    """BT.601 luma of an (H, W, 3) RGB image in [0, 255] (uint8 or float).

    Returns float64 (H, W) in [16, 235], not rounded.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise MetricError(f"rgb_to_y expects an (H, W, 3) RGB image, got shape {img.shape}")
    return img.astype(np.float64) @ Y_WEIGHTS + Y_OFFSET


def crop_border(img, border):
    """``img`` without ``border`` pixels on each side (border 0: unchanged).

    Raises MetricError when nothing would remain."""
    border = int(border)
    if border < 0:
        raise MetricError(f"crop_border must be >= 0, got {border}")
    height, width = img.shape[:2]
    if 2 * border >= height or 2 * border >= width:
        raise MetricError(f"crop_border {border} is too large for an image of "
                          f"{height}x{width} (it must leave at least 1 pixel)")
    if border == 0:
        return img
    return img[border:height - border, border:width - border]


def _check_pair(img1, img2):
    img1, img2 = np.asarray(img1), np.asarray(img2)
    if img1.shape != img2.shape:
        raise MetricError(f"images differ in shape: {img1.shape} vs {img2.shape}")
    return img1, img2


def psnr(img1, img2, border=0):
    """PSNR in dB (float64) between two images in [0, 255], data range 255.

    ``border`` pixels are cropped from every side first; +inf for identical images.
    """
    img1, img2 = _check_pair(img1, img2)
    diff = crop_border(img1, border).astype(np.float64) - crop_border(img2, border)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE ** 2 / mse)


def ssim(img1, img2, border=0):
    """SSIM (float) between two images in [0, 255]: (H, W) or (H, W, 3).

    ``border`` pixels are cropped first; RGB is the mean of the per-channel SSIMs; the
    window and constants are those of the module docstring. The cropped image must be
    at least 11x11 (the window).
    """
    img1, img2 = _check_pair(img1, img2)
    img1 = crop_border(img1, border).astype(np.float64)
    img2 = crop_border(img2, border).astype(np.float64)
    if min(img1.shape[:2]) < 11:
        raise MetricError(f"SSIM needs at least 11x11 pixels after cropping, got "
                          f"{img1.shape[0]}x{img1.shape[1]}")
    channel_axis = 2 if img1.ndim == 3 else None
    return float(structural_similarity(img1, img2, channel_axis=channel_axis, **SSIM_OPTIONS))


def image_metrics(sr, hr, border):
    """PSNR and SSIM on Y and on RGB of an (H, W, 3) result against its ground truth.

    Returns {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"} (floats)."""
    sr, hr = _check_pair(sr, hr)
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    return {"psnr_y": psnr(sr_y, hr_y, border), "ssim_y": ssim(sr_y, hr_y, border),
            "psnr_rgb": psnr(sr, hr, border), "ssim_rgb": ssim(sr, hr, border)}


def ntire_score(psnr_model, psnr_bicubic, runtime_ms):
    """NTIRE 2023 Real-Time SR challenge score, as the challenge notebook computes it:

        score = 2 * 2 ** (PSNR - PSNR_bicubic) / (0.1 * sqrt(runtime_ms))

    and 0 when the model does not beat bicubic (PSNR <= PSNR_bicubic). Every 1 dB over
    bicubic doubles the score; 4x the runtime halves it. In the challenge the runtime is
    batch 1, fp16, on the 4K output (input 3840/s x 2160/s); compare scores only when
    measured the same way.
    """
    if runtime_ms <= 0:
        raise ValueError(f"runtime_ms must be > 0, got {runtime_ms}")
    gain = psnr_model - psnr_bicubic
    if not gain > 0:
        return 0.0
    return 2.0 * 2.0 ** gain / (0.1 * math.sqrt(runtime_ms))
