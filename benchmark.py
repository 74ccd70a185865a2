"""Inference latency of AsConvSR (NTIRE 2023 RTSR tracks): MindSpore, MINDIR, ONNX Runtime.

    python benchmark.py [--runs 5] [--warmup 2] [--tracks x2,x3] [--small]
    python benchmark.py --device GPU --fp16          # for GPU users

x2: 1920x1080 -> 3840x2160 with configs/asconvsr_x2.yaml; x3: 1280x720 -> 3840x2160 with
configs/asconvsr_x3.yaml; batch 1, freshly initialised weights (timing does not depend
on their values). Prints the median latency of each implementation, its ratio to ONNX
Runtime in the same run, params, MACs and GMAC/s, and (CPU) a matmul reference rate.
--small divides both input sizes by 10 for a quick smoke run. See docs/deploy.md.
"""
import argparse

import src  # noqa: F401  (applies the runtime environment before mindspore loads)
from src.config import ConfigError, run_main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is shown)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--tracks", default="x2,x3", help="comma list of x2, x3")
    parser.add_argument("--small", action="store_true", help="inputs 10x smaller: smoke run")
    parser.add_argument("--device", default="CPU", choices=["CPU", "GPU", "Ascend"])
    parser.add_argument("--fp16", action="store_true",
                        help="float16 MindSpore rows (GPU/Ascend); ONNX Runtime stays fp32")
    parser.add_argument("--jit_level", default=None, choices=["O0", "O1"],
                        help="MindSpore graph-kernel level (default: MindSpore's)")
    args = parser.parse_args(argv)
    args.tracks = [t.strip() for t in args.tracks.split(",") if t.strip()]
    if not set(args.tracks) <= {"x2", "x3"} or not args.tracks:
        raise ConfigError(f"--tracks takes x2 and/or x3, got {args.tracks}")
    if args.runs < 1 or args.warmup < 0:
        raise ConfigError("--runs must be >= 1 and --warmup >= 0")
    if args.fp16:
        from src.engine.amp import require_accelerator
        require_accelerator("--fp16", args.device)
    return args


def main():
    args = parse_args()
    from src.runtime import setup
    setup(args.device, "graph", jit_level=args.jit_level)
    from benchmarks.inference import run_benchmark
    run_benchmark(args)


if __name__ == "__main__":
    run_main(main)
