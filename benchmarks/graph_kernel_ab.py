"""Does MindSpore's graph-kernel fusion speed up the AsConvSR forward on this CPU?

    python benchmarks/graph_kernel_ab.py [--size 1080x1920] [--rounds 12]
        [--model pretrained/asconvsr_x2/asconvsr_x2.ckpt]

``enable_graph_kernel`` fuses element-wise operators (ReLU, adds, reshapes) into kernels
compiled by MindSpore's AKG compiler (which imports the ``decorator`` package:
``pip install decorator``). A compiled graph keeps the setting it was built with, so
one process holds both versions of the same network, and the timed calls alternate
between them (A B, B A, ...): timings taken in separate processes on these machines
differ by 10-15% from process to process, more than the effect being measured. Prints
the median of each and their ratio. Not used by any entry point: it did not win here
(README, Performance). AKG writes its kernels under MS_COMPILER_CACHE_PATH (set here to
a temporary folder) and a ``dsa_transfrom.log`` into the working directory.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2.yaml")
    parser.add_argument("--model", "--ckpt", dest="ckpt",
                        default="pretrained/asconvsr_x2/asconvsr_x2.ckpt",
                        help="weights to time ('' = fresh initialisation; --ckpt: the same)")
    parser.add_argument("--size", default="1080x1920", help="LR input HxW")
    parser.add_argument("--rounds", type=int, default=12, help="timed calls of each")
    return parser.parse_args(argv)


def main():
    args = parse_args()
    try:
        import decorator  # noqa: F401
    except ImportError:
        raise SystemExit("graph_kernel_ab: MindSpore's kernel compiler needs the "
                         "'decorator' package: pip install decorator")
    os.environ.setdefault("MS_COMPILER_CACHE_PATH", tempfile.mkdtemp(prefix="akg_"))
    import numpy as np
    from src.config import load_config
    from benchmarks.timing import alternating_medians
    from src.checkpoint import copy_weights
    from src.model.asconvsr import AsConvSRConfig, build_model
    from src.runtime import setup
    ms = setup("CPU", "graph", seed=0)
    cfg = AsConvSRConfig.from_dict(load_config(args.config_path))
    unfused = build_model(cfg)
    if args.ckpt:
        ms.load_checkpoint(args.ckpt, unfused)
    height, width = (int(v) for v in args.size.split("x"))
    x = ms.Tensor(np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32))
    unfused.set_train(False)
    reference = unfused(x).asnumpy()                 # compiled with fusion off
    ms.set_context(enable_graph_kernel=True)
    fused = copy_weights(unfused, build_model(cfg))
    fused.set_train(False)
    difference = float(np.abs(fused(x).asnumpy() - reference).max())   # compiled with it on
    medians = alternating_medians({"unfused": lambda: unfused(x).asnumpy(),
                                   "fused": lambda: fused(x).asnumpy()}, args.rounds)
    plain, fusion = (medians[k] * 1e3 for k in ("unfused", "fused"))
    print(f"{args.config_path} at {width}x{height}, weights {args.ckpt or 'fresh'}, "
          f"{args.rounds} alternating calls each: unfused {plain:.1f} ms, graph-kernel "
          f"fusion {fusion:.1f} ms, fused/unfused {fusion / plain:.3f}; "
          f"max |output difference| {difference:.2e}")


if __name__ == "__main__":
    main()
