"""The paper's ablations on our data: train every variant with the same budget, then report.

    python research/ablation.py train  --iters N [--batch_size B] [--lr_patch_size P] [--out runs/ablation]
                                      [--min_patch_texture T] [--train_lr_dir DIR]
    python research/ablation.py report [--out runs/ablation] [--latency_runs 7]

``train`` runs train.py once per variant (same data, seed, iterations; each variant is
the x2 preset plus the overrides in VARIANTS) and skips variants whose run finished.
``report`` reads each run's final validation (history.json), measures CPU latency of a
1920x1080 -> 3840x2160 forward in graph mode (median of ``--latency_runs`` rounds after
two warm-up rounds; all variants in one process, timed round-robin), and writes
ablation.md (table), ablation.json and ablation.png (PSNR-Y gain over bicubic against
latency, one point per variant). It also
runs the dead-ReLU census (research/census.py) on each run's final weights and marks a
variant "collapsed" when its last ReLU is positive on < 1% of val-crop outputs: such a
row measures the collapse, not the variant.
NTIRE score = 2 * 2^(PSNR - PSNR_bicubic) / (0.1 * sqrt(latency_ms)) with our CPU latency,
so only comparable within one table.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# name -> (paper question, config overrides on top of configs/asconvsr_x2.yaml)
VARIANTS = {
    "assembled (paper)": ("conv type", {}),
    "plain conv": ("conv type", {"block_type": "plain"}),
    "dynamic conv (E=4)": ("conv type", {"block_type": "dynamic"}),
    "no global residual": ("global residual", {"residual": "none"}),
    "bicubic residual": ("residual type", {"residual": "bicubic"}),
    "with bias": ("bias", {"bias": True}),
    "unshuffle 1, C=16": ("unshuffle at ~equal MACs", {"unshuffle": 1, "channels": 16, "num_kernels": 16}),
    "unshuffle 4, C=64": ("unshuffle at ~equal MACs", {"unshuffle": 4, "channels": 64, "num_kernels": 64}),
    "channels 16": ("channels", {"channels": 16, "num_kernels": 16}),
    "channels 64": ("channels", {"channels": 64, "num_kernels": 64}),
}


def slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def train_variants(args):
    for name, (_, overrides) in VARIANTS.items():
        out = os.path.join(args.out, slug(name))
        log = os.path.join(out, "train.log")
        if os.path.isfile(log) and "done:" in open(log).read():
            print(f"[ablation] {name}: already trained ({out})")
            continue
        flags = []
        for key, value in overrides.items():
            flags += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
        command = [sys.executable, "train.py", "--config_path", "configs/asconvsr_x2.yaml",
                   "--total_iters", str(args.iters), "--batch_size", str(args.batch_size),
                   "--lr_patch_size", str(args.lr_patch_size), "--val_every", str(args.iters),
                   "--warmup_iters", str(min(1000, max(1, args.iters // 10))),
                   "--ckpt_every", str(max(1, args.iters // 4)), "--log_every",
                   str(max(1, args.iters // 10)), "--seed", str(args.seed),
                   "--min_patch_texture", str(args.min_patch_texture), "--output_dir", out,
                   *(["--train_lr_dir", args.train_lr_dir] if args.train_lr_dir else []), *flags]
        print(f"[ablation] {name}: {' '.join(command[1:])}", flush=True)
        started = time.time()
        subprocess.run(command, cwd=ROOT, check=True)
        print(f"[ablation] {name}: {time.time() - started:.0f} s", flush=True)


def latencies_ms(cfgs, runs):
    """{name: median wall time (ms) of a 1080p forward} for {name: config}: graph mode,
    fresh weights (speed only), every variant built in this process and timed in
    alternation, round-robin with the order reversed every round (benchmarks/timing.py
    alternating_medians), after two warm-up rounds (the compile, then a first run that still
    allocates). Timed one variant after another instead, the same network's latency moved
    by 15-25% between measurements here, more than many of the gaps measured."""
    import numpy as np
    from mindspore import Tensor
    from benchmarks.timing import alternating_medians
    from src.model.asconvsr import AsConvSRConfig, build_model
    x = Tensor(np.random.default_rng(0).random((1, 3, 1080, 1920), dtype=np.float32))
    calls = {}
    for name, cfg in cfgs.items():
        net = build_model(AsConvSRConfig.from_dict(cfg))
        net.set_train(False)
        calls[name] = lambda net=net: net(x).asnumpy()
    return {name: seconds * 1000 for name, seconds in alternating_medians(calls, runs).items()}


def last_relu_positive(cfg, ckpt_path, crops):
    """Fraction of positive outputs of the last ReLU of the run's final weights."""
    from mindspore import Tensor
    from src.checkpoint import load_trained_model
    from research.census import relu_census
    net, _ = load_trained_model(cfg, ckpt_path)
    rows = relu_census(net, Tensor(crops))
    return rows[-1]["positive"] if rows else 1.0


def report(args):
    import src  # noqa: F401
    from src.config import load_config
    from src.metrics import ntire_score
    from src.model.asconvsr import AsConvSRConfig
    from src.model.complexity import count_macs, count_params
    from src.runtime import setup
    setup("CPU", "graph")
    from research.census import COLLAPSED_BELOW, folder_centre_crops
    runs = {}
    for name in VARIANTS:
        out = os.path.join(args.out, slug(name))
        if os.path.isfile(os.path.join(out, "history.json")):
            runs[name] = out
        else:
            print(f"[ablation] {name}: no run in {out}, skipped")
    cfgs = {name: load_config(os.path.join(out, "config.yaml")) for name, out in runs.items()}
    latency = latencies_ms(cfgs, args.latency_runs) if cfgs else {}
    rows, crops = [], None
    for name, out in runs.items():
        question, cfg = VARIANTS[name][0], cfgs[name]
        final = json.load(open(os.path.join(out, "history.json")))["val"][-1]
        model_cfg = AsConvSRConfig.from_dict(cfg)
        if crops is None:   # 96x96 val crops, a multiple of every unshuffle factor used (1, 2, 4)
            crops = folder_centre_crops(cfg.val_dir, 96, 12)
        live = last_relu_positive(cfg, os.path.join(out, "latest.ckpt"), crops)
        gain = final["psnr_y"] - final["bicubic_psnr_y"]
        rows.append({"variant": name, "question": question, "params": count_params(model_cfg),
                     "gmacs_1080p": count_macs(model_cfg, 1080, 1920) / 1e9,
                     "latency_ms_1080p": latency[name], "psnr_y": final["psnr_y"],
                     "bicubic_psnr_y": final["bicubic_psnr_y"], "gain_y": gain,
                     "ntire_score": ntire_score(final["psnr_y"], final["bicubic_psnr_y"],
                                                latency[name]),
                     "iterations": final["iteration"], "last_relu_positive": live,
                     "collapsed": live < COLLAPSED_BELOW})
        print(f"[ablation] {name}: gain {gain:+.3f} dB, {latency[name]:.0f} ms", flush=True)
    write_outputs(rows, args.out)


def write_outputs(rows, out):
    lines = ["| variant | question | params | GMACs @1080p | CPU latency @1080p (ms) | "
             "val PSNR-Y (dB) | gain over bicubic (dB) | NTIRE score (CPU latency) | "
             "last ReLU live |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['question']} | {r['params']:,} | {r['gmacs_1080p']:.1f} | "
                     f"{r['latency_ms_1080p']:.0f} | {r['psnr_y']:.3f} | {r['gain_y']:+.3f} | "
                     f"{r['ntire_score']:.3f} | {r['last_relu_positive']:.3f}"
                     f"{' (collapsed)' if r['collapsed'] else ''} |")
    from src.files import write_text_atomic
    write_text_atomic(os.path.join(out, "ablation.md"), "\n".join(lines) + "\n")
    write_text_atomic(os.path.join(out, "ablation.json"), json.dumps(rows, indent=1))
    print("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(rows):   # labels alternate above/below: nearby points stay legible
        ax.scatter(r["latency_ms_1080p"], r["gain_y"])
        ax.annotate(r["variant"], (r["latency_ms_1080p"], r["gain_y"]), fontsize=7,
                    xytext=(3, 4 if i % 2 == 0 else -10), textcoords="offset points")
    ax.set(xlabel="CPU latency, 1920x1080 -> x2 (ms)", ylabel="PSNR-Y gain over bicubic (dB)",
           title=f"AsConvSR ablations ({rows[0]['iterations'] if rows else 0} iterations each)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from src.files import atomic_write
    with atomic_write(os.path.join(out, "ablation.png")) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["train", "report"])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--lr_patch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min_patch_texture", type=float, default=0.0,
                        help="redraw flatter training patches (train.py's key); 0 = uniform "
                             "patches as in the paper, 4 = the shipped checkpoints' recipe")
    parser.add_argument("--train_lr_dir", default="",
                        help="LR folder from scripts/make_lr.py (skips the on-the-fly resize)")
    parser.add_argument("--latency_runs", type=int, default=7,
                        help="timed round-robin rounds of 1080p forwards (the median is reported)")
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train_variants(args) if args.action == "train" else report(args)


if __name__ == "__main__":
    main()
