"""How textured are the training patches, against the val photos? (min_patch_texture)

    python research/patch_texture.py data/train data/val [--scale 2] [--lr_patch_size 64]
        [--samples 4000] [--thresholds 2,3,4,6]

For each HR folder, draws ``samples`` patches exactly as training does (uniform over all
patch positions, src.data.dataset.PatchSampler, no redraw) and prints the percentiles
of their texture (src.data.dataset.patch_texture: mean absolute luma step between
neighbouring pixels at LR resolution, 0-255 units), and, per threshold, the share of
patches at or above it and their median. The README's Data section quotes its output.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PERCENTILES = (10, 25, 50, 75, 90)


def textures(hr_dir, scale, lr_patch_size, samples, seed=0):
    """Texture of ``samples`` uniformly drawn HR patches of the folder."""
    from src.data.dataset import PatchSampler, load_training_images, patch_texture
    hr_images, _, _ = load_training_images(hr_dir, scale, lr_patch_size)
    # draw_position reads HR only: placeholder LR entries spare the start-up bicubic
    # pass (about 6 s for data/train) that None would ask for.
    sampler = PatchSampler(hr_images, [None] * len(hr_images), scale, lr_patch_size, seed,
                           augment=False)
    values = []
    for k in range(samples):
        _, _, _, hr = sampler.draw_position(np.random.default_rng([seed, k]))
        values.append(patch_texture(hr, scale))
    return np.array(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hr_dirs", nargs="+", help="HR image folders (e.g. data/train data/val)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--lr_patch_size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--thresholds", default="2,3,4,6")
    args = parser.parse_args()
    import src  # noqa: F401  (runtime environment; the data code imports no mindspore)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print(f"# x{args.scale}, LR patch {args.lr_patch_size}, {args.samples} uniform patches "
          f"per folder; texture = mean |luma step| at LR resolution, 0-255")
    print("| folder | " + " | ".join(f"p{q}" for q in PERCENTILES) + " | "
          + " | ".join(f">= {t:g}: share (median)" for t in thresholds) + " |")
    print("|" + " --- |" * (1 + len(PERCENTILES) + len(thresholds)))
    for hr_dir in args.hr_dirs:
        values = textures(hr_dir, args.scale, args.lr_patch_size, args.samples)
        cells = [f"{v:.2f}" for v in np.percentile(values, PERCENTILES)]
        for t in thresholds:
            kept = values[values >= t]
            cells.append(f"{kept.size / values.size:.2f} ({np.median(kept):.2f})" if kept.size
                         else "0.00 (-)")
        print(f"| {hr_dir} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
