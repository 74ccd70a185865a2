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

``clean_prob`` (challenge and mixed): the probability that a training sample keeps the
clean LR patch (MATLAB bicubic; with mixed and an LR folder, the folder's image) instead
of the degraded one, so a degraded run still sees clean inputs. Real-ESRGAN's convention of a probability per
degradation step (its ``*_prob`` keys), here for the whole degradation. The choice is
one draw from the sample's generator, made only when clean_prob > 0 (see
:meth:`Degradation.draw_clean`), so runs without it keep their sample streams.

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


def check_clean_prob(kind, value):
    """``clean_prob`` as a float in [0, 1], and 0 with ``bicubic`` (whose patches are all
    clean already, so a value there is a mistake, not a no-op); ConfigError naming it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"config key 'clean_prob' expects a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"config key 'clean_prob' must be in [0, 1], got {value!r}")
    if value > 0 and kind == "bicubic":
        raise ConfigError(f"config key 'clean_prob' ({value:g}) mixes clean patches into a "
                          f"degraded run, but degradation 'bicubic' is clean already; pass "
                          f"--degradation challenge or mixed, or leave clean_prob at 0")
    return float(value)


@dataclass(frozen=True)
class Degradation:
    kind: str = "bicubic"
    jpeg_quality: tuple = (30.0, 100.0)   # mixed: JPEG quality drawn from this range
    blur_sigma: tuple = (0.0, 0.0)        # mixed: Gaussian blur sigma range, LR pixels
    noise_sigma: tuple = (0.0, 0.0)       # mixed: Gaussian noise sigma range, 0-255
    clean_prob: float = 0.0               # challenge, mixed: chance a sample stays clean

    def __post_init__(self):
        # Checked here, not only in from_config: Degradation("bicubic", clean_prob=0.5)
        # would otherwise spend a draw per sample on a choice between two equal patches.
        object.__setattr__(self, "clean_prob", check_clean_prob(self.kind, self.clean_prob))

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
                   check_range("mixed_noise_sigma", cfg["mixed_noise_sigma"], 0, 50),
                   cfg["clean_prob"])

    @property
    def keeps_clean_images(self):
        """Whether a sampler must hold each photo's clean LR beside the one
        :meth:`whole_image` makes: challenge with clean_prob > 0 only. (mixed degrades
        per patch, so the LR it holds is the clean one; clean_prob 0 never needs it, and
        not holding it saves a quarter of the HR's memory at x2.)"""
        return self.kind == "challenge" and self.clean_prob > 0

    def draw_clean(self, rng):
        """Whether this sample keeps its clean LR patch, with probability clean_prob.
        Draws one number from ``rng`` only when clean_prob > 0, so the sample streams of
        runs without the key are unchanged."""
        return self.clean_prob > 0 and bool(rng.random() < self.clean_prob)

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
