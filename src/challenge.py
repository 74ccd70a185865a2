"""The NTIRE 2023 Real-Time Super-Resolution challenge's protocol (track 1: x2, 1080p -> 4K).

From the challenge kit (github.com/eduardzamfir/NTIRE23-RTSR):
- LR (demo/prepare_data.py): Pillow bicubic downscaling of the HR, saved as JPEG
  quality 90 -- src/data/degrade.py ``challenge_lr``.
- Metrics (demo/calc_metrics.py): PSNR and SSIM on RGB and on Y with crop_border 0.
- Score (demo/calc_scoring.ipynb): src/metrics.py ``ntire_score``; the final ranking uses
  RGB PSNR.
- Runtime: batch 1 at the 4K output size (input 3840/s x 2160/s), after a warm-up, the
  mean of many timed runs (the kit: fp16 on an RTX 3090, CUDA events).

Our bicubic baseline is MATLAB-compatible bicubic upscaling of the same LR (as for every
eval.py row); the kit's notebook takes the bicubic PSNR of its own test set as a number.
"""
import time

import numpy as np

from src.config import ConfigError
from src.metrics import ntire_score

CROP_BORDER = 0
OUTPUT_SIZE = (2160, 3840)        # (height, width) of the 4K output
TIMING_WARM_UP_RUNS = 3


def challenge_input_shape(scale):
    """(height, width) of the LR input whose x``scale`` output is 4K (1080 x 1920 at x2)."""
    height, width = OUTPUT_SIZE
    return height // scale, width // scale


def check_runtime_runs(runs):
    """ConfigError unless ``runs`` (--runtime_runs) is at least 1."""
    if runs < 1:
        raise ConfigError(f"--runtime_runs must be >= 1, got {runs}")


def measure_runtime_ms(predict, scale, runs=10, seed=0):
    """Mean forward time (ms, ``predict.last_forward_ms``) of ``runs`` batch-1 runs at the
    challenge's input size after TIMING_WARM_UP_RUNS untimed ones, on the current device."""
    check_runtime_runs(runs)
    height, width = challenge_input_shape(scale)
    lr = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    for _ in range(TIMING_WARM_UP_RUNS):
        predict(lr)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(lr)
        fallback = (time.perf_counter() - start) * 1000.0
        times.append(getattr(predict, "last_forward_ms", None) or fallback)
    return float(np.mean(times))


def parse_runtime(text):
    """``--runtime_ms``: a number of milliseconds (e.g. the 3.19 of a GPU measurement made
    elsewhere), or ``measure`` to time the model here. Returns a float or None (measure)."""
    if text is None or text == "measure":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--runtime_ms must be a number of milliseconds or 'measure', "
                          f"got '{text}'") from None
    if not 0 < value < float("inf"):        # inf would score every model 0
        raise ConfigError(f"--runtime_ms must be a finite number > 0, got {text}")
    return value


def score_block(mean, runtime_ms, runtime_source):
    """The challenge figures of one set from its mean metric row: the score on RGB PSNR
    (the kit's ranking) and, for reference, on Y."""
    return {"runtime_ms": runtime_ms, "runtime_source": runtime_source,
            "score_rgb": ntire_score(mean["psnr_rgb"], mean["bicubic_psnr_rgb"], runtime_ms),
            "score_y": ntire_score(mean["psnr_y"], mean["bicubic_psnr_y"], runtime_ms)}


def format_score(block, mean):
    """One line under a set's table."""
    return (f"NTIRE 2023 RTSR score {block['score_rgb']:.2f} (RGB {mean['psnr_rgb']:.3f} dB vs "
            f"bicubic {mean['bicubic_psnr_rgb']:.3f}, {block['runtime_ms']:.2f} ms "
            f"{block['runtime_source']}); on Y {block['score_y']:.2f}")
