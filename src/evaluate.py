"""Scoring super-resolution output: the metrics of every image of a set against its HR,
for eval.py and the training loop's validation.

    predict = Predictor(open_model(path, cfg), tile)  # src/deploy: .ckpt, .mindir, .onnx
    predict = predictor_for_network(net)              # the same around a network in memory
    rows, mean = evaluate_pairs(predict, pairs, scale, crop_border)

Prediction itself is not here: it is src/deploy/predictor.py over the runners of
src/deploy/runners.py, the stack infer.py uses, so a checkpoint and its exports are
scored by the same code.

Conventions:
* ``pairs``: list of (name, lr, hr) with lr (H, W, 3) uint8 and hr (sH, sW, 3) uint8
  (src.data.dataset.load_eval_pairs builds them: HR mod-cropped to the scale, LR by
  MATLAB-compatible bicubic or read from an LR folder).
* The model sees the whole image (or tiles of it, with whole-image results), batch 1,
  NCHW float32 in [0, 1]. AsConvSR needs H and W divisible by its pixel-unshuffle
  factor u, so the LR is padded at the bottom and right by edge replication to the next
  multiple of u and the output is cropped back to exactly sH x sW. (The control
  module's global average pool then also sees the few replicated rows/columns; for
  u = 2 that is at most one row and one column.)
* The output is rounded as a saved PNG would be: clip to [0, 1], * 255, round, uint8.
* Metrics (src/metrics.py): PSNR/SSIM on Y (BT.601) and RGB after cropping
  ``crop_border`` pixels per side, for the model and for bicubic upscaling of the same
  LR (MATLAB-compatible ``imresize_uint8(lr, scale)``); ``gain_*`` = model - bicubic.
* ``runtime_ms``: the predictor's ``last_forward_ms``, the time inside the model's graphs
  for that image (src/deploy/runners.py: until the device has finished; padding, tiling
  bookkeeping and rounding are not in it); a plain callable is timed by wall clock.
  In PyNative mode it includes Python's per-operator dispatch, several times the
  compiled graph's time for small images. Compilation is excluded: an
  untimed warm-up run precedes the first image and, where the runner compiles per input
  size (MindSpore graph mode, MINDIR), every input size not run before.
* The mean row is the arithmetic mean of the per-image values (the SR-paper
  convention: mean of per-image PSNRs, not PSNR of the mean MSE).
"""
import logging
import os
import time

import numpy as np

from src.config import ConfigError
from src.metrics import MetricError, image_metrics

LOGGER = logging.getLogger("src.data")     # the data loader's: skipped images, one place

SSIM_WINDOW = 11          # src/metrics.py: SSIM needs 11x11 pixels after the border crop

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
BICUBIC_KEYS = tuple(f"bicubic_{key}" for key in METRIC_KEYS)
GAIN_KEYS = ("gain_psnr_y", "gain_psnr_rgb")
ROW_KEYS = METRIC_KEYS + BICUBIC_KEYS + GAIN_KEYS + ("runtime_ms",)


class _BicubicCache:
    """Bicubic metric rows per pair list, so repeated validation computes them once.

    An entry holds its pair list (so ``id`` cannot be reused while cached) and a
    fingerprint of the arrays, so a list changed in place is recomputed."""

    def __init__(self, size=4):
        self.size = size
        self.entries = []

    @staticmethod
    def _key(pairs, scale, border):
        return (scale, border, tuple((name, id(lr), id(hr)) for name, lr, hr in pairs))

    def get(self, pairs, scale, border):
        key = self._key(pairs, scale, border)
        for held, held_key, rows in self.entries:
            if held is pairs and held_key == key:
                return rows
        rows = [bicubic_metrics(lr, hr, scale, border, name) for name, lr, hr in pairs]
        self.entries = ([(pairs, key, rows)] + self.entries)[:self.size]
        return rows


_BICUBIC_CACHE = _BicubicCache()


def bicubic_upscale(lr, scale):
    """MATLAB-compatible bicubic upscaling of an LR uint8 image (the baseline)."""
    from src.data.imresize import imresize_uint8
    return imresize_uint8(lr, scale)


def named_metrics(name, sr, hr, border):
    """image_metrics, with the image's name in a MetricError (a user's image that cannot
    be measured: one line naming it)."""
    try:
        return image_metrics(sr, hr, border)
    except MetricError as err:
        raise MetricError(f"image '{name}': {err}") from None


def bicubic_metrics(lr, hr, scale, border, name="?"):
    """{"bicubic_psnr_y", ...} of bicubic upscaling of ``lr`` against ``hr``."""
    metrics = named_metrics(name, bicubic_upscale(lr, scale), hr, border)
    return {f"bicubic_{key}": value for key, value in metrics.items()}


def mean_row(rows):
    """Arithmetic mean of every ROW_KEYS value over ``rows`` (empty: all NaN)."""
    if not rows:
        return {key: float("nan") for key in ROW_KEYS}
    return {key: float(np.mean([row[key] for row in rows])) for key in ROW_KEYS}


def _timed_predict(predict, lr):
    """(sr, runtime_ms): the predictor's own forward time when it reports one."""
    start = time.perf_counter()
    sr = predict(lr)
    wall_ms = (time.perf_counter() - start) * 1000.0
    forward_ms = getattr(predict, "last_forward_ms", None)
    return sr, (wall_ms if forward_ms is None else forward_ms)


def too_small(hr, crop_border):
    """Why ``hr`` cannot be measured with ``crop_border`` (None: it can)."""
    height, width = hr.shape[:2]
    left_h, left_w = height - 2 * crop_border, width - 2 * crop_border
    if min(left_h, left_w) < SSIM_WINDOW:
        return (f"{width}x{height} is too small: SSIM needs {SSIM_WINDOW}x{SSIM_WINDOW} pixels "
                f"after cropping {crop_border} per side")
    return None


def split_measurable(pairs, crop_border):
    """(pairs that can be measured, [(name, reason)] of those too small)."""
    kept, skipped = [], []
    for pair in pairs:
        reason = too_small(pair[2], crop_border)
        if reason:
            skipped.append((pair[0], reason))
        else:
            kept.append(pair)
    return kept, skipped


def measurable_pairs(pairs, crop_border, folder):
    """The pairs that can be measured with ``crop_border``; each other one is skipped
    with a warning naming it (training validation: a small val image must not stop the
    run at its first validation). ConfigError when none is left."""
    kept, small = split_measurable(pairs, crop_border)
    for name, reason in small:
        LOGGER.warning("skipped val image '%s': %s", name, reason)
    if pairs and not kept:
        raise ConfigError(f"val_dir '{folder}': no image is large enough to measure with "
                          f"crop_border {crop_border} ({small[0][1]}); use larger images or "
                          f"a smaller --val_crop_border")
    return kept


def name_by_file(hr_paths, names):
    """File names for the stems ``names`` of ``hr_paths`` (sorted like them), in order:
    a stem shared by several files (x.png, x.jpg) takes them in turn."""
    files = [os.path.basename(path) for path in hr_paths]
    queues = {}
    for name in files:
        queues.setdefault(os.path.splitext(name)[0], []).append(name)
    result = []
    for name in names:
        queue = queues.get(name)
        result.append(name if name in files or not queue else queue.pop(0))
    return result


def psnr_gain(model, bicubic):
    """PSNR gain in dB; 0 when both are perfect (inf - inf: a flat image both recover
    exactly), so one such image does not make the set's mean gain NaN."""
    return 0.0 if model == bicubic else model - bicubic


def evaluate_pairs(predict, pairs, scale, crop_border, on_image=None, progress=False):
    """Run ``predict`` on every LR of ``pairs`` and measure it against the HR.

    Args:
        predict: lr (H, W, 3) uint8 -> sr (sH, sW, 3) uint8; a deploy Predictor or
            any callable (a plain callable is warmed up once, on the first image, and
            timed by wall clock).
        pairs: [(name, lr_uint8, hr_uint8)]; bicubic rows are cached per list.
        scale: the upscaling factor s. crop_border: pixels cropped per side.
        on_image: optional callable(name, lr, sr, hr, row), e.g. to save the result.
        progress: a tqdm bar per image (on stderr).
    Returns:
        (rows, mean): rows are dicts {"name", *ROW_KEYS}; mean has ROW_KEYS.
    """
    bicubic_rows = _BICUBIC_CACHE.get(pairs, scale, crop_border)
    warm_up = getattr(predict, "warm_up", None)
    rows = []
    from tqdm import tqdm
    bar = tqdm(list(zip(pairs, bicubic_rows)), unit="image", disable=not progress, leave=False)
    for index, ((name, lr, hr), bicubic) in enumerate(bar):
        if warm_up is not None:
            warm_up(lr)
        elif index == 0:
            predict(lr)
        sr, runtime_ms = _timed_predict(predict, lr)
        if sr.shape != hr.shape:
            raise ConfigError(f"'{name}': the model output is {sr.shape} but the HR image is "
                             f"{hr.shape}; the LR must be exactly HR / {scale}")
        row = dict(name=name, **named_metrics(name, sr, hr, crop_border), **bicubic)
        row["gain_psnr_y"] = psnr_gain(row["psnr_y"], row["bicubic_psnr_y"])
        row["gain_psnr_rgb"] = psnr_gain(row["psnr_rgb"], row["bicubic_psnr_rgb"])
        row["runtime_ms"] = runtime_ms
        rows.append(row)
        if on_image is not None:
            on_image(name, lr, sr, hr, row)
    return rows, mean_row(rows)


# ---- reporting: a readable table and a side-by-side comparison image ----

TABLE_COLUMNS = [("PSNR-Y", "psnr_y", "{:.3f}"), ("SSIM-Y", "ssim_y", "{:.4f}"),
                 ("PSNR-RGB", "psnr_rgb", "{:.3f}"), ("SSIM-RGB", "ssim_rgb", "{:.4f}"),
                 ("bic PSNR-Y", "bicubic_psnr_y", "{:.3f}"),
                 ("bic SSIM-Y", "bicubic_ssim_y", "{:.4f}"),
                 ("bic PSNR-RGB", "bicubic_psnr_rgb", "{:.3f}"),
                 ("bic SSIM-RGB", "bicubic_ssim_rgb", "{:.4f}"),
                 ("gain-Y dB", "gain_psnr_y", "{:+.3f}"), ("ms", "runtime_ms", "{:.1f}")]


def describe_skipped(item):
    """'name: reason' for a (name, reason) pair, else the item as text."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return f"{item[0]}: {item[1]}"
    return str(item)


def format_table(title, rows, mean, skipped=()):
    """Fixed-width text table: one line per image, then the mean, then what was skipped."""
    name_width = min(28, max([len("image")] + [len(row["name"]) for row in rows]))
    widths = [max(len(header), 8) for header, _, _ in TABLE_COLUMNS]
    header = f"{'image':<{name_width}}  " + "  ".join(
        f"{h:>{w}}" for (h, _, _), w in zip(TABLE_COLUMNS, widths))

    def line(name, values):
        cells = [fmt.format(values[key]) for _, key, fmt in TABLE_COLUMNS]
        return f"{name[:name_width]:<{name_width}}  " + "  ".join(
            f"{c:>{w}}" for c, w in zip(cells, widths))

    lines = [f"== {title}: {len(rows)} images evaluated, {len(skipped)} skipped", header,
             "-" * len(header)]
    lines += [line(row["name"], row) for row in rows]
    lines += ["-" * len(header), line("mean", mean)]
    if skipped:
        lines.append(f"skipped (unreadable or too small; the warnings above say why): "
                     f"{', '.join(describe_skipped(item) for item in skipped)}")
    return "\n".join(lines)


def detail_window(hr, size):
    """(y, x) of the size x size HR window with the most gradient energy (most detail),
    searched on a grid of stride size // 2."""
    y_channel = hr.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(y_channel, axis=0))[:, :-1] + np.abs(np.diff(y_channel, axis=1))[:-1]
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    height, width = energy.shape
    size = min(size, height, width)
    stride = max(1, size // 2)
    best, where = -1.0, (0, 0)
    for y in list(range(0, height - size + 1, stride)) + [height - size]:
        for x in list(range(0, width - size + 1, stride)) + [width - size]:
            total = (integral[y + size, x + size] - integral[y, x + size]
                     - integral[y + size, x] + integral[y, x])
            if total > best:
                best, where = total, (y, x)
    return where


def _labelled(panel, text, strip=24):
    """``panel`` (RGB uint8) with ``text`` on a dark strip above it."""
    import cv2
    label = np.full((strip, panel.shape[1], 3), 32, np.uint8)
    cv2.putText(label, text, (6, strip - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([label, panel], axis=0)


def comparison_image(name, bicubic, sr, hr, row, crop=120, panel=360, gap=4):
    """One RGB uint8 image: the same HR-sized crop of bicubic | AsConvSR | HR side by
    side, zoomed by nearest neighbour (an integer factor, so pixels stay visible), each
    labelled with its whole-image PSNR-Y; a title line names the image and the crop."""
    y, x = detail_window(hr, crop)
    size = min(crop, hr.shape[0] - 1, hr.shape[1] - 1)
    zoom = max(1, panel // size)

    def zoomed(img):
        return np.repeat(np.repeat(img[y:y + size, x:x + size], zoom, axis=0), zoom, axis=1)

    panels = [_labelled(zoomed(bicubic), f"bicubic  {row['bicubic_psnr_y']:.2f} dB"),
              _labelled(zoomed(sr), f"AsConvSR  {row['psnr_y']:.2f} dB"),
              _labelled(zoomed(hr), "HR (ground truth)")]
    spacer = np.full((panels[0].shape[0], gap, 3), 255, np.uint8)
    body = np.concatenate([panels[0], spacer, panels[1], spacer, panels[2]], axis=1)
    title = (f"{name}: crop {size}x{size} at (x={x}, y={y}), x{zoom} nearest; "
             f"PSNR-Y of the whole image")
    return _labelled(body, title)
