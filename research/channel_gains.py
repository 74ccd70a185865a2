"""Where does a model's gain over bicubic go: into luma or into colour? (issue 32)

    python research/channel_gains.py --models A.ckpt[,B.ckpt] [--protocol challenge]
        [--data_dirs data/val,../shared/benchmarks/Set5,../shared/benchmarks/Set14]

For every set: bicubic and each model, the mean over the images of PSNR (dB) on RGB and
on each of Y, Cb and Cr, and each model's gain over bicubic per channel. An error in Y
alone moves R, G and B by 255/219 of it each, so an image whose colour were exact would
score PSNR-RGB = PSNR-Y - 20 log10(255/219) = PSNR-Y - 1.322 dB; what RGB falls short of
that is colour error (tests/test_channel_gains.py checks the identity). The LR and the
crop are eval.py's for the protocol: ``standard`` MATLAB bicubic and crop = scale,
``challenge`` the NTIRE 2023 kit's LR (src/data/degrade.py challenge_lr) and crop 0; the
bicubic is MATLAB-compatible bicubic of that LR, as in every eval.py row.

Why: the kit ranks by RGB PSNR, and its LR is saved by Pillow as JPEG with 4:2:0 chroma
subsampling (Pillow's default), so the LR's colour carries half the LR's resolution
while its luma keeps all of it. A network trained on RGB may restore the luma and leave
the colour about where bicubic leaves it; its RGB gain is then smaller than its Y gain.

Conventions: Y, Cb and Cr are BT.601 studio range as MATLAB's rgb2ycbcr (src/metrics.py's
YCBCR_WEIGHTS and YCBCR_OFFSETS, whose Y is every PSNR-Y's), not rounded; PSNR with data
range 255 on every channel.
Each model runs with the config.yaml beside it, as eval.py does.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (runtime environment before mindspore)
from research.runs import BENCHMARKS  # noqa: E402
from src.metrics import YCBCR_OFFSETS, YCBCR_WEIGHTS  # noqa: E402

CHANNELS = ("RGB", "Y", "Cb", "Cr")


def to_ycbcr(rgb):
    """(H, W, 3) RGB in [0, 255] -> (H, W, 3) float64 Y, Cb, Cr, studio range (the Y is
    src/metrics.py's, the luma every PSNR-Y here uses)."""
    return rgb.astype(np.float64) @ YCBCR_WEIGHTS.T + YCBCR_OFFSETS


def from_ycbcr(ycc):
    """The inverse of to_ycbcr (float64 RGB, not clipped or rounded)."""
    return (ycc - YCBCR_OFFSETS) @ np.linalg.inv(YCBCR_WEIGHTS).T


def is_grey(rgb):
    """True when every pixel has R = G = B."""
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def channel_psnrs(sr, hr, border):
    """{channel: PSNR} of ``sr`` against ``hr`` on RGB, Y, Cb and Cr; Cb and Cr are None
    for a grey HR (R = G = B: no colour to restore, and a grey bicubic's chroma PSNR is
    infinite)."""
    from src.metrics import crop_border, psnr
    sr, hr = crop_border(sr, border), crop_border(hr, border)
    ycc_sr, ycc_hr = to_ycbcr(sr), to_ycbcr(hr)
    grey = is_grey(hr)
    values = {"RGB": psnr(sr, hr)}
    for index, name in enumerate(CHANNELS[1:]):
        values[name] = None if grey and name != "Y" else psnr(ycc_sr[..., index],
                                                               ycc_hr[..., index])
    return values


def mean_psnrs(rows):
    """Per channel, the mean over the images that have it (Cb, Cr: colour images)."""
    return {name: float(np.mean([row[name] for row in rows if row[name] is not None]))
            for name in CHANNELS}


def open_predictor(model):
    """A uint8 predictor for ``model`` with the config.yaml beside it, else the defaults
    (eval.py's way)."""
    from src.config import config_beside_checkpoint, load_config
    from src.deploy.predictor import Predictor
    from src.deploy.runners import open_model
    return Predictor(open_model(model, load_config(config_beside_checkpoint(model))))


def set_table(data_dir, predictors, scale, protocol):
    """Markdown rows for one set: bicubic, then each model with its gains."""
    from src.data.dataset import load_eval_pairs
    from src.data.degrade import challenge_lr
    from src.evaluate import bicubic_upscale
    make_lr, border = (challenge_lr, 0) if protocol == "challenge" else (None, scale)
    pairs, skipped = load_eval_pairs(data_dir, scale, None, make_lr)
    if skipped:
        print(f"{data_dir}: skipped {', '.join(map(str, skipped))}", file=sys.stderr)
    bicubic = mean_psnrs([channel_psnrs(bicubic_upscale(lr, scale), hr, border)
                          for _, lr, hr in pairs])
    grey = sum(is_grey(hr) for _, _, hr in pairs)
    label = os.path.basename(data_dir.rstrip('/')) + (f" ({grey} grey of {len(pairs)}: Cb, Cr "
                                                      f"over the rest)" if grey else "")
    lines = [f"| {label} | bicubic | "
             + " | ".join(f"{bicubic[c]:.3f}" for c in CHANNELS) + " |"]
    for name, predict in predictors.items():
        means = mean_psnrs([channel_psnrs(predict(lr), hr, border) for _, lr, hr in pairs])
        lines.append(f"| | {name} | " + " | ".join(
            f"{means[c]:.3f} ({means[c] - bicubic[c]:+.3f})" for c in CHANNELS) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="comma list of .ckpt/.mindir/.onnx")
    parser.add_argument("--data_dirs", default=",".join(
        ["data/val"] + [os.path.join(BENCHMARKS, s) for s in ("Set5", "Set14")]))
    parser.add_argument("--protocol", choices=["standard", "challenge"], default="challenge")
    args = parser.parse_args(argv)
    from src.runtime import setup
    setup("CPU", "graph", seed=0)
    models = [m for m in args.models.split(",") if m]
    predictors = {os.path.splitext(os.path.basename(m))[0]: open_predictor(m) for m in models}
    scales = {p.runner.scale for p in predictors.values()}
    if len(scales) != 1:
        sys.exit(f"error: --models upscale by different factors {sorted(scales)}; "
                 f"compare models of one scale")
    scale = scales.pop()
    print(f"protocol {args.protocol}, x{scale}: mean PSNR (dB) per channel, in brackets "
          f"the gain over bicubic")
    print("| set | model | " + " | ".join(CHANNELS) + " |")
    print("| --- | --- |" + " --- |" * len(CHANNELS))
    for data_dir in args.data_dirs.split(","):
        print("\n".join(set_table(data_dir, predictors, scale, args.protocol)), flush=True)


if __name__ == "__main__":
    main()
