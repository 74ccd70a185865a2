"""How much of the colour the kit's JPEG LR lost can its luma give back? (issue 32)

    python research/chroma_guided.py [--models A.ckpt[,B.ckpt]] [--radii 1,2,4] [--eps 1,4,25]
        [--data_dirs data/val,../shared/benchmarks/Set5,../shared/benchmarks/Set14]

The NTIRE 2023 kit saves its LR as JPEG quality 90 with 4:2:0 chroma subsampling, and
the challenge checkpoints restore Y but hardly any colour (research/channel_gains.py).
Is that colour there to restore? Here the guided filter (He, Sun and Tang, ECCV 2010)
fits in every (2r+1)^2 window the local linear model Cb = a Y + b (Cr alike) and
applies it: what a luma predicts of the colour, locally and linearly. For every set
under the challenge protocol (the kit's LR, crop 0, MATLAB-bicubic x2 of it as in
eval.py): the bicubic's Cb and Cr PSNR, then the guided filter of the bicubic's Cb and
Cr at each radius and eps, guided by the bicubic's own Y, by each model's SR Y, and by
the HR's Y (an oracle no method has); means over the colour images (grey ones have no
colour), src/metrics.py's PSNR with data range 255 (research/channel_gains.py's YCbCr
and conventions).

Conventions: eps in squared 0-255 levels; window means with edge-replicated borders.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (runtime environment before mindspore)
from research.channel_gains import is_grey, open_predictor, to_ycbcr  # noqa: E402
from research.runs import BENCHMARKS  # noqa: E402


def box_mean(image, radius):
    """Mean over the (2r+1)^2 window around each pixel (edge-replicated), via 2-D
    cumulative sums: (H, W) -> (H, W)."""
    side = 2 * radius + 1
    padded = np.pad(image.astype(np.float64), ((radius + 1, radius), (radius + 1, radius)),
                    mode="edge")
    sums = padded.cumsum(0).cumsum(1)    # (H + 2r + 1, W + 2r + 1); row/col 0 cancels below
    return (sums[side:, side:] - sums[:-side, side:] - sums[side:, :-side]
            + sums[:-side, :-side]) / side ** 2


def guided_filter(guide, image, radius, eps):
    """He et al.'s guided filter: per window, image ~ a * guide + b by least squares with
    ridge eps on a; each pixel averages the (a, b) of the windows that hold it."""
    mean_g, mean_i = box_mean(guide, radius), box_mean(image, radius)
    var_g = box_mean(guide * guide, radius) - mean_g ** 2
    cov = box_mean(guide * image, radius) - mean_g * mean_i
    a = cov / (var_g + eps)
    b = mean_i - a * mean_g
    return box_mean(a, radius) * guide + box_mean(b, radius)


def set_rows(data_dir, predictors, radii, epsilons):
    """{(guide, radius, eps) or ("bicubic",): [mean Cb PSNR, mean Cr PSNR]} over the
    colour images of one set; radius and eps are None for the bicubic row."""
    from src.data.dataset import load_eval_pairs
    from src.data.degrade import challenge_lr
    from src.evaluate import bicubic_upscale
    from src.metrics import psnr
    pairs, skipped = load_eval_pairs(data_dir, 2, None, challenge_lr)
    if skipped:
        print(f"{data_dir}: skipped {', '.join(map(str, skipped))}", file=sys.stderr)
    scores = {}
    for _, lr, hr in pairs:
        if is_grey(hr):
            continue
        truth, bicubic = to_ycbcr(hr), to_ycbcr(bicubic_upscale(lr, 2))
        guides = {"bicubic Y": bicubic[..., 0]}
        guides.update({f"{name} Y": to_ycbcr(predict(lr))[..., 0]
                       for name, predict in predictors.items()})
        guides["HR Y (oracle)"] = truth[..., 0]
        cells = {("bicubic", None, None): [psnr(bicubic[..., c], truth[..., c]) for c in (1, 2)]}
        for name, guide in guides.items():
            for radius in radii:
                for eps in epsilons:
                    cells[(name, radius, eps)] = [
                        psnr(guided_filter(guide, bicubic[..., c], radius, eps), truth[..., c])
                        for c in (1, 2)]
        for key, values in cells.items():
            scores.setdefault(key, []).append(values)
    return {key: np.mean(values, axis=0) for key, values in scores.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma list of x2 .ckpt/.mindir/.onnx")
    parser.add_argument("--data_dirs", default=",".join(
        ["data/val"] + [os.path.join(BENCHMARKS, s) for s in ("Set5", "Set14")]))
    parser.add_argument("--radii", default="1,2,4")
    parser.add_argument("--eps", default="1,4,25")
    args = parser.parse_args(argv)
    from src.runtime import setup
    setup("CPU", "graph", seed=0)
    models = [m for m in args.models.split(",") if m]
    predictors = {os.path.splitext(os.path.basename(m))[0]: open_predictor(m) for m in models}
    wrong = [m for m, p in zip(models, predictors.values()) if p.runner.scale != 2]
    if wrong:
        sys.exit(f"error: {wrong[0]} is not an x2 model; the kit's track and this study are x2")
    radii = [int(r) for r in args.radii.split(",")]
    epsilons = [float(e) for e in args.eps.split(",")]
    print("challenge protocol, x2: mean Cb and Cr PSNR (dB) over the colour images, in "
          "brackets the gain over the bicubic's")
    print("| set | colour from | r | eps | Cb | Cr |")
    print("| --- | --- | --- | --- | --- | --- |")
    for data_dir in args.data_dirs.split(","):
        rows = set_rows(data_dir, predictors, radii, epsilons)
        base = rows[("bicubic", None, None)]
        label = os.path.basename(data_dir.rstrip("/"))
        for (name, radius, eps), (cb, cr) in rows.items():
            how = "bicubic" if radius is None else f"guided filter, {name}"
            print(f"| {label} | {how} | {'' if radius is None else radius} | "
                  f"{'' if eps is None else f'{eps:g}'} | {cb:.3f} ({cb - base[0]:+.3f}) | "
                  f"{cr:.3f} ({cr - base[1]:+.3f}) |", flush=True)
            label = ""


if __name__ == "__main__":
    main()
