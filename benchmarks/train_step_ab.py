"""What does one config key's value cost per training step on this CPU?

    python benchmarks/train_step_ab.py [--config_path configs/asconvsr_x2_nounshuffle.yaml]
        [--key reparam] [--values none,ecb] [--shape 16x64] [--rounds 20]

Builds the preset's training step (Charbonnier + Adam, forward and backward, synthetic
batch) with each of two values of one config key, graph mode, and times them in
alternation in one process (benchmarks/timing.py alternating_medians): separate
processes differ by 10-15% here. Keys worth timing this way:
- reparam none,ecb: the same convolutions; ecb adds building each kernel from its
  branches and their gradients. Inference is not timed: eval, infer and export run the
  folded network, which is the reparam none network.
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
    parser.add_argument("--shape", default="16x64", help="batch x LR patch")
    parser.add_argument("--rounds", type=int, default=20, help="timed steps of each")
    args = parser.parse_args()
    from src.config import load_config
    from src.runtime import setup
    from benchmarks.benchmark_train import mindspore_step
    from benchmarks.timing import alternating_medians
    first, second = args.values.split(",")
    setup("CPU", "graph", seed=0)
    batch, patch = (int(v) for v in args.shape.split("x"))
    steps = {value: mindspore_step(load_config(args.config_path, {args.key: value}), batch,
                                   patch)[1] for value in (first, second)}
    medians = alternating_medians(steps, args.rounds)
    a, b = medians[first] * 1e3, medians[second] * 1e3
    print(f"{args.config_path}, batch {batch} x LR {patch}, {args.rounds} alternating steps "
          f"each: {args.key} {first} {a:.1f} ms, {second} {b:.1f} ms, "
          f"{second}/{first} {b / a:.2f}")


if __name__ == "__main__":
    main()
