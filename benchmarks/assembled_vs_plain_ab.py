"""Is the assembled block slower than a plain-conv block of the same shape on this CPU?

    python benchmarks/assembled_vs_plain_ab.py [--config_path configs/asconvsr_x2.yaml]
        [--size 1080x1920] [--rounds 12]

Builds the preset (assembled) and the same preset with block_type plain, freshly
initialised (timing does not depend on the weights), graph mode, batch 1, output copied
to numpy, and times them in alternation in one process (benchmarks/timing.py
alternating_medians): separate processes differ by 10-15% here. At batch 1 the
assembled convolution is one ordinary convolution with a kernel built per image, so
the difference is the control module and the kernel matmuls.
"""
import argparse
import os
import sys
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2.yaml")
    parser.add_argument("--size", default="1080x1920", help="LR input HxW")
    parser.add_argument("--rounds", type=int, default=12, help="timed calls of each")
    args = parser.parse_args()
    import numpy as np
    from src.config import load_config
    from benchmarks.timing import alternating_medians
    from src.model.asconvsr import AsConvSRConfig, build_model
    from src.runtime import setup
    ms = setup("CPU", "graph", seed=0)
    cfg = AsConvSRConfig.from_dict(load_config(args.config_path))
    nets = {"assembled": build_model(cfg), "plain": build_model(replace(cfg, block_type="plain"))}
    height, width = (int(v) for v in args.size.split("x"))
    x = ms.Tensor(np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32))
    for net in nets.values():
        net.set_train(False)
    medians = alternating_medians({name: (lambda net=net: net(x).asnumpy())
                                   for name, net in nets.items()}, args.rounds)
    assembled, plain = medians["assembled"] * 1e3, medians["plain"] * 1e3
    print(f"{args.config_path} at {width}x{height}, {args.rounds} alternating calls each: "
          f"assembled {assembled:.1f} ms, plain {plain:.1f} ms, assembled/plain "
          f"{assembled / plain:.2f}")


if __name__ == "__main__":
    main()
