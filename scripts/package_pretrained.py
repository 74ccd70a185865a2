#!/usr/bin/env python
"""Add a finished train.py run to pretrained/NAME as that model's next training stage,
without moving or rewriting anything already there.

    python scripts/package_pretrained.py RUN_DIR NAME [--pretrained_dir pretrained]
    python scripts/package_pretrained.py --sums NAME     # after editing MODEL_CARD.md

pretrained/NAME/ then holds
    NAME.ckpt            the run's best.ckpt, byte for byte (the previous stage's is replaced;
                         its digest stays in training/stage_weights.sha256)
    config.yaml          the model keys of the run's config only (the network it loads into)
    training/stageK_{command.txt,config.yaml,train.log,history.json,curve.png}
                         the run's own files; K = the stages already there + 1
    training/stage_weights.sha256   one line per stage: its best.ckpt's digest, its run folder
    SHA256SUMS           every other file of the folder (`sha256sum -c SHA256SUMS`)

A stage after the first must have started (--init_weights) from the previous stage's
weights: the digest its train.log recorded at the start must be the last one in
stage_weights.sha256, wherever those weights lay (runs/..., or NAME.ckpt itself).
MODEL_CARD.md is written by hand: add the new stage's row and command (tests/test_pretrained.py
checks the card against every stage's train.log), then rerun with --sums.
"""
import argparse
import dataclasses
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import yaml  # noqa: E402

from src.config import ConfigError, load_config, run_main  # noqa: E402
from src.files import atomic_write, sha256_of, write_text_atomic  # noqa: E402

RUN_FILES = ("command.txt", "config.yaml", "train.log", "history.json", "curve.png")
STAGE_WEIGHTS = os.path.join("training", "stage_weights.sha256")
INITIAL_WEIGHTS = re.compile(r"^initial weights: .* \(sha256 ([0-9a-f]{64})\)", re.M)


def model_key_names():
    """AsConvSRConfig's fields, in the order the network reads them."""
    from src.model.asconvsr import AsConvSRConfig
    return [field.name for field in dataclasses.fields(AsConvSRConfig)]


def check_finished_run(run):
    for name in RUN_FILES + ("best.ckpt",):
        if not os.path.isfile(os.path.join(run, name)):
            raise ConfigError(f"'{run}' has no {name}; give the folder of a finished "
                              f"train.py run")
    if not re.search(r"^done:", read_text(os.path.join(run, "train.log")), re.M):
        raise ConfigError(f"'{run}/train.log' has no 'done:' line; the run did not finish")


def read_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def stage_digests(dest):
    """The [(digest, run folder)] of the stages packaged so far, first stage first."""
    path = os.path.join(dest, STAGE_WEIGHTS)
    if not os.path.isfile(path):
        return []
    return [tuple(line.split(maxsplit=1)) for line in read_text(path).splitlines() if line]


def check_starts_from_last_stage(run, dest, digests):
    """A later stage must have been fine-tuned from the last packaged stage's weights."""
    if not digests:
        return
    logged = INITIAL_WEIGHTS.search(read_text(os.path.join(run, "train.log")))
    last_digest, last_run = digests[-1]
    if logged is None:
        raise ConfigError(f"'{run}' did not start from stage {len(digests)}'s weights (its "
                          f"train.log has no 'initial weights' line); train it with "
                          f"--init_weights {last_run.strip()}")
    if logged.group(1) != last_digest:
        raise ConfigError(f"'{run}' started from weights with sha256 {logged.group(1)}, not "
                          f"stage {len(digests)}'s ({last_digest}, {STAGE_WEIGHTS} of {dest})")


def stage_paths(dest, stage):
    """{run file name: its path under training/} for stage ``stage``."""
    return {name: os.path.join(dest, "training", f"stage{stage}_{name}") for name in RUN_FILES}


def copy_atomic(source, target, overwrite=True):
    """Copy the file ``source`` to ``target`` through src.files.atomic_write."""
    with atomic_write(target, overwrite) as tmp:
        shutil.copyfile(source, tmp)


def model_config_text(run_config, name, stage):
    """config.yaml of the shipped checkpoint: the run's model keys (defaults filled in)."""
    cfg = load_config(run_config)
    keys = {key: cfg[key] for key in model_key_names()}
    header = (f"# The model keys of {name}.ckpt (the network it loads into), from stage "
              f"{stage}'s\n# training/stage{stage}_config.yaml; written by "
              f"scripts/package_pretrained.py. eval.py,\n# export.py and infer.py read it as "
              f"the config beside the checkpoint.\n")
    return header + yaml.safe_dump(keys, sort_keys=False)


def write_sums(dest):
    """SHA256SUMS: every file below ``dest`` but itself, sorted by path."""
    names = sorted(os.path.relpath(os.path.join(folder, file), dest)
                   for folder, _, files in os.walk(dest) for file in files)
    lines = [f"{sha256_of(os.path.join(dest, n))}  {n}\n" for n in names if n != "SHA256SUMS"]
    write_text_atomic(os.path.join(dest, "SHA256SUMS"), "".join(lines))


def package(run, name, pretrained_dir):
    """Copy ``run`` into ``pretrained_dir/name`` as the next stage; return its number."""
    check_finished_run(run)
    dest = os.path.join(pretrained_dir, name)
    digests = stage_digests(dest)
    stage = len(digests) + 1
    check_starts_from_last_stage(run, dest, digests)
    targets = stage_paths(dest, stage)
    present = [path for path in targets.values() if os.path.exists(path)]
    if present:
        raise ConfigError(f"'{present[0]}' exists but {STAGE_WEIGHTS} lists {stage - 1} "
                          f"stage(s); nothing was changed: remove it or fix that list by hand")
    os.makedirs(os.path.join(dest, "training"), exist_ok=True)
    for file, target in targets.items():
        copy_atomic(os.path.join(run, file), target, overwrite=False)
    weights = os.path.join(run, "best.ckpt")
    copy_atomic(weights, os.path.join(dest, f"{name}.ckpt"))
    write_text_atomic(os.path.join(dest, "config.yaml"),
                      model_config_text(os.path.join(run, "config.yaml"), name, stage))
    with open(os.path.join(dest, STAGE_WEIGHTS), "a", encoding="utf-8") as handle:
        handle.write(f"{sha256_of(weights)}  {os.path.normpath(weights)}\n")
    write_sums(dest)
    return stage


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="RUN_DIR NAME",
                        help="a finished train.py run folder and the model's folder name "
                             "under --pretrained_dir (NAME alone with --sums)")
    parser.add_argument("--pretrained_dir", default=os.path.join(ROOT, "pretrained"))
    parser.add_argument("--sums", action="store_true",
                        help="only rewrite NAME's SHA256SUMS (after editing MODEL_CARD.md)")
    args = parser.parse_args(argv)
    if len(args.paths) != (1 if args.sums else 2):
        parser.error("give RUN_DIR NAME, or --sums NAME")
    run_dir, name = ([None] if args.sums else []) + args.paths
    dest = os.path.join(args.pretrained_dir, name)
    if args.sums:
        if not os.path.isdir(dest):
            raise ConfigError(f"'{dest}' does not exist; package a run into it first")
        write_sums(dest)
        print(f"wrote {dest}/SHA256SUMS")
        return 0
    stage = package(run_dir, name, args.pretrained_dir)
    print(f"packaged {run_dir} as stage {stage} of {dest}; add stage {stage} to "
          f"{dest}/MODEL_CARD.md, then: python scripts/package_pretrained.py --sums {name}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
