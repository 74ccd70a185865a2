"""What the experiment runners share: one train.py run per (variant, seed) in a folder
of its own, skipped when finished, resumed when interrupted, so a budget longer than a
session is reached by rerunning the same command."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Set5 and Set14 (HR PNGs) beside the checkout, where ../shared/benchmarks puts them
BENCHMARKS = os.path.join(os.path.dirname(ROOT), "shared", "benchmarks")


def slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def finished(folder):
    log = os.path.join(folder, "train.log")
    return os.path.isfile(log) and "done:" in open(log, encoding="utf-8").read()


def resume_flags(folder):
    """['--resume', latest.ckpt] when the folder holds an interrupted run, else []."""
    latest = os.path.join(folder, "latest.ckpt")
    return ["--resume", latest] if os.path.isfile(latest) else []


def selected(names, variants):
    """The comma-separated ``names`` (all of ``variants`` when empty), checked."""
    chosen = list(variants) if not names else [n.strip() for n in names.split(",")]
    unknown = [n for n in chosen if n not in variants]
    if unknown:
        sys.exit(f"error: unknown variant(s) {unknown}; choose from {list(variants)}")
    return chosen


def run_all(jobs, tag):
    """Run ``jobs`` [(label, folder, command)] one after another with train.py (the
    command's resume flag already set): a finished folder is skipped, a folder without
    latest.ckpt that exists is a failed start left for the user to look at."""
    for label, folder, command in jobs:
        if finished(folder):
            print(f"[{tag}] {label}: done ({folder})")
            continue
        if os.path.isdir(folder) and not os.path.isfile(os.path.join(folder, "latest.ckpt")):
            print(f"[{tag}] {label}: '{folder}' exists without a latest.ckpt (a failed "
                  f"start?); remove it to train this run")
            continue
        print(f"[{tag}] {label}: {' '.join(command[1:])}", flush=True)
        started = time.time()
        subprocess.run(command, cwd=ROOT, check=True)
        print(f"[{tag}] {label}: {time.time() - started:.0f} s", flush=True)


def summary(values):
    """(mean, spread = max - min) of the values that are not None; (None, None) if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return sum(values) / len(values), max(values) - min(values)


def cell(mean, spread, digits=3):
    """'+m ± h' with h half the spread; '-' for no value."""
    return "-" if mean is None else f"{mean:+.{digits}f} ± {spread / 2:.{digits}f}"


def common_arguments(parser, out, seeds):
    """The flags every runner takes: the action, the budget, seeds, variants, batch and
    LR patch, the photo folders and the output folder."""
    parser.add_argument("action", choices=["train", "report"])
    parser.add_argument("--iters", type=int, default=12000, help="iterations per run (the budget)")
    parser.add_argument("--seeds", default=seeds)
    parser.add_argument("--variants", default="", help="comma-separated names (default: all)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--lr_patch_size", type=int, default=64)
    parser.add_argument("--train_dir", default="data/train")
    parser.add_argument("--out", default=out)


def dispatch(args, train_all, report):
    """Check the budget, create the output folder, run the action."""
    if args.iters < 1:
        sys.exit(f"error: --iters must be >= 1, got {args.iters}")
    os.makedirs(args.out, exist_ok=True)
    train_all(args) if args.action == "train" else report(args)
