"""Count dead ReLU channels of a trained AsConvSR: channels that never fire on any image.

    python scripts/relu_census.py --ckpt_path pretrained/asconvsr_x3/asconvsr_x3.ckpt \
        [--data_dir data/val] [--crop 192]

A bias-free ReLU channel whose pre-activation is negative everywhere gets no gradient and
never recovers; a layer of them cuts the network down to its nearest-neighbour residual.
For each ReLU (after conv_first and after every block conv) this prints how many
channels are zero on a centre crop of every image, and the fraction of positive outputs.
Uses the config.yaml beside the checkpoint (or --config_path).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)


def relu_outputs(net, x):
    """The network's ReLU outputs in order, (B, C, h, w) each."""
    feat = net.relu(net.conv_first(net.unshuffle(x) if net.unshuffle is not None else x))
    outputs = [feat]
    for block in net.blocks:
        coeffs = block.control(feat) if hasattr(block, "control") else None
        for i, conv in enumerate(block.convs):
            feat = conv(feat, coeffs[:, i]) if coeffs is not None else conv(feat)
            if block.relu_flags[i]:
                feat = block.relu(feat)
                outputs.append(feat)
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data_dir", default="data/val")
    parser.add_argument("--crop", type=int, default=192, help="centre crop side (LR pixels)")
    args = parser.parse_args()
    from src.runtime import setup
    setup("CPU", "pynative")
    import numpy as np
    from mindspore import Tensor
    from src.checkpoint import CheckpointError, config_for_checkpoint, load_model_weights
    from src.data.images import list_images, read_rgb
    from src.model.asconvsr import build_model
    if not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir '{args.data_dir}' is not a folder; run scripts/prepare_data.sh")
    cfg = config_for_checkpoint(args.ckpt_path, args.config_path)
    net = build_model(cfg)
    try:
        load_model_weights(net, args.ckpt_path)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    size = args.crop - args.crop % cfg.unshuffle
    crops = []
    for path in list_images(args.data_dir):
        img = read_rgb(path, quiet=True)
        if min(img.shape[:2]) < size:
            continue
        top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        crops.append(img[top:top + size, left:left + size].transpose(2, 0, 1) / 255.0)
    if not crops:
        sys.exit(f"error: no image in '{args.data_dir}' is at least {size}x{size}")
    net.set_train(False)
    outputs = relu_outputs(net, Tensor(np.stack(crops).astype(np.float32)))
    names = ["conv_first"] + [f"blocks.{b}.convs.{i}" for b, block in enumerate(net.blocks)
                              for i, flag in enumerate(block.relu_flags) if flag]
    print(f"{args.ckpt_path}: {len(crops)} crops of {size}x{size} from {args.data_dir}")
    for name, out in zip(names, outputs):
        out = out.asnumpy()
        dead = int((out.max(axis=(0, 2, 3)) <= 0).sum())
        print(f"{name:18s} dead channels {dead:3d}/{out.shape[1]}   positive outputs {(out > 0).mean():.3f}")


if __name__ == "__main__":
    main()
