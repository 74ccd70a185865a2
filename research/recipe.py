"""Which training recipe makes the x2 checkpoint good on Set5 and Set14? (issue 29)

    python research/recipe.py train  --iters N [--seeds 0,1] [--variants a,b]
                                     [--degradation bicubic|challenge] [--out runs/recipe]
    python research/recipe.py report --iters N [--degradation ...] [--out runs/recipe]

``train`` runs train.py once per (variant, seed) with one budget: the x2 preset
(configs/asconvsr_x2.yaml) at batch 16 x LR patch 64, plus the overrides in VARIANTS.
Every run validates on three sets (train.py's ``val_dir`` list): the val photos first,
which alone choose best.ckpt, then Set5 and Set14, which are only reported. A finished
run (train.log says "done:") is skipped, an interrupted one resumes from its
latest.ckpt: rerun the same command. Runs land in OUT/itersN/VARIANT/seedS.
A variant's ``photo_scale`` (a RUNNER_KEYS entry, not a train.py key) trains on the
photos downscaled by that factor: TRAIN_DIR_x{scale}, written once before the runs.
With ``--degradation challenge`` (issue 32) the runs train on the NTIRE 2023 kit's LR
(Pillow bicubic + JPEG q90) and validate with it (val_protocol challenge: crop 0), choose
best.ckpt by PSNR-RGB as the kit ranks (best_metric psnr_rgb), in OUT/itersN_challenge;
the "finetune" variants start from the shipped clean checkpoint.

``report`` reads each finished run's history.json: the last validation (at the end of
the budget, not the best one, so no test set picks anything) gives PSNR-Y and its gain
over MATLAB bicubic per set (RGB with --degradation challenge, the kit's ranking
metric); per variant the mean over seeds and the spread (max - min),
and the training speed from train.log's it/s. A difference inside the spread is a tie.
It writes OUT/itersN/recipe.md and recipe.json.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from research.runs import (BENCHMARKS, cell, common_arguments, dispatch,  # noqa: E402
                           finished, resume_flags, run_all, selected, slug, summary)

# The schedule fitted to the run (BasicSR's small models: cosine to 1e-7) after a
# 300-step warm-up, uniform patches, Charbonnier, the paper's assembled block (E = 32,
# T = 30). At lr 2e-3 this warm-up let the first steps kill every unit of the bias-free
# net (assembled and plain alike: the output stayed the nearest-neighbour residual,
# docs/recipe.md), so the reference the one-factor variants change is lr 1e-3; a longer
# run at 1e-3 died the same way after 5000 iterations, hence the 5e-4 and leaky rows.
COSINE = {"lr_schedule": "cosine", "lr": 1e-3, "lr_min": 1e-7, "warmup_iters": 300,
          "min_patch_texture": 0.0}
ANNEAL = {"temperature": 1.0, "temperature_start": 30.0, "temperature_anneal_iters": "third"}
# the body at the LR resolution, C = E = 16 (the capacity rows' lead)
U1C16 = {**COSINE, "lr": 5e-4, "unshuffle": 1, "channels": 16, "num_kernels": 16}
# asconvsr_x2_nounshuffle: its shape and recipe keys, from its shipped weights (issue 32).
# They hold ECB branches since 2026-12-07; the finetune rows in docs/recipe.md ran from the
# weights before them, at the commits named there.
NOUNSHUFFLE = {**U1C16, "relu_slope": 0.05, "reparam": "ecb",
               "init_weights": "pretrained/asconvsr_x2_nounshuffle/asconvsr_x2_nounshuffle.ckpt"}
# asconvsr_x2_ntire: the same network from its shipped weights, with its preset's half
# clean patches; its variants run with --degradation challenge
NTIRE = {**NOUNSHUFFLE, "clean_prob": 0.5,
         "init_weights": "pretrained/asconvsr_x2_ntire/asconvsr_x2_ntire.ckpt"}
# name -> config overrides on top of configs/asconvsr_x2.yaml
VARIANTS = {
    "paper step 5e-4": {"lr_schedule": "step", "lr": 5e-4, "warmup_iters": 1000,
                        "min_patch_texture": 0.0},          # lr_decay_step 2e5: flat here
    "cosine 1e-3": dict(COSINE),
    "cosine 1e-3 plain": {**COSINE, "block_type": "plain"},
    "cosine 2e-3": {**COSINE, "lr": 2e-3},
    "cosine 2e-3 plain": {**COSINE, "lr": 2e-3, "block_type": "plain"},
    "cosine 2e-3 warmup 2000": {**COSINE, "lr": 2e-3, "warmup_iters": 2000},
    "cosine 5e-4": {**COSINE, "lr": 5e-4},
    "cosine 5e-4 leaky 0.05": {**COSINE, "lr": 5e-4, "relu_slope": 0.05},
    "cosine 1e-3 leaky 0.05": {**COSINE, "relu_slope": 0.05},
    "cosine 1e-3 texture 4": {**COSINE, "min_patch_texture": 4.0},
    "cosine 1e-3 mse": {**COSINE, "loss": "mse"},
    "cosine 1e-3 patch 128 batch 4": {**COSINE, "lr_patch_size": 128, "batch_size": 4},
    "cosine 1e-3 E512 anneal": {**COSINE, "num_kernels": 512, **ANNEAL},
    # capacity at the long run's lr (is the decibel the x2 preset's network itself?): the
    # body at the LR resolution instead of a quarter of its pixels at about equal MACs
    # (the ablation's lead, docs/ablation), or twice as wide
    "cosine 5e-4 unshuffle 1 channels 16": dict(U1C16),
    "cosine 5e-4 channels 64": {**COSINE, "lr": 5e-4, "channels": 64, "num_kernels": 64},
    # the lead's plain twin (does the assembled block still tie plain convs at this shape?)
    # and its width at LR resolution (C = 24: 2.1x the preset's MACs, C = 32: 4x)
    "cosine 5e-4 unshuffle 1 channels 16 plain": {**COSINE, "lr": 5e-4, "unshuffle": 1,
                                                  "channels": 16, "block_type": "plain"},
    # what the network sees (the 55 photos are 2040-pixel wallpapers, smoother per pixel
    # than Set5, Set14 and the val photos, which are whole scenes at about 500 pixels):
    # the same photos downscaled by 0.5 only (photo_scale: a folder of copies, built here
    # once), flat patches redrawn, or the squared error PSNR measures
    "cosine 5e-4 unshuffle 1 channels 16 photos x0.5": {**U1C16, "photo_scale": 0.5},
    "cosine 5e-4 unshuffle 1 channels 16 photos x0.25": {**U1C16, "photo_scale": 0.25},
    "cosine 5e-4 unshuffle 1 channels 16 texture 4": {**U1C16, "min_patch_texture": 4.0},
    "cosine 5e-4 unshuffle 1 channels 16 mse": {**U1C16, "loss": "mse"},
    # more of the redraw: a threshold near Set5's and the val photos' median texture (8-10)
    # or above it instead of 4, and the redraw on the x0.25 copies (do the two add up?)
    "cosine 5e-4 unshuffle 1 channels 16 texture 8": {**U1C16, "min_patch_texture": 8.0},
    "cosine 5e-4 unshuffle 1 channels 16 texture 12": {**U1C16, "min_patch_texture": 12.0},
    "cosine 5e-4 unshuffle 1 channels 16 texture 4 photos x0.25": {
        **U1C16, "min_patch_texture": 4.0, "photo_scale": 0.25},
    # depth: a second block of three convs (8 layers, as FSRCNN has; receptive field 17 LR
    # pixels instead of 11; 23,800 parameters, 33.1 GMACs per 1080p frame against 18.8)
    "cosine 5e-4 unshuffle 1 channels 16 texture 4 blocks 2": {
        **U1C16, "min_patch_texture": 4.0, "num_blocks": 2},
    # depth and the higher threshold together (do the two leads add up?)
    "cosine 5e-4 unshuffle 1 channels 16 texture 8 blocks 2": {
        **U1C16, "min_patch_texture": 8.0, "num_blocks": 2},
    # ECB re-parameterisation (ECBSR, BasicSR's small x2 models): every kernel trained as
    # five branches folded into one; the same network at inference
    "cosine 5e-4 unshuffle 1 channels 16 texture 8 ecb": {
        **U1C16, "min_patch_texture": 8.0, "reparam": "ecb"},
    # the network on Y alone, Cb and Cr bicubic (colour luma: SRCNN's and FSRCNN's convention)
    "cosine 5e-4 unshuffle 1 channels 16 texture 8 ecb luma": {
        **U1C16, "min_patch_texture": 8.0, "reparam": "ecb", "colour": "luma"},
    # ... its plain twin (does the assembled block still tie plain convs, both with ECB?)
    # and the x2 preset's own shape with it
    "cosine 5e-4 unshuffle 1 channels 16 texture 8 ecb plain": {
        **U1C16, "min_patch_texture": 8.0, "reparam": "ecb", "block_type": "plain"},
    "cosine 5e-4 texture 8 ecb": {**COSINE, "lr": 5e-4, "min_patch_texture": 8.0,
                                  "reparam": "ecb"},
    # the redraw at the x2 preset's own shape (the network the goal names)
    "cosine 5e-4 texture 4": {**COSINE, "lr": 5e-4, "min_patch_texture": 4.0},
    "cosine 5e-4 unshuffle 1 channels 24": {**U1C16, "channels": 24, "num_kernels": 24},
    # the width at FSRCNN's cost: C = E = 20 with the ECB row's recipe, 28.0 GMACs per
    # 1080p frame (FSRCNN 25.8, the C = 16 row 18.8), 20,805 parameters
    "cosine 5e-4 unshuffle 1 channels 20 texture 8 ecb": {
        **U1C16, "min_patch_texture": 8.0, "reparam": "ecb", "channels": 20, "num_kernels": 20},
    "cosine 5e-4 unshuffle 1 channels 32": {**U1C16, "channels": 32, "num_kernels": 32},
    # fine-tuning the shipped clean checkpoints (issue 32: fine-tune or from scratch?)
    "finetune cosine 5e-4": {**COSINE, "lr": 5e-4,
                             "init_weights": "pretrained/asconvsr_x2/asconvsr_x2.ckpt"},
    "finetune cosine 1e-4": {**COSINE, "lr": 1e-4,
                             "init_weights": "pretrained/asconvsr_x2/asconvsr_x2.ckpt"},
    # the same from the no-unshuffle checkpoint, whose clean lead over asconvsr_x2 may
    # carry over to compressed inputs
    "finetune nounshuffle cosine 5e-4": {**NOUNSHUFFLE, "lr": 5e-4},
    "finetune nounshuffle cosine 1e-4": {**NOUNSHUFFLE, "lr": 1e-4},
    # half the patches kept clean (clean_prob): does the fine-tune lose less on clean
    # inputs, and how much of its challenge gain does that cost?
    "finetune nounshuffle cosine 5e-4 clean 0.5": {**NOUNSHUFFLE, "lr": 5e-4, "clean_prob": 0.5},
    # ... the same fine-tune from the C = 20 weights (issue 32: does width restore the
    # colour of the kit's 4:2:0 LR?); against the row above at the same commit
    "finetune nounshuffle c20 cosine 5e-4 clean 0.5": {
        **NOUNSHUFFLE, "lr": 5e-4, "clean_prob": 0.5, "channels": 20, "num_kernels": 20,
        "init_weights": "pretrained/asconvsr_x2_nounshuffle_c20/asconvsr_x2_nounshuffle_c20.ckpt"},
    # a last stage on the squared error PSNR measures (the loss at the LR-resolution shape:
    # lightweight-SR entries often end this way), against the same stage with the paper's
    # Charbonnier loss, both from the shipped clean weights with the preset's redraw
    "stage nounshuffle texture 8 cosine 1e-4 mse": {
        **NOUNSHUFFLE, "min_patch_texture": 8.0, "lr": 1e-4, "loss": "mse"},
    "stage nounshuffle texture 8 cosine 1e-4": {
        **NOUNSHUFFLE, "min_patch_texture": 8.0, "lr": 1e-4},
    # the same last stage for the challenge checkpoint, whose RGB shortfall is colour: the
    # squared error is the kit's own metric and weighs the large errors at colour edges
    # more than Charbonnier's near-L1 does (NTIRE efficient-SR entries end on it)
    "ntire stage cosine 1e-4 mse": {**NTIRE, "lr": 1e-4, "loss": "mse"},
    "ntire stage cosine 1e-4": {**NTIRE, "lr": 1e-4},
}
# keys this runner reads itself, not passed to train.py
RUNNER_KEYS = ("photo_scale",)
SET_NAMES = ("val", "Set5", "Set14")


def budget_folder(out, iters, degradation="bicubic"):
    suffix = "" if degradation == "bicubic" else f"_{degradation}"
    return os.path.join(out, f"iters{iters}{suffix}")


def run_folder(out, iters, name, seed, degradation="bicubic"):
    return os.path.join(budget_folder(out, iters, degradation), slug(name), f"seed{seed}")


def flag_value(value, iters):
    if value == "third":
        return str(max(1, iters // 3))
    return str(value).lower() if isinstance(value, bool) else str(value)


def photo_folder(train_dir, scale):
    """``train_dir`` itself, or (scale < 1) the sibling folder of its photos downscaled
    by ``scale``, which build_photo_folder writes."""
    return train_dir if scale == 1 else f"{train_dir.rstrip('/')}_x{scale:g}"


def build_photo_folder(train_dir, scale):
    """Write photo_folder(train_dir, scale) once: MATLAB-bicubic copies of the photos
    (make_multiscale --copies_only); existing copies are kept."""
    from src.data.prepare import make_multiscale_folder
    folder = photo_folder(train_dir, scale)
    written, _, skipped = make_multiscale_folder(train_dir, [scale], folder, keep_original=False)
    if written or skipped:
        print(f"[recipe] {folder}: {written} copies written, {len(skipped)} photos skipped",
              flush=True)


def train_command(args, name, seed, folder):
    overrides = {"batch_size": args.batch_size, "lr_patch_size": args.lr_patch_size,
                 **VARIANTS[name]}
    train_dir = photo_folder(args.train_dir, overrides.pop("photo_scale", 1))   # RUNNER_KEYS
    flags = [item for key, value in overrides.items()
             for item in (f"--{key}", flag_value(value, args.iters))]
    val_dirs = [args.val_dir] + [os.path.join(args.benchmarks, s) for s in SET_NAMES[1:]]
    command = [sys.executable, "train.py", "--config_path", "configs/asconvsr_x2.yaml",
               "--total_iters", str(args.iters), "--val_every", str(args.val_every),
               "--ckpt_every", str(min(1000, args.iters)), "--log_every", "200",
               "--seed", str(seed), "--train_dir", train_dir,
               "--val_dir", ",".join(val_dirs), "--output_dir", folder, *flags]
    if args.degradation == "challenge":
        # best.ckpt by the figure the kit ranks (a run started before the key resumes
        # only from the commit that started it: history.json records its metric)
        command += ["--degradation", "challenge", "--val_protocol", "challenge",
                    "--best_metric", "psnr_rgb"]
    return command + resume_flags(folder)


def train_all(args):
    jobs = []
    names = selected(args.variants, VARIANTS)
    for scale in sorted({VARIANTS[n]["photo_scale"] for n in names if "photo_scale" in VARIANTS[n]}):
        build_photo_folder(args.train_dir, scale)
    for seed in (int(s) for s in args.seeds.split(",")):    # seed-major
        for name in names:
            folder = run_folder(args.out, args.iters, name, seed, args.degradation)
            jobs.append((f"{name} seed {seed}", folder, train_command(args, name, seed, folder)))
    run_all(jobs, "recipe")


def run_figures(folder, channel):
    """{set: {'psnr', 'gain'}} on ``channel`` ('y' or 'rgb') at the run's last validation,
    and the training speed (ms per iteration, from train.log's it/s lines; validation
    excluded)."""
    with open(os.path.join(folder, "history.json"), encoding="utf-8") as handle:
        last = json.load(handle)["val"][-1]
    sets = list(last["sets"].values())       # in val_dir order: val photos, Set5, Set14
    figures = {name: {"psnr": f[f"psnr_{channel}"],
                      "gain": f[f"psnr_{channel}"] - f[f"bicubic_psnr_{channel}"]}
               for name, f in zip(SET_NAMES, sets)}
    with open(os.path.join(folder, "train.log"), encoding="utf-8") as handle:
        speeds = [float(v) for v in re.findall(r"\| ([\d.]+) it/s \|", handle.read())]
    return figures, (1000.0 / (sum(speeds) / len(speeds)) if speeds else None)


def report(args):
    rows, channel = [], "rgb" if args.degradation == "challenge" else "y"
    for name in VARIANTS:
        base = os.path.dirname(run_folder(args.out, args.iters, name, 0, args.degradation))
        seeds = sorted(d for d in os.listdir(base) if d.startswith("seed")) \
            if os.path.isdir(base) else []
        folders = [os.path.join(base, d) for d in seeds if finished(os.path.join(base, d))]
        if not folders:
            continue
        per_seed = [run_figures(folder, channel) for folder in folders]
        row = {"variant": name, "seeds": [int(os.path.basename(f)[4:]) for f in folders],
               "iterations": args.iters, "degradation": args.degradation,
               "channel": channel, "overrides": VARIANTS[name]}
        for set_name in SET_NAMES:
            for key in ("psnr", "gain"):
                row[f"{set_name}_{key}"], row[f"{set_name}_{key}_spread"] = summary(
                    [figures[set_name][key] for figures, _ in per_seed])
        row["ms_per_iter"], _ = summary([speed for _, speed in per_seed])
        rows.append(row)
    if not rows:
        sys.exit(f"error: no finished run under "
                 f"'{budget_folder(args.out, args.iters, args.degradation)}'; "
                 f"run the train action first")
    write_outputs(rows, budget_folder(args.out, args.iters, args.degradation))


def write_outputs(rows, folder):
    channel = "RGB" if rows[0]["channel"] == "rgb" else "Y"
    header = "".join(f" {s} PSNR-{channel} | {s} gain |" for s in SET_NAMES)
    lines = ["| variant | seeds |" + header + " ms/iter |",
             "|" + " --- |" * (3 + 2 * len(SET_NAMES))]
    for r in rows:
        values = "".join(f" {r[f'{s}_psnr']:.3f} | {cell(r[f'{s}_gain'], r[f'{s}_gain_spread'])} |"
                         for s in SET_NAMES)
        speed = "-" if r["ms_per_iter"] is None else f"{r['ms_per_iter']:.0f}"
        lines.append(f"| {r['variant']} | {len(r['seeds'])} |{values} {speed} |")
    protocol = ("the NTIRE 2023 kit's LR (Pillow bicubic + JPEG q90), crop 0, gain over the "
                "bicubic of that LR" if channel == "RGB" else
                "MATLAB-bicubic LR, crop = scale, gain over MATLAB bicubic")
    lines += ["", f"{rows[0]['iterations']} iterations of batch 16 x LR patch 64 (unless the "
              f"variant says otherwise), {rows[0]['degradation']} training LR; PSNR-{channel} "
              f"(dB, mean over seeds) at the last validation and its gain ({protocol}), "
              "± half the spread (max - min) over seeds; ms/iter: training steps only, mean "
              "of train.log's it/s."]
    with open(os.path.join(folder, "recipe.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(folder, "recipe.json"), "w", encoding="utf-8") as handle:
        json.dump(rows, handle, indent=1)
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, out="runs/recipe", seeds="0,1")
    parser.add_argument("--val_every", type=int, default=2000)
    parser.add_argument("--degradation", default="bicubic", choices=["bicubic", "challenge"],
                        help="training LR and val protocol: MATLAB bicubic, or the NTIRE "
                             "2023 kit's (Pillow bicubic + JPEG q90, validated as the kit scores)")
    parser.add_argument("--val_dir", default="data/val", help="the val photos (choose best.ckpt)")
    parser.add_argument("--benchmarks", default=BENCHMARKS,
                        help="folder holding Set5/ and Set14/ (HR PNGs), reported only")
    dispatch(parser.parse_args(), train_all, report)


if __name__ == "__main__":
    main()
