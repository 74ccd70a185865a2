"""Training and evaluation data: deterministic endless patch batches, whole-image pairs.

Conventions
-----------
* Arrays: uint8 RGB HxWx3 in memory; batches are float32 NCHW in [0, 1]:
  ``lr`` (B, 3, p, p) and ``hr`` (B, 3, s*p, s*p).
* HR images are mod-cropped to the scale (bottom/right rows and columns dropped
  so H and W are multiples of s). LR is MATLAB bicubic (``imresize_uint8``, x1/s)
  of the mod-cropped HR, or read from ``lr_dir``.
* Determinism: the sample with global index k is a pure function of (seed, k):
  image, crop position and augmentation are drawn from
  ``np.random.default_rng([seed, k])``. Iteration t's global batch is samples
  [t*B*G, (t+1)*B*G) (B = per-device batch, G = group size); rank r takes
  t*B*G + r*B ... + B - 1. A run resumed at ``start_iteration`` sees exactly the
  batches an uninterrupted run sees, and one process with batch B*G sees the
  union of the G ranks' batches in rank order.
* Every LR-aligned patch of every image is equally likely: one uniform draw over
  all (image, top, left) positions, so an image is picked in proportion to its
  number of patch positions (about its area). With equal-size images (DIV2K) this
  is the usual "uniform image, uniform crop"; with our mixed sizes it keeps small
  640x480 samples from being oversampled 10x per pixel.
* Flat-patch redraw (``min_texture > 0``, off by default as in the paper): a patch
  whose texture (:func:`patch_texture`) is below ``min_texture`` is redrawn from the
  same per-sample generator, up to ``MAX_PATCH_DRAWS`` draws (the last draw is kept,
  so an all-flat image still trains). Still a pure function of (seed, k).
* Augmentation (``augment=True``): horizontal flip, vertical flip, transpose, each
  with probability 1/2, identical on LR and HR (8 dihedral variants). The draws
  happen even when ``augment=False``, so crops do not depend on that switch.
* Degradation (src/data/degrade.py): after the flip draws, with ``clean_prob`` > 0
  only, one draw chooses the clean or the degraded LR patch; then ``mixed`` draws its
  per-patch parameters, for a degraded patch only (a clean one skips ``patch()``).
* Bad files are skipped with a one-line warning at construction (logger
  ``src.data``); nothing can fail later inside a dataset worker.
"""
import collections
import itertools
import logging
import os
import queue
import re
import shutil
import sys
import threading
import time
import weakref

import numpy as np

from src.config import ConfigError
from src.data.degrade import Degradation
from src.data.imresize import imresize_uint8
from src.images import (IMAGE_EXTENSIONS, ImageError, list_images, orientation_of, read_rgb,
                        unusable)
from src.metrics import BT601_LUMA

LOGGER = logging.getLogger("src.data")
MAX_PATCH_DRAWS = 10               # flat-patch redraws per sample (min_texture > 0)
LUMA_WEIGHTS = BT601_LUMA.astype(np.float32)        # float32: the texture is float32 math


def mod_crop(img, scale):
    """Drop bottom/right pixels so height and width are multiples of ``scale``."""
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


def check_scale(scale):
    """Integer scale >= 1 (training crops need an integer LR/HR grid)."""
    if int(scale) != scale or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale}")
    return int(scale)


def augment_pair(lr, hr, hflip, vflip, transpose):
    """Apply the same flips/transpose to LR and HR (HWC arrays)."""
    if hflip:
        lr, hr = lr[:, ::-1], hr[:, ::-1]
    if vflip:
        lr, hr = lr[::-1], hr[::-1]
    if transpose:
        lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
    return lr, hr


def stack_nchw_float(patches_uint8):
    """uint8 HWC patches (views into the images) -> one float32 (B, C, H, W) batch in
    [0, 1]: each patch cast straight into the batch, then one in-place division. The
    same numbers as stacking per-patch ``/ 255.0`` copies, without the copies."""
    height, width, channels = patches_uint8[0].shape
    batch = np.empty((len(patches_uint8), channels, height, width), dtype=np.float32)
    for index, patch in enumerate(patches_uint8):
        batch[index] = patch.transpose(2, 0, 1)
    batch /= 255.0
    return batch


def lr_grid_luma(hr, scale):
    """float32 BT.601 luma (0-255) of an HR uint8 RGB array at every ``scale``-th pixel."""
    # Element-wise, not a BLAS matmul: a matmul's kernel (and its last float bit) depends
    # on the array's size and alignment, so a patch's luma would differ from the same
    # pixels of the whole image's luma on some machines.
    grid = hr[::scale, ::scale].astype(np.float32)
    return (grid[..., 0] * LUMA_WEIGHTS[0] + grid[..., 1] * LUMA_WEIGHTS[1]
            + grid[..., 2] * LUMA_WEIGHTS[2])


def luma_texture(luma):
    """Mean absolute difference between neighbouring pixels of a luma patch."""
    return 0.5 * float(np.abs(np.diff(luma, axis=0)).mean() + np.abs(np.diff(luma, axis=1)).mean())


def patch_texture(hr_patch, scale):
    """Mean absolute difference between neighbouring luma pixels (0-255 units) of an
    HR uint8 RGB patch seen at LR resolution (every ``scale``-th pixel): ~0 on sky or
    bokeh, ~10 on the median val-photo patch. Cheap (no resize), any scale."""
    return luma_texture(lr_grid_luma(hr_patch, scale))


class PatchSampler:
    """The pure function sample k -> (lr uint8 p x p x 3, hr uint8 sp x sp x 3).

    ``hr_images``: mod-cropped uint8 RGB arrays; ``lr_images``: matching LR arrays
    (H/s x W/s) or None to make them here (MATLAB bicubic, or the degradation's
    whole-image LR). ``min_texture``: redraw patches flatter than this (see the module
    docstring); 0 = uniform. Each image is (HR, LR, luma or None, clean LR or None):
    the clean LR is held only when the degradation needs it (challenge with clean_prob
    > 0); otherwise the LR itself is the clean one or none is ever used.
    :meth:`from_files` builds the same function over files read when a sample needs
    them (DF2K-scale sets): the same patches for the same seed.
    """

    def __init__(self, hr_images, lr_images, scale, lr_patch_size, seed, augment=True,
                 min_texture=0.0, degradation=None):
        self._configure(scale, lr_patch_size, seed, augment, min_texture, degradation)
        # Without LR files each image is downscaled once, here: a few seconds at start-up
        # instead of a bicubic pass per patch, which cost 20% of a CPU training step.
        self.files, self.cache = None, None
        self.hr_images = hr_images
        self.lr_images = (lr_images if lr_images is not None
                          else [self.make_lr(hr, scale) for hr in hr_images])
        self.clean_lr_images = ([self.make_clean_lr(hr) for hr in hr_images]
                                if self.degradation.keeps_clean_images else None)
        # The texture test reads crops of each image's luma, computed once: the same
        # numbers as patch_texture(hr_patch) (tests/test_data.py checks) at a third of
        # its cost (25 against 86 us at LR patch 128), paid for every redraw.
        self.luma = ([lr_grid_luma(hr, scale) for hr in hr_images] if self.min_texture > 0
                     else None)
        self._index_positions([hr.shape[:2] for hr in hr_images])

    @classmethod
    def from_files(cls, files, cache, scale, lr_patch_size, seed, augment=True,
                   min_texture=0.0, degradation=None):
        """The sampler over :class:`TrainingFiles` ``files``: an image (its HR, its LR
        read or made, its luma) is decoded when a sample needs it and kept in ``cache``
        (an :class:`ImageCache`)."""
        sampler = cls.__new__(cls)
        sampler._configure(scale, lr_patch_size, seed, augment, min_texture, degradation)
        sampler.files, sampler.cache = files, cache
        sampler.hr_images = sampler.lr_images = sampler.luma = sampler.clean_lr_images = None
        sampler._index_positions(files.shapes)
        return sampler

    def _configure(self, scale, lr_patch_size, seed, augment, min_texture, degradation):
        self.degradation = degradation or Degradation()
        self.scale, self.patch, self.seed, self.augment = scale, lr_patch_size, seed, augment
        self.min_texture = float(min_texture)

    def _index_positions(self, shapes):
        """Patch positions of every image, numbered image after image ((h, w) HR sizes)."""
        s, p = self.scale, self.patch
        self.columns = [w // s - p + 1 for _, w in shapes]
        rows = [h // s - p + 1 for h, _ in shapes]
        self.first_position = np.cumsum([0] + [r * c for r, c in zip(rows, self.columns)])

    def make_lr(self, hr, scale):
        """The whole LR image patches are cut from (src/data/degrade.py)."""
        lr = self.degradation.whole_image(hr, scale)
        return self.make_clean_lr(hr) if lr is None else lr

    def make_clean_lr(self, hr):
        """MATLAB bicubic of ``hr``: the clean partner of a challenge LR (clean_prob)."""
        return imresize_uint8(hr, 1.0 / self.scale)

    def image(self, index):
        """(HR, LR, luma or None, clean LR or None) of image ``index``: from memory, or
        from the cache."""
        if self.files is None:
            return (self.hr_images[index], self.lr_images[index],
                    item_or_none(self.luma, index), item_or_none(self.clean_lr_images, index))
        return self.cache.get(index, lambda: self.load(index))

    def load(self, index):
        """Decode image ``index`` of the files as load_training_images would."""
        hr_path, lr_path = self.files.paths[index]
        hr = np.ascontiguousarray(mod_crop(read_rgb(hr_path, quiet=True), self.scale))
        lr = (read_lr(lr_path, hr_path, hr.shape, self.scale) if lr_path
              else self.make_lr(hr, self.scale))
        luma = lr_grid_luma(hr, self.scale) if self.min_texture > 0 else None
        clean_lr = self.make_clean_lr(hr) if self.degradation.keeps_clean_images else None
        return hr, lr, luma, clean_lr

    def locate(self, position):
        """Global patch position -> (image index, LR top, LR left)."""
        index = int(np.searchsorted(self.first_position, position, side="right")) - 1
        top, left = divmod(int(position - self.first_position[index]), self.columns[index])
        return index, top, left

    def draw_position(self, rng):
        """(image index, LR top, LR left, HR patch view): uniform over all positions,
        redrawn while the patch is flatter than ``min_texture``."""
        s, p = self.scale, self.patch
        for _ in range(MAX_PATCH_DRAWS if self.min_texture > 0 else 1):
            index, top, left = self.locate(rng.integers(self.first_position[-1]))
            full_hr, _, luma, _ = self.image(index)
            hr = full_hr[top * s:(top + p) * s, left * s:(left + p) * s]
            if self.min_texture <= 0:
                break
            if luma_texture(luma[top:top + p, left:left + p]) >= self.min_texture:
                break
        return index, top, left, hr

    def __call__(self, k):
        rng = np.random.default_rng([self.seed, k])
        index, top, left, hr = self.draw_position(rng)
        hflip, vflip, transpose = (rng.random(3) < 0.5).tolist()
        lr = self.lr_patch(index, top, left, rng)
        if self.augment:
            lr, hr = augment_pair(lr, hr, hflip, vflip, transpose)
        return lr, hr

    def lr_patch(self, index, top, left, rng):
        """The LR patch at (top, left) of image ``index``, before augmentation: the
        degraded one, or with probability clean_prob the clean one. Draws (after the
        crop's and the flips'): the clean/degraded choice, only when clean_prob > 0;
        then mixed's per-patch parameters, only for a degraded patch."""
        p = self.patch
        _, lr, _, clean_lr = self.image(index)
        if self.degradation.draw_clean(rng):
            # challenge holds its clean LR apart; mixed's LR is clean until patch()
            clean = lr if clean_lr is None else clean_lr
            return clean[top:top + p, left:left + p]
        return self.degradation.patch(lr[top:top + p, left:left + p], rng)


def item_or_none(items, index):
    """``items[index]``, or None when the sampler does not hold that list at all."""
    return None if items is None else items[index]


class ImageCache:
    """Least-recently-used decoded images within ``max_mb`` megabytes (the newest image
    is kept even when it alone is larger). Thread-safe: dataset thread workers share it;
    worker processes each hold their own."""

    def __init__(self, max_mb):
        self.max_bytes = float(max_mb) * 2 ** 20
        self.items = collections.OrderedDict()       # index -> tuple of arrays
        self.bytes = 0
        self.lock = threading.Lock()
        self.loads = 0                               # decodes so far (cache misses)

    def get(self, key, load):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = load()                    # outside the lock: other threads keep going
        size = sum(a.nbytes for a in value if a is not None)
        with self.lock:
            self.loads += 1
            if key not in self.items:
                self.items[key] = value
                self.bytes += size
            while self.bytes > self.max_bytes and len(self.items) > 1:
                _, old = self.items.popitem(last=False)
                self.bytes -= sum(a.nbytes for a in old if a is not None)
        return value


class BatchIndices:
    """Endless iterable source: this rank's batch numbers 0, 1, 2, ... as int64
    scalars (the heavy work happens in :class:`BatchMaker`, a parallel map)."""

    def __iter__(self):
        for i in itertools.count():
            yield (np.array(i, dtype=np.int64),)


class BatchMaker:
    """Batch number i of this rank -> (lr, hr) float32 NCHW; i counts from
    ``start_iteration`` (see module docstring for the global sample indices)."""

    def __init__(self, sampler, batch_size, rank, group_size, start_iteration):
        self.sampler, self.batch_size = sampler, batch_size
        self.rank, self.group_size, self.start = rank, group_size, start_iteration
        self.work = [0.0, 0]      # seconds spent making batches, batches made (this process)

    def sample_indices(self, i):
        """Global sample indices of this rank's batch i."""
        first = ((self.start + i) * self.group_size + self.rank) * self.batch_size
        return range(first, first + self.batch_size)

    def __call__(self, i):
        started = time.perf_counter()
        lr, hr = zip(*(self.sampler(k) for k in self.sample_indices(int(i))))
        batch = stack_nchw_float(lr), stack_nchw_float(hr)
        self.work[0] += time.perf_counter() - started
        self.work[1] += 1
        return batch

    def samples_per_second(self):
        """Samples per second of making work since the last call (None before a batch)."""
        seconds, made = self.work
        self.work = [0.0, 0]
        return made * self.batch_size / seconds if made and seconds > 0 else None


def resolve_lr_dir(lr_dir, scale):
    """The folder holding the LR files: ``lr_dir/X{s}`` when it exists (DIV2K's
    ``..._LR_bicubic`` parent), else ``lr_dir`` itself."""
    if not os.path.isdir(lr_dir):
        raise ConfigError(f"LR folder '{lr_dir}' does not exist; run scripts/make_lr.py "
                          f"or leave lr_dir empty to make LR at start-up")
    nested = os.path.join(lr_dir, f"X{scale}")
    return nested if os.path.isdir(nested) else lr_dir


def index_lr_files(lr_folder):
    """{file stem: path} of the images in ``lr_folder``."""
    return {os.path.splitext(name)[0]: os.path.join(lr_folder, name)
            for name in sorted(os.listdir(lr_folder))
            if name.lower().endswith(IMAGE_EXTENSIONS)}


# The LR file's stem for an HR stem; fields {stem} (the HR stem), {base} and {sub} (the
# stem without and with BasicSR's sub-image suffix _sNNN) and {scale}. The default pairs
# DIV2K's 0001.png -> 0001x2.png and BasicSR's sub-images 0001_s001.png -> 0001x2_s001.png.
LR_NAME_TEMPLATE = "{base}x{scale}{sub}"
SUB_IMAGE = re.compile(r"^(?P<base>.+?)(?P<sub>_s\d+)$")


def lr_stem(hr_stem, scale, template=LR_NAME_TEMPLATE):
    """The LR stem ``template`` names for ``hr_stem`` (ConfigError for a bad template)."""
    match = SUB_IMAGE.match(hr_stem)
    base, sub = (match["base"], match["sub"]) if match else (hr_stem, "")
    try:
        return template.format(stem=hr_stem, base=base, sub=sub, scale=scale)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"config key 'lr_name_template' {template!r} is not a template of "
                          f"{{stem}}, {{base}}, {{sub}} and {{scale}} ({err!r})") from None


def find_lr_path(lr_files, lr_folder, hr_path, scale, template=LR_NAME_TEMPLATE):
    """The LR partner of ``hr_path`` in ``lr_files`` (:func:`index_lr_files`): the stem
    ``template`` names, else the HR's own stem. ImageError when there is none."""
    stem = os.path.splitext(os.path.basename(hr_path))[0]
    wanted = lr_stem(stem, scale, template)
    lr_path = lr_files.get(wanted) or lr_files.get(stem)
    if lr_path is None:
        raise unusable(hr_path, f"no LR partner '{wanted}.png' in '{lr_folder}'",
                       "add it (scripts/make_lr.py), fix --lr_name_template or remove the "
                       "HR file")
    return lr_path


def check_lr_size(lr_path, lr_hw, hr_path, hr_hw, scale):
    """ConfigError unless the LR (H, W) is the HR's / scale, rounded down or up."""
    floor_hw = (hr_hw[0] // scale, hr_hw[1] // scale)
    ceil_hw = (-(-hr_hw[0] // scale), -(-hr_hw[1] // scale))
    if tuple(lr_hw) not in (floor_hw, ceil_hw):
        raise ConfigError(f"LR '{lr_path}' is {lr_hw[1]}x{lr_hw[0]} (WxH) but HR "
                          f"'{hr_path}' is {hr_hw[1]}x{hr_hw[0]}: expected "
                          f"{floor_hw[1]}x{floor_hw[0]} at scale {scale}; check --scale "
                          f"and the LR folder")
    return floor_hw


def read_lr(lr_path, hr_path, hr_shape, scale):
    """The LR image at ``lr_path``, cut to the mod-cropped HR / scale (``hr_shape``:
    the HR size before or after mod-crop)."""
    lr = read_rgb(lr_path)
    floor_hw = check_lr_size(lr_path, lr.shape[:2], hr_path, hr_shape[:2], scale)
    return np.ascontiguousarray(lr[:floor_hw[0], :floor_hw[1]])


def read_pair(hr_path, lr_path, lr_error, scale):
    """(hr, lr or None) of an HR file and its LR partner (None: made from the HR later);
    ``lr_error``: why the partner is missing, raised here so the caller skips the pair."""
    if lr_error is not None:
        raise lr_error
    hr = read_rgb(hr_path)
    return hr, (read_lr(lr_path, hr_path, hr.shape, scale) if lr_path else None)


def with_lr_partners(paths, lr_dir, scale, template=LR_NAME_TEMPLATE):
    """[(hr_path, lr_path or None, ImageError or None)] for HR ``paths``: each with its
    partner in ``lr_dir`` (None: no LR folder), or the error a missing partner is."""
    if not lr_dir:
        return [(path, None, None) for path in paths]
    lr_folder = resolve_lr_dir(lr_dir, scale)
    lr_files = index_lr_files(lr_folder)
    sources = []
    for path in paths:
        try:
            sources.append((path, find_lr_path(lr_files, lr_folder, path, scale, template),
                            None))
        except ImageError as err:
            sources.append((path, None, err))
    return sources


def split_folders(value):
    """Training folders from a comma list ('A,B'), a list, or '' / None (none)."""
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def folder_pairs(hr_dirs, lr_dirs, keys=("train_dir", "train_lr_dir")):
    """[(hr_dir, lr_dir or None)]: one LR folder per HR folder, or none at all; ``keys``
    names the two config keys in the errors."""
    hr_key, lr_key = keys
    hr_dirs, lr_dirs = split_folders(hr_dirs), split_folders(lr_dirs)
    if not hr_dirs:
        raise ConfigError(f"{hr_key} is empty; pass --{hr_key} FOLDER[,FOLDER...]")
    if lr_dirs and len(lr_dirs) != len(hr_dirs):
        raise ConfigError(f"{lr_key} names {len(lr_dirs)} folder(s) for {len(hr_dirs)} "
                          f"{hr_key} folder(s); give one LR folder per HR folder, in order, "
                          f"or none")
    return list(zip(hr_dirs, lr_dirs or [None] * len(hr_dirs)))


def training_candidates(hr_dirs, scale, lr_dirs=None, template=LR_NAME_TEMPLATE):
    """[(hr_path, lr_path or None, lr_error or None)] of every image in the folders,
    in folder order then file order; an LR partner that is missing is an ImageError
    to report when the image is skipped."""
    candidates = []
    for hr_dir, lr_dir in folder_pairs(hr_dirs, lr_dirs):
        candidates += with_lr_partners(list_images(hr_dir, flag="--train_dir"), lr_dir, scale,
                                       template)
    return candidates


def too_small_reason(hr_hw, scale, lr_patch_size):
    """Why a mod-cropped HR image of (H, W) ``hr_hw`` cannot give an HR patch, or None."""
    need = scale * lr_patch_size
    if hr_hw[0] >= need and hr_hw[1] >= need:
        return None
    return (f"{hr_hw[1]}x{hr_hw[0]} (after mod-crop to scale {scale}) is smaller "
            f"than the HR patch {need}x{need}")


def warn_too_small(path, reason):
    LOGGER.warning("skipped '%s': %s; use a smaller lr_patch_size or remove it", path, reason)


def none_usable(hr_dir, count):
    return ConfigError(f"no usable training image in '{hr_dir}': all {count} files were "
                       f"skipped (see the warnings above); run scripts/prepare_data.sh or "
                       f"pass another --train_dir")


def load_training_images(hr_dir, scale, lr_patch_size, lr_dir=None,
                         lr_name_template=LR_NAME_TEMPLATE):
    """Read every usable HR image (and LR partner) once. ``hr_dir``/``lr_dir``: a folder
    or a comma list of folders (one LR folder per HR folder). Returns (hr_list, lr_list
    or None, names). Unusable files are skipped with a warning; none usable -> ConfigError."""
    candidates = training_candidates(hr_dir, scale, lr_dir, lr_name_template)
    hr_images, lr_images, names = [], [], []
    for path, lr_path, lr_error in candidates:
        try:
            hr, lr = read_pair(path, lr_path, lr_error, scale)
        except ImageError as err:
            LOGGER.warning("skipped: %s", err)
            continue
        hr = np.ascontiguousarray(mod_crop(hr, scale))
        reason = too_small_reason(hr.shape, scale, lr_patch_size)
        if reason:
            warn_too_small(path, reason)
            continue
        hr_images.append(hr)
        lr_images.append(lr)
        names.append(os.path.basename(path))
    if not hr_images:
        raise none_usable(hr_dir, len(candidates))
    return hr_images, (lr_images if split_folders(lr_dir) else None), names


class TrainingFiles:
    """The usable training files, found from their headers (nothing decoded):
    ``paths`` [(hr_path, lr_path or None)] and ``shapes`` [(H, W) of the mod-cropped HR],
    the same files in the same order as :func:`load_training_images` keeps (a file whose
    header reads but whose pixels do not decode stops training later, naming it)."""

    def __init__(self, hr_dir, scale, lr_patch_size, lr_dir=None,
                 lr_name_template=LR_NAME_TEMPLATE):
        candidates = training_candidates(hr_dir, scale, lr_dir, lr_name_template)
        self.paths, self.shapes = [], []
        for path, lr_path, lr_error in candidates:
            try:
                if lr_error is not None:
                    raise lr_error
                height, width = image_size(path)
                if lr_path:
                    check_lr_size(lr_path, image_size(lr_path), path, (height, width), scale)
            except ImageError as err:
                LOGGER.warning("skipped: %s", err)
                continue
            hw = (height - height % scale, width - width % scale)
            reason = too_small_reason(hw, scale, lr_patch_size)
            if reason:
                warn_too_small(path, reason)
                continue
            self.paths.append((path, lr_path))
            self.shapes.append(hw)
        if not self.paths:
            raise none_usable(hr_dir, len(candidates))

    def decoded_mb(self, scale, lr_copies=1):
        """Megabytes all decoded HR images and their LR images take (uint8 RGB);
        ``lr_copies`` 2 when each image also holds its clean LR (challenge, clean_prob)."""
        pixels = sum(h * w for h, w in self.shapes)
        return 3 * pixels * (1 + lr_copies / scale ** 2) / 2 ** 20


def image_size(path):
    """(H, W) of an image file from its header (Pillow reads no pixels), as read_rgb
    returns it (turned by its EXIF orientation); ImageError when the file is missing or
    not an image."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            width, height = image.size
            if orientation_of(image) in (5, 6, 7, 8):       # a quarter turn
                width, height = height, width
    except FileNotFoundError:
        raise unusable(path, "file not found", "check the path") from None
    except (UnidentifiedImageError, OSError) as err:
        raise unusable(path, f"not an image Pillow can read ({err})") from None
    return height, width


def check_sharding(batch_size, lr_patch_size, rank, group_size, start_iteration):
    """Validate the batch/sharding arguments with one-line messages."""
    if batch_size < 1 or lr_patch_size < 1:
        raise ConfigError(f"batch_size ({batch_size}) and lr_patch_size ({lr_patch_size}) "
                          f"must be >= 1")
    if group_size < 1 or not 0 <= rank < group_size:
        raise ConfigError(f"rank {rank} is not in [0, group_size={group_size})")
    if start_iteration < 0:
        raise ConfigError(f"start_iteration must be >= 0, got {start_iteration}")


def build_batch_maker(hr_dir, scale, lr_patch_size, batch_size, lr_dir=None, rank=0,
                      group_size=1, seed=0, start_iteration=0, augment=True, min_texture=0.0,
                      degradation=None, cache_mb=-1, lr_name_template=LR_NAME_TEMPLATE):
    """Read the training images (``cache_mb`` < 0: all into memory; else from disk per
    sample, at most ``cache_mb`` MB of decoded images kept) and return this rank's
    :class:`BatchMaker` (arguments as :func:`create_train_batches`)."""
    scale = check_scale(scale)
    check_sharding(batch_size, lr_patch_size, rank, group_size, start_iteration)
    if split_folders(lr_dir) and degradation is not None and degradation.kind == "challenge":
        raise ConfigError("degradation 'challenge' makes the LR images itself; leave "
                          "train_lr_dir empty or use degradation bicubic or mixed")
    lr_stem("0001", scale, lr_name_template)           # a bad template fails here
    if cache_mb is not None and cache_mb >= 0:
        files = TrainingFiles(hr_dir, scale, lr_patch_size, lr_dir, lr_name_template)
        lr_copies = 2 if (degradation or Degradation()).keeps_clean_images else 1
        LOGGER.info("training images read from disk per sample: %d files, %.0f MB decoded, "
                    "cache %.0f MB", len(files.paths), files.decoded_mb(scale, lr_copies),
                    cache_mb)
        sampler = PatchSampler.from_files(files, ImageCache(cache_mb), scale, lr_patch_size,
                                          seed, augment, min_texture, degradation)
    else:
        hr_images, lr_images, _ = load_training_images(hr_dir, scale, lr_patch_size, lr_dir,
                                                       lr_name_template)
        sampler = PatchSampler(hr_images, lr_images, scale, lr_patch_size, seed, augment,
                               min_texture, degradation)
    return BatchMaker(sampler, batch_size, rank, group_size, start_iteration)


def create_train_dataset(hr_dir, scale, lr_patch_size, batch_size, lr_dir=None,
                         num_workers=2, rank=0, group_size=1, seed=0,
                         start_iteration=0, augment=True, python_multiprocessing=None,
                         min_texture=0.0, degradation=None, cache_mb=-1,
                         lr_name_template=LR_NAME_TEMPLATE):
    """Endless, deterministic ``mindspore.dataset`` of (lr, hr) batches for training.

    Args:
        hr_dir: folder of HR images, or a comma list of folders (mod-cropped to ``scale``).
        scale: integer SR factor.
        lr_patch_size: LR patch side p; HR patches are scale * p.
        batch_size: per-device batch B.
        lr_dir: DIV2K-layout LR folder (``X{s}`` or its parent; a comma list: one per HR
            folder) or None to make the LR images with MATLAB bicubic.
        num_workers: parallel batch makers (output order is preserved).
        rank, group_size: this device and the number of devices (data parallel).
        seed: data seed; sample k depends only on (seed, k).
        start_iteration: first iteration to yield (resume).
        augment: random flips and transpose.
        min_texture: redraw patches whose :func:`patch_texture` is below this (0: off).
        degradation: a :class:`src.data.degrade.Degradation` (None: MATLAB bicubic).
        cache_mb: < 0: every image read into memory at start-up (LR made then); >= 0:
            images decoded when a sample needs them, at most this many MB kept per
            process making batches (LRU); the same batches either way.
        lr_name_template: the LR stem for an HR stem (:data:`LR_NAME_TEMPLATE`).
        python_multiprocessing: workers as processes (True) or threads (False); None
            picks processes (faster on 2 cores: docs/data.md) unless
            /dev/shm is too small for their transfer buffers (e.g. Docker's 64 MB).
    Returns:
        a dataset with columns ``lr`` (B,3,p,p) and ``hr`` (B,3,sp,sp), float32 in
        [0, 1]; iterate with ``create_tuple_iterator(num_epochs=1)``. It never ends.
    """
    import mindspore.dataset as ds
    maker = build_batch_maker(hr_dir, scale, lr_patch_size, batch_size, lr_dir, rank,
                              group_size, seed, start_iteration, augment, min_texture,
                              degradation, cache_mb, lr_name_template)
    workers = max(1, min(int(num_workers), os.cpu_count() or 1))
    batch_mb = 4 * 3 * batch_size * lr_patch_size ** 2 * (1 + maker.sampler.scale ** 2) / 2 ** 20
    processes = use_processes(python_multiprocessing, workers, batch_mb, group_size)
    indices = ds.GeneratorDataset(BatchIndices(), column_names=["batch"], shuffle=False)
    return indices.map(operations=maker, input_columns=["batch"], output_columns=["lr", "hr"],
                       num_parallel_workers=workers, python_multiprocessing=processes)


class BackgroundBatches:
    """Endless iterator of (lr, hr) MindSpore Tensors that ``maker`` makes in one
    background thread of this process, up to ``depth`` batches ahead.

    Why not ``mindspore.dataset`` workers on a CPU run: the training step already keeps
    every core busy, so batches cost CPU time wherever they are made, and worker
    processes add transfer and scheduling on top (measured in docs/data.md).
    The same batches as :func:`create_train_dataset` with the same arguments.
    A failure in the thread is raised by ``next()`` in the training loop. The thread
    stops on ``close()`` or when this object is garbage-collected (it holds no
    reference to it), so a finished ``train()`` leaves no thread behind.
    """

    def __init__(self, maker, depth=2):
        self.maker = maker
        self.queue = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=fill_queue, daemon=True, name="training-batches",
                                       args=(maker, self.queue, self.stopping))
        self.thread.start()
        weakref.finalize(self, self.stopping.set)

    def __iter__(self):
        return self

    def __next__(self):
        from mindspore import Tensor
        item = self.queue.get()
        if isinstance(item, Exception):
            raise RuntimeError(f"making a training batch failed: {type(item).__name__}: "
                               f"{item}") from item
        lr, hr = item
        return Tensor.from_numpy(lr), Tensor.from_numpy(hr)

    def samples_per_second(self):
        """The thread's own rate since the last call: what it could deliver if the
        training step never waited (src/engine/trainer.py logs it beside the step rate)."""
        return self.maker.samples_per_second()

    def close(self):
        """Stop the thread; it finishes the batch it is making (joined here)."""
        self.stopping.set()
        self.thread.join()


def fill_queue(maker, batches, stopping):
    """BackgroundBatches' thread: maker(0), maker(1), ... into ``batches`` until
    ``stopping`` is set; an exception is queued for the consumer and ends it."""
    def offer(item):
        while not stopping.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    try:
        for i in itertools.count():
            if not offer(maker(i)):
                return
    except Exception as err:               # noqa: BLE001  (re-raised by __next__)
        offer(err)


class DatasetBatches:
    """The same iterator interface over a ``mindspore.dataset`` (worker pipeline)."""

    def __init__(self, dataset):
        self.batches = dataset.create_tuple_iterator(num_epochs=1)

    def __iter__(self):
        return self

    def __next__(self):
        return tuple(next(self.batches))

    @staticmethod
    def samples_per_second():
        """None: the workers' own timing stays in their processes."""
        return None

    def close(self):
        """Nothing to stop here: MindSpore ends the workers with the process."""


def resolve_num_workers(num_workers, device_target="CPU"):
    """The config's ``num_workers``: -1 (auto) is 0 on CPU and min(4, cpus) on GPU or
    Ascend, where the step is fast and batches must be made in parallel."""
    workers = int(num_workers)
    if workers < -1:
        raise ConfigError(f"num_workers must be -1 (auto), 0 (a thread of the training "
                          f"process) or a worker count, got {workers}")
    if workers == -1:
        return 0 if str(device_target).upper() == "CPU" else min(4, os.cpu_count() or 1)
    return workers


def create_train_batches(hr_dir, scale, lr_patch_size, batch_size, lr_dir=None,
                         num_workers=0, rank=0, group_size=1, seed=0, start_iteration=0,
                         augment=True, min_texture=0.0, python_multiprocessing=None,
                         degradation=None, cache_mb=-1, lr_name_template=LR_NAME_TEMPLATE):
    """Endless iterator of (lr, hr) float32 Tensors, (B,3,p,p) and (B,3,sp,sp), with a
    ``close()``: the training loop's data. ``num_workers`` 0 makes the batches in a
    thread of this process (:class:`BackgroundBatches`); >= 1 runs that many
    ``mindspore.dataset`` workers (:func:`create_train_dataset`). Either way the
    batches are the same; the other arguments are as :func:`create_train_dataset`."""
    if num_workers == 0:
        return BackgroundBatches(build_batch_maker(
            hr_dir, scale, lr_patch_size, batch_size, lr_dir, rank, group_size, seed,
            start_iteration, augment, min_texture, degradation, cache_mb, lr_name_template))
    return DatasetBatches(create_train_dataset(
        hr_dir, scale, lr_patch_size, batch_size, lr_dir, num_workers, rank, group_size,
        seed, start_iteration, augment, python_multiprocessing, min_texture, degradation,
        cache_mb, lr_name_template))


def use_processes(requested, workers, batch_mb, group_size):
    """Worker kind: ``requested`` if given, else processes on Linux when /dev/shm can
    hold twice their in-flight batches (all ranks of a machine share it)."""
    if requested is not None:
        return bool(requested)
    if not sys.platform.startswith("linux"):
        return False
    import mindspore.dataset as ds
    need_mb = min(group_size, 8) * workers * (ds.config.get_prefetch_size() + 2) * batch_mb
    try:
        free_mb = shutil.disk_usage("/dev/shm").free / 2 ** 20
    except OSError:
        free_mb = 0.0
    if 2 * need_mb > free_mb:
        LOGGER.warning("data workers are threads: /dev/shm has %.0f MB free, worker processes "
                       "would need about %.0f MB (docker: --shm-size=1g enables them)",
                       free_mb, 2 * need_mb)
        return False
    return True


# SelfExSR benchmark layout (Set5/Set14/B100/Urban100 as Huang et al. ship them): HR and
# LR of every scale side by side in one folder, img_001_SRF_2_HR.png / img_001_SRF_2_LR.png.
SELFEXSR_NAME = re.compile(r"^(?P<name>.+)_SRF_(?P<scale>\d+)_(?P<kind>HR|LR)$")


def selfexsr_pairs(folder, paths, scale):
    """[(hr_path, lr_path or None)] at ``scale`` when ``paths`` (the images of ``folder``)
    are in the SelfExSR layout, else None. ConfigError when the folder has SelfExSR files
    for other scales only."""
    tagged = {}
    for path in paths:
        match = SELFEXSR_NAME.match(os.path.splitext(os.path.basename(path))[0])
        if match:
            tagged[(match["name"], int(match["scale"]), match["kind"])] = path
    if not tagged:
        return None
    names = sorted(name for name, s, kind in tagged if s == scale and kind == "HR")
    if not names:
        scales = sorted({s for _, s, _ in tagged})
        raise ConfigError(f"'{folder}' holds SelfExSR images (*_SRF_N_HR/LR) for scale(s) "
                          f"{scales} but none for x{scale}; pass --scale with one of them")
    return [(tagged[(name, scale, "HR")], tagged.get((name, scale, "LR"))) for name in names]


def eval_sources(hr_dir, scale, lr_dir, flag, lr_name_template=LR_NAME_TEMPLATE):
    """[(hr_path, lr_path or None, error or None)] to evaluate: the folder's SelfExSR
    pairs, or every image with its partner in ``lr_dir`` (None: LR made from the HR)."""
    paths = list_images(hr_dir, flag)
    paired = None if lr_dir else selfexsr_pairs(hr_dir, paths, scale)
    if paired is not None:
        return [(hr, lr, None if lr else unusable(hr, "no SelfExSR LR partner beside it",
                                                  "add it or remove the HR file"))
                for hr, lr in paired]
    return with_lr_partners(paths, lr_dir, scale, lr_name_template)


def load_eval_pairs(hr_dir, scale, lr_dir=None, make_lr=None, flag="--data_dir"):
    """Whole-image (name, lr_uint8, hr_uint8) triples for validation and eval.py.

    HR is mod-cropped to ``scale``; LR is ``imresize_uint8(hr, 1/scale)``, or
    ``make_lr(hr, scale)`` when given (e.g. src/data/degrade.py's challenge_lr, the NTIRE
    2023 kit's LR), or read from ``lr_dir`` (DIV2K layout), or, in a SelfExSR-layout
    folder (``*_SRF_2_HR.png`` beside ``*_SRF_2_LR.png``), the LR file beside each HR.
    Unreadable images (or a missing LR partner) are skipped with a warning, and so is an
    LR of the wrong size; when every LR is of the wrong size (a wrong --scale, most
    likely) the first one's error is raised instead. Returns (pairs, skipped_names),
    sorted by file name.
    """
    scale = check_scale(scale)
    pairs, skipped, wrong_size = [], [], []
    for path, lr_path, error in eval_sources(hr_dir, scale, lr_dir, flag):
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            hr, lr = read_pair(path, lr_path, error, scale)
        except ImageError as err:
            LOGGER.warning("skipped: %s", err)
            skipped.append(name)
            continue
        except ConfigError as err:                 # check_lr_size: an LR of another size
            wrong_size.append(err)
            skipped.append(name)
            continue
        hr = np.ascontiguousarray(mod_crop(hr, scale))
        if hr.size == 0:
            LOGGER.warning("skipped '%s': smaller than the scale %d", path, scale)
            skipped.append(name)
            continue
        if lr is None:
            lr = make_lr(hr, scale) if make_lr else imresize_uint8(hr, 1.0 / scale)
        pairs.append((name, lr, hr))
    if wrong_size and not pairs:
        raise wrong_size[0]
    for err in wrong_size:
        LOGGER.warning("skipped: %s", err)
    return pairs, skipped


def measure_throughput(hr_dir, scale=2, lr_patch_size=64, batch_size=16, num_workers=2,
                       batches=60, warmup=5, python_multiprocessing=None, lr_dir=None,
                       min_texture=0.0):
    """Samples per second the pipeline delivers (after ``warmup`` batches);
    ``num_workers`` 0 is the in-process thread of :func:`create_train_batches`."""
    stream = create_train_batches(hr_dir, scale, lr_patch_size, batch_size, lr_dir,
                                  num_workers=num_workers, min_texture=min_texture,
                                  python_multiprocessing=python_multiprocessing)
    for _ in range(warmup):
        next(stream)
    started = time.perf_counter()
    for _ in range(batches):
        next(stream)
    rate = batches * batch_size / (time.perf_counter() - started)
    stream.close()
    return rate


def main(argv=None):
    """``python -m src.data.dataset HR_DIR [--workers 2] [--kind threads]``: throughput."""
    import argparse
    parser = argparse.ArgumentParser(description="time the training data pipeline")
    parser.add_argument("hr_dir")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--lr_patch_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2,
                        help="0: the in-process thread (the CPU default); N: N dataset workers")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--kind", choices=["auto", "processes", "threads"], default="auto")
    parser.add_argument("--lr_dir", default=None)
    parser.add_argument("--min_texture", type=float, default=0.0)
    args = parser.parse_args(argv)
    rate = measure_throughput(args.hr_dir, args.scale, args.lr_patch_size, args.batch_size,
                              args.workers, args.batches,
                              python_multiprocessing={"auto": None, "processes": True,
                                                      "threads": False}[args.kind],
                              lr_dir=args.lr_dir, min_texture=args.min_texture)
    kind = "in-process thread" if args.workers == 0 else args.kind
    print(f"{rate:.0f} samples/s ({rate / args.batch_size:.1f} batches/s): x{args.scale}, "
          f"batch {args.batch_size}, LR patch {args.lr_patch_size}, {args.workers} "
          f"workers ({kind}), min_texture {args.min_texture}, "
          f"LR {'from ' + args.lr_dir if args.lr_dir else 'made at start-up'}")


if __name__ == "__main__":
    main()
