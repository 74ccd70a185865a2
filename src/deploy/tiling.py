"""Tiled inference that gives the whole-image result, in bounded memory.

Two things make naive tiling wrong for AsConvSR:

1. Receptive field. Each output pixel sees ``halo`` LR pixels around it (every 3x3
   convolution adds one unshuffled pixel, i.e. u LR pixels). A tile is therefore run on
   a *window* = its *core* plus a halo on every side that is inside the image, and only
   the core of the result is kept. At the image border the window simply stops, and the
   network's zero padding there is the same as for the whole image.
2. The control modules pool over the whole image. Their input is a mean, so it is
   accumulated over tiles: StatsNet sums each block's input over the window's core
   (``interior`` mask); the sums of all cores are the whole-image sum. Block b's input
   depends on blocks < b, so the means are found one block per pass (AsConvSR: 1 pass,
   AsConvSR-L: 2). TileNet then runs every window with the whole-image means.

All windows have the same size (those at the far edges are shifted inwards, not cut),
so a graph-mode MindSpore model compiles once per image size, not once per tile.
Cores and windows start at multiples of the unshuffle factor u, so every window sees
the same unshuffle grid as the whole image.
"""
import numpy as np

from src.deploy.network import DeployError
from src.images import pad_to_multiple


def check_output(runner, x, sr):
    """``sr``, after checking it is ``runner.scale`` times the input ``x``: a graph
    run with a wrong --scale (an export without its metadata) would otherwise be cut or
    padded into a wrong image. DeployError naming both sizes before anything is written."""
    height, width = x.shape[2:]
    s = runner.scale
    if tuple(sr.shape) != (x.shape[0], 3, s * height, s * width):
        got = f"{sr.shape[3]}x{sr.shape[2]}" if sr.ndim == 4 else str(tuple(sr.shape))
        raise DeployError(f"model '{runner.path}' returned {got} for a {width}x{height} "
                          f"input, not the {s * width}x{s * height} of x{s}: give the "
                          f"model's own --scale, or keep the export's .json beside it")
    return sr


def plan_axis(length, core, halo):
    """Windows along one axis: [(window_start, core_start, core_end)], window length.

    Cores [k*core, (k+1)*core) partition [0, length). Every window has the same length
    ``min(length, core + 2*halo)`` and starts at ``core_start - halo`` clamped into the
    image, so it covers its core plus ``halo`` on each side that is not the image edge.
    """
    window = min(length, core + 2 * halo)
    plan = []
    for start in range(0, length, core):
        end = min(start + core, length)
        window_start = min(max(start - halo, 0), length - window)
        plan.append((window_start, start, end))
    return plan, window


def plan_tiles(height, width, tile, halo, unshuffle):
    """All windows of a (height, width) image: [(window_y, window_x, core_y, core_x)] with
    core_y = (start, end) etc., and the window size (wh, ww). ``tile`` is rounded up to a
    multiple of the unshuffle factor; height, width and halo must already be multiples."""
    core = -(-max(tile, unshuffle) // unshuffle) * unshuffle
    rows, window_h = plan_axis(height, core, halo)
    cols, window_w = plan_axis(width, core, halo)
    tiles = [(wy, wx, (y0, y1), (x0, x1)) for wy, y0, y1 in rows for wx, x0, x1 in cols]
    return tiles, (window_h, window_w)


def whole_image_means(runner, image, tiles, window):
    """(num_blocks, C) float32: each block's input averaged over the whole (padded) image,
    accumulated tile by tile in float64; one pass over the tiles per block."""
    num_blocks, channels = runner.pooled_shape
    u = runner.unshuffle
    pixels = (image.shape[2] // u) * (image.shape[3] // u)
    means = np.zeros((num_blocks, channels), np.float32)
    for block in range(num_blocks):
        total = np.zeros(channels, np.float64)
        for wy, wx, (y0, y1), (x0, x1) in tiles:
            interior = np.zeros((1, 1, window[0] // u, window[1] // u), np.float32)
            interior[..., (y0 - wy) // u:(y1 - wy) // u, (x0 - wx) // u:(x1 - wx) // u] = 1.0
            crop = image[:, :, wy:wy + window[0], wx:wx + window[1]]
            total += runner.stats(crop, interior, means)[block]
        means[block] = total / pixels
    return means


def run_tiles(runner, image, tiles, window, means):
    """Every window through the tile graph; the cores' outputs stitched (float32)."""
    s = runner.scale
    out = np.empty((1, 3, image.shape[2] * s, image.shape[3] * s), np.float32)
    for wy, wx, (y0, y1), (x0, x1) in tiles:
        crop = image[:, :, wy:wy + window[0], wx:wx + window[1]]
        sr = check_output(runner, crop, runner.tile(crop, means))
        out[:, :, s * y0:s * y1, s * x0:s * x1] = \
            sr[:, :, s * (y0 - wy):s * (y1 - wy), s * (x0 - wx):s * (x1 - wx)]
    return out


def upscale(runner, image, tile=512):
    """Super-resolve one image: (1, 3, H, W) float32 in [0, 1] -> (1, 3, sH, sW) float32.

    The image is edge-padded to multiples of the unshuffle factor and the result cropped
    back to exactly s*H x s*W. ``tile`` is the core side in LR pixels; 0, an image no
    larger than one window, or a runner that cannot tile (``can_tile``: a fixed-size
    export, or one without tile/stats graphs) runs the whole image at once. Tiled and whole results are
    equal up to float rounding (tests/test_infer.py checks 1e-5).
    """
    height, width = image.shape[2:]
    padded = pad_to_multiple(np.asarray(image, np.float32), runner.unshuffle, axes=(2, 3))
    if runner.fixed_size is not None and tuple(padded.shape[2:]) != runner.fixed_size:
        fixed_h, fixed_w = runner.fixed_size
        raise DeployError(f"'{runner.path}' was exported for {fixed_w}x{fixed_h} inputs only, "
                          f"this image is {width}x{height}: export without --height/--width "
                          f"for any size")
    if tile > 0 and runner.can_tile:
        tiles, window = plan_tiles(padded.shape[2], padded.shape[3], tile, runner.halo,
                                   runner.unshuffle)
    else:                    # whole image: asked for, or an export without tile graphs
        tiles, window = [None], padded.shape[2:]
    if len(tiles) == 1:
        out = check_output(runner, padded, runner.full(padded))
    else:
        means = whole_image_means(runner, padded, tiles, window) if runner.pooled_shape else None
        out = run_tiles(runner, padded, tiles, window, means)
    return out[:, :, :height * runner.scale, :width * runner.scale]
