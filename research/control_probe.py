"""How much does a trained assembled convolution adapt its kernels to the input?

    python research/control_probe.py --model pretrained/asconvsr_x2/asconvsr_x2.ckpt \
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
Uses the config.yaml beside the checkpoint unless --config_path is given; --fresh probes
a newly initialised network of that config instead (seed 0), the point training started
from. research/adaptation.py imports :func:`control_probe`.

Why: the paper's idea is that the control module picks different kernels for different
inputs. Whether a trained network uses that is measurable: feed it several inputs, look
at how far each sample's mixing coefficients stray from their mean over the samples, and
re-run the network with every sample's coefficients replaced by that mean. If the output
barely moves, the network is, on those inputs, one static convolution per layer.

Conventions: coefficients are (B, n, rows, E) per block (see ControlModule); "spread" is
the L1 distance of a row from its across-sample mean, averaged over samples and rows
(0 = static; at most 2); output changes are RMS over all output values in 8-bit levels
(x 255), images in [0, 1].
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)
import numpy as np  # noqa: E402
from mindspore import Tensor  # noqa: E402

from src.config import ConfigError  # noqa: E402
from src.images import to_uint8  # noqa: E402
from src.metrics import psnr, rgb_to_y  # noqa: E402
from research import checkpoint_probe_parser  # noqa: E402


def coefficients(net, images):
    """[(N, n, rows, E) numpy] per block with a control module, one row per image of
    ``images``, a list of (1, 3, H, W) tensors (sizes may differ, so each runs on its own)."""
    per_image = []
    for x in images:
        blocks = net.activations(x)["blocks"]
        per_image.append([b["coefficients"].asnumpy()[0] for b in blocks
                          if b["coefficients"] is not None])
    return [np.stack(rows) for rows in zip(*per_image)]


def forward_with_fixed_coefficients(net, x, fixed):
    """net(x) with block k's coefficients replaced by ``fixed[k]`` (n, rows, E) for every
    sample."""
    return net.activations(x, coefficients=fixed)["sr"]


def control_probe(net, images, targets=None, border=0):
    """{'per_conv': [{block, conv, top, spread}], 'frozen_rms', 'frozen_max'} for ``images``
    (a list of (1, 3, H, W) tensors, pynative mode); with ``targets`` (a uint8 (sH, sW, 3)
    ground truth per image) also 'psnr_y' and 'psnr_y_frozen', mean PSNR-Y (``border``
    pixels cropped) of the 8-bit outputs with own and with mean coefficients.

    top: mean over images and rows of the largest coefficient (1/E = uniform mix).
    spread: mean L1 distance of a coefficient row from its mean over the images.
    frozen_rms / frozen_max: RMS and largest change of the output (x 255) when every
    image's coefficients are replaced by the mean over the images.
    """
    blocks = coefficients(net, images)
    if not blocks:
        raise ConfigError("the network has no assembled or dynamic block to probe "
                          "(block_type plain)")
    means = [c.mean(axis=0) for c in blocks]                      # (n, rows, E) each
    per_conv = []
    for b, c in enumerate(blocks):
        for i in range(c.shape[1]):
            rows = c[:, i]                                          # (N, rows, E)
            per_conv.append({"block": b, "conv": i, "top": float(rows.max(axis=-1).mean()),
                             "spread": float(np.abs(rows - means[b][i]).sum(-1).mean())})
    squares, count, largest, psnrs = 0.0, 0, 0.0, []
    for k, x in enumerate(images):
        own = net(x).asnumpy()                                      # (1, 3, sH, sW)
        frozen = forward_with_fixed_coefficients(net, x, means).asnumpy()
        change = (own - frozen) * 255.0
        squares += float(np.square(change).sum())
        count += change.size
        largest = max(largest, float(np.abs(change).max()))
        if targets is not None:
            psnrs.append([psnr(rgb_to_y(to_uint8(out[0].transpose(1, 2, 0))),
                               rgb_to_y(targets[k]), border) for out in (own, frozen)])
    result = {"per_conv": per_conv, "frozen_rms": (squares / count) ** 0.5,
              "frozen_max": largest}
    if psnrs:
        result["psnr_y"], result["psnr_y_frozen"] = (float(v) for v in np.mean(psnrs, axis=0))
    return result


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
    parser = checkpoint_probe_parser(__doc__.split("\n")[0], 64, "crop side (LR pixels)")
    parser.add_argument("--fresh", action="store_true",
                        help="probe a freshly initialised network of the checkpoint's config "
                             "(seed 0) instead of its weights: what training started from")
    args = parser.parse_args()
    from src.runtime import setup
    setup("CPU", "pynative", seed=0)
    from src.checkpoint import load_trained_model_or_exit
    from src.data.dataset import load_eval_pairs
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
