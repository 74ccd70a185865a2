"""Training degradations: how the LR side of a training pair is made from its HR.

Three kinds, the config key ``degradation``:

* ``bicubic`` -- MATLAB-compatible bicubic x1/s of the HR (``imresize_uint8``), the
  SR papers' convention and our default. One clean degradation: a per-image kernel
  has little to adapt to.
* ``challenge`` -- the NTIRE 2023 RTSR kit's LR (its ``demo/prepare_data.py``): Pillow
  bicubic x1/s, then a JPEG quality-90 round trip through Pillow. Made once per image.
* ``mixed`` -- clean bicubic LR, then per patch, with parameters drawn from the
  sample's own generator (so a run stays a pure function of (seed, sample index)):
  a Gaussian blur of sigma ~ U(mixed_blur_sigma), Gaussian noise of sigma ~
  U(mixed_noise_sigma) in 0-255 units, and a JPEG round trip at quality ~
  U{mixed_jpeg_quality}. The order is Real-ESRGAN's (blur, noise, JPEG). A range
  [0, 0] turns that step off; a JPEG range whose upper end is 100 still compresses.

Everything works on uint8 RGB H x W x 3 arrays.
"""
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from src.config import ConfigError

DEGRADATIONS = ("bicubic", "challenge", "mixed")
CHALLENGE_JPEG_QUALITY = 90


def jpeg_round_trip(rgb, quality):
    """Encode uint8 RGB as a Pillow JPEG of ``quality`` and decode it again."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def pil_bicubic_downscale(hr, scale):
    """Pillow's bicubic resize of uint8 RGB to (W // s, H // s), as the kit does."""
    height, width = hr.shape[:2]
    image = Image.fromarray(hr).resize((width // scale, height // scale), Image.BICUBIC)
    return np.asarray(image)


def challenge_lr(hr, scale):
    """The NTIRE 2023 RTSR LR of one HR image: Pillow bicubic, then JPEG quality 90."""
    return jpeg_round_trip(pil_bicubic_downscale(hr, scale), CHALLENGE_JPEG_QUALITY)


def check_range(key, values, low, high):
    """A [min, max] config list within [low, high]; ConfigError naming the key."""
    if (not isinstance(values, (list, tuple)) or len(values) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        raise ConfigError(f"config key '{key}' expects a list [min, max], got {values!r}")
    first, last = float(values[0]), float(values[1])
    if not low <= first <= last <= high:
        raise ConfigError(f"config key '{key}' needs {low:g} <= min <= max <= {high:g}, "
                          f"got {list(values)}")
    return first, last


@dataclass(frozen=True)
class Degradation:
    kind: str = "bicubic"
    jpeg_quality: tuple = (30.0, 100.0)   # mixed: JPEG quality drawn from this range
    blur_sigma: tuple = (0.0, 0.0)        # mixed: Gaussian blur sigma range, LR pixels
    noise_sigma: tuple = (0.0, 0.0)       # mixed: Gaussian noise sigma range, 0-255

    @classmethod
    def from_config(cls, cfg):
        """The degradation the config keys describe; ConfigError for bad values."""
        kind = cfg["degradation"]
        if kind not in DEGRADATIONS:
            raise ConfigError(f"config key 'degradation' must be one of {list(DEGRADATIONS)}, "
                              f"got {kind!r}")
        return cls(kind,
                   check_range("mixed_jpeg_quality", cfg["mixed_jpeg_quality"], 1, 100),
                   check_range("mixed_blur_sigma", cfg["mixed_blur_sigma"], 0, 10),
                   check_range("mixed_noise_sigma", cfg["mixed_noise_sigma"], 0, 50))

    def whole_image(self, hr, scale):
        """The LR image a patch is cut from, or None for MATLAB bicubic (the caller's
        default, which it may have read from an LR folder instead)."""
        return challenge_lr(hr, scale) if self.kind == "challenge" else None

    def patch(self, lr, rng):
        """Per-patch degradation of an LR patch (mixed only); draws from ``rng`` only
        when mixed, so the other kinds' sample streams are unchanged."""
        if self.kind != "mixed":
            return lr
        blur, noise, quality = rng.random(3)
        sigma = self.blur_sigma[0] + blur * (self.blur_sigma[1] - self.blur_sigma[0])
        out = lr
        if sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
        noise_sigma = self.noise_sigma[0] + noise * (self.noise_sigma[1] - self.noise_sigma[0])
        if noise_sigma > 0:
            noisy = out.astype(np.float32) + rng.normal(0.0, noise_sigma, out.shape)
            out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        low, high = self.jpeg_quality
        level = int(np.floor(low + quality * (high - low + 1)))
        return jpeg_round_trip(np.ascontiguousarray(out), min(level, int(high)))
