"""Count dead ReLU channels of a trained AsConvSR: channels that never fire on any image.

    python research/relu_census.py --model pretrained/asconvsr_x3/asconvsr_x3.ckpt \
        [--data_dir data/val] [--crop 192] [--config_path YAML]

For each ReLU (after conv_first and after every block conv) this prints how many
channels are zero on a centre crop of every image, and the fraction of positive
outputs; why it matters is in research/census.py. Uses the config.yaml beside the
checkpoint unless --config_path is given.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)
from research import checkpoint_probe_parser  # noqa: E402


def main():
    parser = checkpoint_probe_parser(__doc__.split("\n")[0], 192, "centre crop side (LR pixels)")
    args = parser.parse_args()
    from src.runtime import setup
    setup("CPU", "pynative")
    from mindspore import Tensor
    from src.checkpoint import load_trained_model_or_exit
    from research.census import COLLAPSED_BELOW, folder_centre_crops, relu_census
    if not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir '{args.data_dir}' is not a folder; run scripts/prepare_data.sh")
    net, model_cfg = load_trained_model_or_exit(args.ckpt_path, args.config_path)
    crops = folder_centre_crops(args.data_dir, args.crop, model_cfg.unshuffle)
    if crops is None:
        sys.exit(f"error: no image in '{args.data_dir}' is at least {args.crop}x{args.crop}; "
                 f"pass a smaller --crop")
    rows = relu_census(net, Tensor(crops))
    print(f"{args.ckpt_path}: {len(crops)} crops of {crops.shape[-1]}x{crops.shape[-1]} "
          f"from {args.data_dir}")
    for row in rows:
        print(f"{row['name']:18s} dead channels {row['dead']:3d}/{row['channels']}   "
              f"positive outputs {row['positive']:.3f}")
    if rows and rows[-1]["positive"] < COLLAPSED_BELOW:
        print("collapsed: the last ReLU is (almost) all zero; the output is the "
              "nearest-neighbour residual")


if __name__ == "__main__":
    main()
