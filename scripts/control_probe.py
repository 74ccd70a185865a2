"""How much does a trained assembled convolution adapt its kernels to the input?

    python scripts/control_probe.py --ckpt_path pretrained/asconvsr_x2/asconvsr_x2.ckpt \
        [--data_dir data/val] [--crop 64] [--config_path YAML]

Two probes on the val photos' LR images (made as eval.py makes them):
  photos   each whole photo, as eval.py and inference see it (the control module pools
           over the whole frame);
  crops    the four quadrant centres of each photo, --crop LR pixels on a side, the
           kind of input training shows it.
For each, per block conv: 'top', the mean largest mixing coefficient (1/E = a uniform
mix), 'spread', the mean L1 distance of a sample's coefficients from their mean over the
samples (0 = the same kernels for every input); then how much the output moves (RMS and
max, 8-bit levels) when every sample gets the mean coefficients instead of its own, and
for the photos the mean PSNR-Y (crop = scale) both ways.
Conventions are in src/model/control_probe.py. Uses the config.yaml beside the
checkpoint unless --config_path is given; --fresh probes a newly initialised network of
that config instead (seed 0), the point training started from.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)


def quadrant_crops(lr, size, multiple):
    """[(size', size', 3)] the centre crop of each quadrant of ``lr``; size' = size rounded
    down to ``multiple``; none if a quadrant is smaller than that."""
    size -= size % multiple
    half_h, half_w = lr.shape[0] // 2, lr.shape[1] // 2
    if min(half_h, half_w) < size:
        return []
    crops = []
    for top in (0, half_h):
        for left in (0, half_w):
            y, x = top + (half_h - size) // 2, left + (half_w - size) // 2
            crops.append(lr[y:y + size, x:x + size])
    return crops


def as_input(img, multiple):
    """(1, 3, H', W') float32 tensor in [0, 1], H' W' cropped down to ``multiple``."""
    import numpy as np
    from mindspore import Tensor
    height, width = img.shape[0] - img.shape[0] % multiple, img.shape[1] - img.shape[1] % multiple
    return Tensor(np.ascontiguousarray(img[:height, :width].transpose(2, 0, 1)[None] / 255.0,
                                       dtype=np.float32))


def print_probe(title, result, count):
    print(f"{title} ({count} inputs): output change with mean coefficients "
          f"RMS {result['frozen_rms']:.3f}, max {result['frozen_max']:.2f} (8-bit levels)")
    if "psnr_y" in result:
        print(f"  PSNR-Y {result['psnr_y']:.3f} dB with own coefficients, "
              f"{result['psnr_y_frozen']:.3f} dB with the mean ones")
    for row in result["per_conv"]:
        print(f"  blocks.{row['block']}.convs.{row['conv']}   top {row['top']:.3f}   "
              f"spread {row['spread']:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data_dir", default="data/val")
    parser.add_argument("--crop", type=int, default=64, help="crop side (LR pixels)")
    parser.add_argument("--fresh", action="store_true",
                        help="probe a freshly initialised network of the checkpoint's config "
                             "(seed 0) instead of its weights: what training started from")
    args = parser.parse_args()
    from src.runtime import setup
    setup("CPU", "pynative", seed=0)
    from src.checkpoint import load_trained_model_or_exit
    from src.data.dataset import load_eval_pairs
    from src.model.control_probe import control_probe
    if not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir '{args.data_dir}' is not a folder; run scripts/prepare_data.sh")
    net, model_cfg = load_trained_model_or_exit(args.ckpt_path, args.config_path)
    if args.fresh:
        from src.model.asconvsr import build_model
        net = build_model(model_cfg)
        net.set_train(False)
    if model_cfg.block_type == "plain":
        sys.exit(f"error: '{args.ckpt_path}' is a plain-conv network (block_type plain): "
                 f"it has no control module to probe")
    pairs, _ = load_eval_pairs(args.data_dir, model_cfg.scale)
    if len(pairs) < 2:
        sys.exit(f"error: '{args.data_dir}' has {len(pairs)} readable image(s); the probe "
                 f"compares inputs, so it needs at least 2")
    multiple = model_cfg.unshuffle
    photos = [as_input(lr, multiple) for _, lr, _ in pairs]
    scale = model_cfg.scale
    targets = [hr[:x.shape[2] * scale, :x.shape[3] * scale] for x, (_, _, hr) in zip(photos, pairs)]
    crops = [as_input(c, multiple) for _, lr, _ in pairs
             for c in quadrant_crops(lr, args.crop, multiple)]
    what = f"a fresh network of {args.ckpt_path}'s config" if args.fresh else args.ckpt_path
    print(f"{what}: E = {model_cfg.num_kernels}, temperature "
          f"{model_cfg.temperature:g}; val photos from {args.data_dir}")
    print_probe("photos", control_probe(net, photos, targets, border=scale), len(photos))
    if len(crops) >= 2:
        print_probe(f"crops of {args.crop - args.crop % multiple}", control_probe(net, crops),
                    len(crops))


if __name__ == "__main__":
    main()
