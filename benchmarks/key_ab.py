"""What does one config key's value cost on this CPU, per inference call or per training step?

    python benchmarks/key_ab.py [--config_path configs/asconvsr_x2_nounshuffle.yaml]
        [--key reparam] [--values none,ecb] [--step train] [--shape 16x64] [--rounds 20]
    python benchmarks/key_ab.py --step forward --key block_type --values plain,assembled
        [--config_path configs/asconvsr_x2.yaml] [--size 1080x1920] [--rounds 12]

Builds the preset twice, with each of two values of one config key, freshly initialised
(timing does not depend on the weights), graph mode, and times the two in alternation in
one process (benchmarks/timing.py alternating_medians; the calls are
benchmarks/profile_ops.py build_call's): separate processes differ by
10-15% here. It prints both medians and the ratio second/first.
- `--step train`: the training step (Charbonnier + Adam, forward and backward) on a
  synthetic batch of `--shape` (batch x LR patch).
- `--step forward`: the network at batch 1 on a random `--size` (LR H x W), output
  copied to numpy.

Keys worth timing this way:
- block_type plain,assembled: at batch 1 the assembled convolution is one ordinary
  convolution with a kernel built per image, so the difference is the control module
  and the kernel matmuls; in training, the grouped convolution of per-sample kernels.
- reparam none,ecb (training only: eval, infer and export run the folded network, which
  is the reparam none network): ecb adds building each kernel from its branches and
  their gradients.
- assembled_impl kernel_first,basis_first: the same function, computed as one grouped
  convolution of per-sample kernels or as a shared convolution then per-sample mixing.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2_nounshuffle.yaml")
    parser.add_argument("--key", default="reparam", help="the config key to vary")
    parser.add_argument("--values", default="none,ecb", help="its two values, a,b")
    parser.add_argument("--step", choices=("train", "forward"), default="train",
                        help="time a training step or an inference call")
    parser.add_argument("--shape", default="16x64", help="--step train: batch x LR patch")
    parser.add_argument("--size", default="1080x1920", help="--step forward: LR HxW")
    parser.add_argument("--rounds", type=int, default=20, help="timed calls of each")
    args = parser.parse_args()
    values = args.values.split(",")
    if len(values) != 2:
        parser.error(f"--values takes two values a,b; got '{args.values}'")
    from src.config import load_config
    from src.runtime import setup
    from benchmarks.profile_ops import build_call
    from benchmarks.timing import alternating_medians
    setup("CPU", "graph", seed=0)
    configs = {value: load_config(args.config_path, {args.key: value}) for value in values}
    if args.step == "train":
        calls = {value: build_call(cfg, "step", shape=args.shape) for value, cfg in configs.items()}
        batch, patch = args.shape.lower().split("x")
        what = f"batch {batch} x LR {patch}, {args.rounds} alternating steps each"
    else:
        calls = {value: build_call(cfg, "forward", size=args.size) for value, cfg in configs.items()}
        height, width = args.size.lower().split("x")
        what = f"forward at {width}x{height}, {args.rounds} alternating calls each"
    medians = alternating_medians(calls, args.rounds)
    (first, a), (second, b) = ((value, medians[value] * 1e3) for value in values)
    print(f"{args.config_path}, {what}: {args.key} {first} {a:.1f} ms, {second} {b:.1f} ms, "
          f"{second}/{first} {b / a:.2f}")


if __name__ == "__main__":
    main()
