"""Which MindSpore CPU runtime settings make AsConvSR faster here? One process per setting.

    python benchmarks/runtime_settings.py [--config_path configs/asconvsr_x2.yaml]
        [--runs 15] [--warmup 3] [--no_torch]

Each setting runs in a fresh process (the kernel thread count can be set only once per
process): CPU kernel threads (``mindspore.device_context.cpu.op_tuning.threads_num``;
MindSpore's default is 25 whatever the core count), the graph jit level (O0, O1),
MindSpore's graph-kernel fusion (``enable_graph_kernel``: element-wise operators fused
into kernels its AKG compiler builds; needs ``pip install decorator``) and the cores the
process may use. It prints the median training step (batch 16, LR patch 64, Charbonnier
+ Adam) and the median x2 forward of a 960x540 input, each as a ratio to MindSpore's
defaults in the same run. Separate processes differ by 10-15% here, so a small gap
between two rows is noise; benchmarks/graph_kernel_ab.py times fusion against no
fusion within one process. With PyTorch installed,
the same network's step at 1 and 2 threads is the peer.

``threads_num 1`` does not make MindSpore single-core: its actor thread and one kernel
thread still run kernels side by side (``/proc/self/task`` shows both busy). The
"1 core" rows pin the process with ``os.sched_setaffinity`` instead, which is what tells
how well each framework uses the second core. The project keeps whichever setting wins
(see README, Performance).
"""
import argparse
import importlib.util
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (threads_num, jit_level or "graph_kernel", cores): "all" cores or "1" (pinned by CPU
# affinity)
SETTINGS = [("default", "none", "all"), ("1", "none", "all"), ("2", "none", "all"),
            ("4", "none", "all"), ("default", "O1", "all"), ("2", "O1", "all"),
            ("default", "graph_kernel", "all"), ("default", "none", "1")]


def measure_mindspore(config_path, threads, jit_level, runs, warmup):
    """Median seconds of (training step, forward) under one setting, in this process."""
    import src  # noqa: F401  (runtime environment before mindspore)
    from benchmarks.timing import median_seconds
    from src.runtime import setup
    fusion = jit_level == "graph_kernel"
    ms = setup("CPU", "graph", seed=0,
               jit_level=None if jit_level == "none" or fusion else jit_level)
    if fusion:      # AKG's kernels go to a temporary folder, not the working directory
        import tempfile
        os.environ.setdefault("MS_COMPILER_CACHE_PATH", tempfile.mkdtemp(prefix="akg_"))
        ms.set_context(enable_graph_kernel=True)
    if threads != "default":
        ms.device_context.cpu.op_tuning.threads_num(int(threads))
    from benchmarks.profile_ops import build_call
    from src.config import load_config
    cfg = load_config(config_path)
    step = median_seconds(build_call(cfg, "step", shape="16x64"), warmup, runs)
    forward = median_seconds(build_call(cfg, "forward", size="540x960"), 1, max(3, runs // 3))
    return step, forward


def measure_torch(config_path, threads, runs, warmup):
    """Median seconds of the PyTorch twin's training step at ``threads`` threads."""
    import torch
    import src  # noqa: F401
    from benchmarks.benchmark_train import mindspore_step, torch_step
    from benchmarks.timing import median_seconds
    from src.runtime import setup
    setup("CPU", "pynative", seed=0)
    torch.set_num_threads(int(threads))
    from src.config import load_config
    from src.model.asconvsr import AsConvSRConfig
    cfg = load_config(config_path)
    net, _, (lr, hr) = mindspore_step(cfg, 16, 64)        # the batch the MindSpore rows time
    step, _ = torch_step(cfg, AsConvSRConfig.from_dict(cfg), net, lr, hr)
    return median_seconds(step, warmup, runs)


def pin_to_one_core():
    """Confine this process (and every thread it starts later) to one CPU."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def child(args):
    """Measure one setting and print one machine-readable line."""
    if args.one[-1] == "1":
        pin_to_one_core()
    if args.one[0] == "torch":
        print(f"RESULT {measure_torch(args.config_path, args.one[1], args.runs, args.warmup)}")
    else:
        step, forward = measure_mindspore(args.config_path, *args.one[:2], args.runs,
                                          args.warmup)
        print(f"RESULT {step} {forward}")


def run_child(args, *setting):
    cmd = [sys.executable, os.path.abspath(__file__), "--config_path", args.config_path,
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--one", *setting]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return [float(v) for v in line.split()[1:]]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise SystemExit(f"setting {setting} failed: {tail}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2.yaml")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no_torch", action="store_true")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return child(args)
    from benchmarks.timing import cpu_name
    print(f"# {args.config_path}, {cpu_name()}, {os.cpu_count()} cpus, medians of {args.runs} "
          f"steps after {args.warmup} warm-ups; ratios against MindSpore's defaults in this run")
    print("| MindSpore setting | train step 16x64 (ms) | vs default | forward 960x540 x2 (ms) "
          "| vs default |")
    print("| --- | --- | --- | --- | --- |")
    base = None
    for threads, jit_level, cores in SETTINGS:
        if jit_level == "graph_kernel" and importlib.util.find_spec("decorator") is None:
            print("| graph_kernel True: skipped, MindSpore's AKG compiler needs "
                  "`pip install decorator` | | | | |")
            continue
        step, forward = run_child(args, threads, jit_level, cores)
        base = base or (step, forward)
        level = {"none": "jit_level default (O0)",
                 "graph_kernel": "graph_kernel True"}.get(jit_level, f"jit_level {jit_level}")
        name = (f"threads_num {threads}, {level}"
                f"{', pinned to 1 core' if cores == '1' else ''}")
        print(f"| {name} | {step * 1e3:.1f} | {step / base[0]:.2f}x | {forward * 1e3:.1f} | "
              f"{forward / base[1]:.2f}x |", flush=True)
    if args.no_torch:
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        print("(PyTorch not installed: pip install torch==2.13.0 for the peer rows)")
        return None
    for threads, cores in (("1", "1"), ("2", "all")):
        step = run_child(args, "torch", threads, cores)[0]
        where = ", pinned to 1 core" if cores == "1" else ""
        print(f"| PyTorch peer, {threads} thread(s){where} | {step * 1e3:.1f} | "
              f"{step / base[0]:.2f}x | | |", flush=True)
    return None


if __name__ == "__main__":
    main()
