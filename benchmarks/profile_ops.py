"""Where the CPU time goes, per operator: mindspore.Profiler over a forward or a training step.

    python benchmarks/profile_ops.py --what forward --size 1080x1920 [--cell training|deploy]
    python benchmarks/profile_ops.py --what step --shape 16x64
        [--config_path configs/asconvsr_x2.yaml] [--runs 3] [--top 15]

Prints the operator time per run (the sum over MindSpore's CPU kernels, from the
profiler's ``cpu_op_detail_info`` table), the part spent in convolutions, and the
dearest operators. The figures of the README's Performance and Training sections
(convolutions' share, the ReduceMean that the row-mean pooling replaced) come from it.
Operator time under the profiler is a little above the wall time benchmark.py reports.
"""
import argparse
import csv
import glob
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore)


def build_call(cfg, what, size="1080x1920", shape="16x64", cell="training"):
    """A no-argument function running the network of config ``cfg`` once: ``what``
    "forward" on a random (1,3,H,W) input of ``size`` "HxW" (output copied to numpy;
    ``cell`` "deploy" runs the deploy form), or "step", one training step on a random
    batch of ``shape`` "BATCHxLR_PATCH" (benchmark_train.mindspore_step)."""
    from mindspore import Tensor
    from benchmarks.benchmark_train import mindspore_step
    from src.model.asconvsr import AsConvSRConfig, build_model
    if what == "step":
        batch, patch = (int(v) for v in shape.lower().split("x"))
        return mindspore_step(cfg, batch, patch)[1]
    height, width = (int(v) for v in size.lower().split("x"))
    net = build_model(AsConvSRConfig.from_dict(cfg))
    net.set_train(False)
    if cell == "deploy":
        from src.deploy.network import deploy_from_training
        net = deploy_from_training(net)
    x = Tensor(np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32))
    return lambda: net(x).asnumpy()


def op_rows(folder):
    """(op_type, full_op_name, total ms) of every kernel in the profiler's table."""
    tables = glob.glob(os.path.join(folder, "*", "FRAMEWORK", "cpu_op_detail_info_*.csv"))
    if not tables:
        raise SystemExit(f"no cpu_op_detail_info table under '{folder}': the profiler wrote "
                         f"nothing (is this a CPU run?)")
    with open(tables[0], encoding="utf-8") as handle:
        return [(r["op_type"], r["full_op_name"], float(r["op_total_time(ms)"]))
                for r in csv.DictReader(handle)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2.yaml")
    parser.add_argument("--what", choices=["forward", "step"], default="forward")
    parser.add_argument("--size", default="1080x1920", help="forward input HxW")
    parser.add_argument("--cell", choices=["training", "deploy"], default="training")
    parser.add_argument("--shape", default="16x64", help="step BATCHxLR_PATCH")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    from src.config import load_config
    from src.runtime import setup
    ms = setup("CPU", "graph", seed=0)
    from mindspore import Profiler
    cfg = load_config(args.config_path)
    call = build_call(cfg, args.what, args.size, args.shape, args.cell)
    for _ in range(2):                          # compile and warm up outside the profile
        call()
    with tempfile.TemporaryDirectory() as folder:
        profiler = Profiler(output_path=folder)
        for _ in range(args.runs):
            call()
        profiler.stop()
        profiler.analyse()
        rows = op_rows(folder)
    total = sum(ms_ for _, _, ms_ in rows) / args.runs
    conv = sum(ms_ for op, _, ms_ in rows if op.startswith("Conv2D")) / args.runs
    what = (f"forward {args.size} ({args.cell} cell)" if args.what == "forward"
            else f"training step {args.shape}")
    print(f"# {args.config_path}, {what}, mindspore {ms.__version__}, {args.runs} profiled runs")
    print(f"operator time per run: {total:.1f} ms, of which Conv2D* (forward and gradients) "
          f"{conv:.1f} ms ({100 * conv / total:.0f}%)")
    print("| ms per run | operator | name |\n| --- | --- | --- |")
    for op, name, ms_ in sorted(rows, key=lambda r: -r[2])[:args.top]:
        print(f"| {ms_ / args.runs:.2f} | {op} | {name[-70:]} |")


if __name__ == "__main__":
    main()
