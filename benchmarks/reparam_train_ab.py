"""What does ECB re-parameterised training cost per training step on this CPU?

    python benchmarks/reparam_train_ab.py [--config_path configs/asconvsr_x2_nounshuffle.yaml]
        [--shape 16x64] [--rounds 20]

Builds the preset's training step (Charbonnier + Adam, forward and backward, synthetic
batch) with reparam none and with reparam ecb, graph mode, and times them in alternation
in one process (benchmarks/timing.py alternating_medians): separate processes differ by
10-15% here. The two steps run the same convolutions; ecb adds building each kernel
from its branches and their gradients. Inference is not timed: eval, infer and export
run the folded network, which is the reparam none network.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2_nounshuffle.yaml")
    parser.add_argument("--shape", default="16x64", help="batch x LR patch")
    parser.add_argument("--rounds", type=int, default=20, help="timed steps of each")
    args = parser.parse_args()
    from src.config import load_config
    from src.runtime import setup
    from benchmarks.benchmark_train import mindspore_step
    from benchmarks.timing import alternating_medians
    setup("CPU", "graph", seed=0)
    batch, patch = (int(v) for v in args.shape.split("x"))
    steps = {name: mindspore_step(load_config(args.config_path, {"reparam": name}), batch,
                                  patch)[1] for name in ("none", "ecb")}
    medians = alternating_medians(steps, args.rounds)
    none, ecb = medians["none"] * 1e3, medians["ecb"] * 1e3
    print(f"{args.config_path}, batch {batch} x LR {patch}, {args.rounds} alternating steps "
          f"each: reparam none {none:.1f} ms, ecb {ecb:.1f} ms, ecb/none {ecb / none:.2f}")


if __name__ == "__main__":
    main()
