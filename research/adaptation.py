"""Does the assembled convolution adapt, and does it beat the plain twin? (issue 17)

    python research/adaptation.py train  --iters N [--seeds 0,1,2] [--variants a,b]
                                         [--degradation bicubic|challenge|mixed] [--out runs/adaptation]
    python research/adaptation.py report [--out runs/adaptation] [--latency_runs 5]

``train`` runs train.py once per (variant, seed), every run with the same data,
iterations, warm-up and batch; each variant is the x2 preset plus the overrides in
VARIANTS (an anneal length of "third" means a third of --iters). A finished run
(train.log says "done:") is skipped, an interrupted one resumes from its latest.ckpt,
so a long budget can run over several sessions: rerun the same command.
Runs land in OUT/DEGRADATION/VARIANT/seedS.

``report`` scores every finished run, in PyNative mode, on two val sets made from the
val photos (data/val): clean (MATLAB bicubic LR, as eval.py) and jpeg (that LR saved
at JPEG quality 30, 50, 70 and 90: 4 inputs per photo, where a kernel per input has
something to adapt to). For each: PSNR-Y gain over MATLAB-bicubic upscaling of the
same LR (crop = scale), and the control probe's adaptation figure, the PSNR-Y lost
when every input's mixing coefficients are replaced by their mean over the set
(research/control_probe.py). It adds params, MACs and batch-1 1080p CPU latency
(graph mode, all variants timed round-robin in one process, research/ablation.py) and
writes OUT/adaptation.md and adaptation.json: per variant the mean over seeds and the
spread (max - min). A difference inside the spread is a tie.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from research.runs import (cell, common_arguments, dispatch, finished, resume_flags,  # noqa: E402
                          run_all, selected, slug, summary)

ANNEAL = {"temperature": 1.0, "temperature_start": 30.0, "temperature_anneal_iters": "third"}
# The control module sees channel means and stds, and normalises its hidden layer over the
# batch (ODConv's attention branch): see ControlModule.
BN_STD = {"control_pool": "mean_std", "control_norm": "batch"}
# name -> config overrides on top of configs/asconvsr_x2.yaml
VARIANTS = {
    "plain": {"block_type": "plain"},
    "dynamic E4": {"block_type": "dynamic"},
    "assembled E32 T30": {},
    "assembled E32 anneal": dict(ANNEAL),
    "assembled E128 anneal": {"num_kernels": 128, **ANNEAL},
    "assembled E512 anneal": {"num_kernels": 512, **ANNEAL},
    "assembled E1350 anneal": {"num_kernels": 1350, **ANNEAL},
    "assembled E32 anneal bn-std": {**ANNEAL, **BN_STD},
    "assembled E32 T1 bn-std": {"temperature": 1.0, **BN_STD},
    "assembled E512 anneal bn-std": {"num_kernels": 512, **ANNEAL, **BN_STD},
}
JPEG_QUALITIES = (30, 50, 70, 90)
# (blur sigma, noise sigma, JPEG quality) of the 'mixed' val set: inputs that call for
# opposite kernels (sharpen a blur, smooth noise), where a per-input kernel should pay.
VAL_SETS = ("clean", "jpeg", "mixed")
MIXED_VAL = ((0.0, 0.0, 100), (1.5, 0.0, 100), (0.0, 10.0, 100), (1.0, 5.0, 50))


def run_folder(out, degradation, name, seed):
    return os.path.join(out, degradation, slug(name), f"seed{seed}")


def degradation_folder(args):
    """'mixed' with the default (JPEG only) ranges, else e.g. 'mixed_blur0-2_noise0-15'."""
    if args.degradation != "mixed" or (args.blur, args.noise) == ("0,0", "0,0"):
        return args.degradation
    return f"mixed_blur{args.blur.replace(',', '-')}_noise{args.noise.replace(',', '-')}"


def flag_value(value, iters):
    if value == "third":
        return str(max(1, iters // 3))
    return str(value).lower() if isinstance(value, bool) else str(value)


def train_command(args, name, seed, folder):
    flags = []
    for key, value in VARIANTS[name].items():
        flags += [f"--{key}", flag_value(value, args.iters)]
    command = [sys.executable, "train.py", "--config_path", "configs/asconvsr_x2.yaml",
               "--total_iters", str(args.iters), "--batch_size", str(args.batch_size),
               "--lr_patch_size", str(args.lr_patch_size), "--val_every", str(args.iters),
               "--warmup_iters", str(min(1000, max(1, args.iters // 10))),
               "--ckpt_every", str(max(1, min(500, args.iters // 4))),
               "--log_every", str(max(1, args.iters // 10)), "--seed", str(seed),
               "--degradation", args.degradation, "--train_dir", args.train_dir,
               "--val_dir", args.val_dir, "--output_dir", folder, *flags]
    if args.degradation == "mixed":
        command += ["--mixed_blur_sigma", args.blur, "--mixed_noise_sigma", args.noise]
    return command + resume_flags(folder)


def train_all(args):
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = []
    for seed in seeds:                 # seed-major: every variant gets seed 0 first
        for name in selected(args.variants, VARIANTS):
            folder = run_folder(args.out, degradation_folder(args), name, seed)
            jobs.append((f"{name} seed {seed}", folder, train_command(args, name, seed, folder)))
    run_all(jobs, "adaptation")


def val_sets(val_dir, scale):
    """{'clean': [(lr, hr)], 'jpeg': [(jpeg lr, hr)] (every photo at each quality),
    'mixed': [(degraded lr, hr)] (every photo under each of MIXED_VAL)}."""
    from src.data.dataset import load_eval_pairs
    from src.data.degrade import Degradation, jpeg_round_trip
    import numpy as np
    pairs, _ = load_eval_pairs(val_dir, scale)
    clean = [(lr, hr) for _, lr, hr in pairs]
    jpeg = [(jpeg_round_trip(lr, q), hr) for lr, hr in clean for q in JPEG_QUALITIES]
    mixed = []
    for blur, noise, quality in MIXED_VAL:     # fixed settings: ranges of one value
        degrade = Degradation("mixed", (quality, quality), (blur, blur), (noise, noise))
        rng = np.random.default_rng(0)         # the noise; the same for every variant
        mixed += [(degrade.patch(lr, rng), hr) for lr, hr in clean]
    return {"clean": clean, "jpeg": jpeg, "mixed": mixed}


def score(net, model_cfg, pairs):
    """{'gain_y', 'swap_cost_y' (None for plain)} of ``net`` on ``pairs``."""
    import numpy as np
    from mindspore import Tensor
    from src.evaluate import bicubic_upscale
    from src.images import to_uint8
    from src.metrics import psnr, rgb_to_y
    from research.control_probe import control_probe
    s, u = model_cfg.scale, model_cfg.unshuffle
    inputs, targets, bicubic = [], [], []
    for lr, hr in pairs:
        height, width = lr.shape[0] - lr.shape[0] % u, lr.shape[1] - lr.shape[1] % u
        lr = np.ascontiguousarray(lr[:height, :width])
        inputs.append(Tensor((lr.transpose(2, 0, 1)[None] / 255.0).astype(np.float32)))
        targets.append(hr[:height * s, :width * s])
        bicubic.append(psnr(rgb_to_y(bicubic_upscale(lr, s)), rgb_to_y(targets[-1]), s))
    if model_cfg.block_type == "plain":
        own = [psnr(rgb_to_y(to_uint8(net(x).asnumpy()[0].transpose(1, 2, 0))),
                    rgb_to_y(t), s) for x, t in zip(inputs, targets)]
        return {"gain_y": float(np.mean(own) - np.mean(bicubic)), "swap_cost_y": None}
    probe = control_probe(net, inputs, targets, border=s)
    return {"gain_y": probe["psnr_y"] - float(np.mean(bicubic)),
            "swap_cost_y": probe["psnr_y"] - probe["psnr_y_frozen"]}


def finished_runs(out):
    """{(degradation, variant): [run folders]} of the finished runs under ``out``."""
    runs = {}
    for degradation in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        for name in VARIANTS:
            base = os.path.join(out, degradation, slug(name))
            seeds = sorted(d for d in os.listdir(base) if d.startswith("seed")) \
                if os.path.isdir(base) else []
            done = [os.path.join(base, d) for d in seeds if finished(os.path.join(base, d))]
            if done:
                runs[(degradation, name)] = done
    return runs


def report(args):
    import src  # noqa: F401
    from src.checkpoint import load_trained_model
    from src.config import load_config
    from src.model.complexity import count_macs, count_params
    from src.runtime import setup
    from research.ablation import latencies_ms
    runs = finished_runs(args.out)
    if not runs:
        sys.exit(f"error: no finished run under '{args.out}'; run the train action first")
    setup("CPU", "pynative", seed=0)
    rows, sets = [], None
    for (degradation, name), folders in runs.items():
        per_seed = []
        for folder in folders:
            cfg = load_config(os.path.join(folder, "config.yaml"))
            net, model_cfg = load_trained_model(cfg, os.path.join(folder, "latest.ckpt"))
            sets = sets or val_sets(args.val_dir, model_cfg.scale)
            per_seed.append({kind: score(net, model_cfg, pairs) for kind, pairs in sets.items()})
        row = {"degradation": degradation, "variant": name, "seeds": len(folders),
               "params": count_params(model_cfg), "gmacs_1080p": count_macs(model_cfg, 1080, 1920) / 1e9,
               "iterations": cfg.total_iters, "config": dict(cfg), "per_seed": per_seed}
        for kind in sets:
            for key in ("gain_y", "swap_cost_y"):
                row[f"{kind}_{key}"], row[f"{kind}_{key}_spread"] = summary(
                    [s[kind][key] for s in per_seed])
        rows.append(row)
        print(f"[adaptation] {degradation} / {name}: {len(folders)} seed(s), clean gain "
              f"{row['clean_gain_y']:+.3f}", flush=True)
    if args.latency_runs > 0:
        setup("CPU", "graph", seed=0)
        latency = latencies_ms({r["variant"]: r["config"] for r in rows}, args.latency_runs)
        for r in rows:
            r["latency_ms_1080p"] = latency[r["variant"]]
    write_outputs(rows, args.out)


def write_outputs(rows, out):
    kinds = [k for k in VAL_SETS if f"{k}_gain_y" in rows[0]]
    header = "".join(f" {k} gain Y | {k} swap cost |" for k in kinds)
    lines = ["| degradation | variant | seeds | params | GMACs @1080p | CPU ms @1080p |" + header,
             "|" + " --- |" * (6 + 2 * len(kinds))]
    for r in rows:
        latency = f"{r['latency_ms_1080p']:.0f}" if "latency_ms_1080p" in r else "-"
        values = "".join(f" {cell(r[f'{k}_{key}'], r[f'{k}_{key}_spread'])} |"
                         for k in kinds for key in ("gain_y", "swap_cost_y"))
        lines.append(f"| {r['degradation']} | {r['variant']} | {r['seeds']} | {r['params']:,} | "
                     f"{r['gmacs_1080p']:.1f} | {latency} |" + values)
    iterations = sorted({r["iterations"] for r in rows})
    lines += ["", f"{iterations} iterations; dB, mean over seeds ± half the spread (max - min); "
              "swap cost: PSNR-Y lost with every input's coefficients replaced by the set's mean."]
    from src.files import write_text_atomic
    write_text_atomic(os.path.join(out, "adaptation.md"), "\n".join(lines) + "\n")
    write_text_atomic(os.path.join(out, "adaptation.json"), json.dumps(rows, indent=1))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, out="runs/adaptation", seeds="0,1,2")
    parser.set_defaults(iters=3000)
    parser.add_argument("--degradation", default="bicubic",
                        choices=["bicubic", "challenge", "mixed"],
                        help="training degradation (train.py's key; mixed uses its defaults)")
    parser.add_argument("--blur", default="0,0", help="mixed: blur sigma range 'min,max' (LR px)")
    parser.add_argument("--noise", default="0,0", help="mixed: noise sigma range 'min,max' (0-255)")
    parser.add_argument("--val_dir", default="data/val")
    parser.add_argument("--latency_runs", type=int, default=5,
                        help="round-robin rounds of 1080p forwards (0: no latency column)")
    dispatch(parser.parse_args(), train_all, report)


if __name__ == "__main__":
    main()
