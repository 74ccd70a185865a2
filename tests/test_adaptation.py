"""The adaptation experiment runner (research/adaptation.py): resumable run layout, and a
report that scores every finished run on clean and JPEG val sets over seeds."""
import argparse
import importlib.util
import json
import os

import numpy as np
import pytest

from tests.synthetic import random_photo_folder
from tests.test_ablation import fake_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_runner():
    spec = importlib.util.spec_from_file_location(
        "adaptation", os.path.join(ROOT, "research", "adaptation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args_for(out, **extra):
    values = dict(iters=300, batch_size=4, lr_patch_size=16, degradation="mixed",
                  train_dir="t", val_dir="v", out=str(out), seeds="0,1", variants="",
                  blur="0,0", noise="0,0")
    values.update(extra)
    return argparse.Namespace(**values)


def test_train_command_anneals_over_a_third_and_resumes_an_interrupted_run(tmp_path):
    runner = load_runner()
    args = args_for(tmp_path)
    folder = runner.run_folder(args.out, "mixed", "assembled E128 anneal", 1)
    command = runner.train_command(args, "assembled E128 anneal", 1, folder)
    flags = dict(zip(command[2::2], command[3::2]))
    assert flags["--temperature_anneal_iters"] == "100" and flags["--num_kernels"] == "128"
    assert flags["--seed"] == "1" and flags["--degradation"] == "mixed"
    assert folder.endswith(os.path.join("mixed", "assembled_e128_anneal", "seed1"))
    assert "--resume" not in command
    os.makedirs(folder)
    open(os.path.join(folder, "latest.ckpt"), "wb").close()
    assert runner.train_command(args, "assembled E128 anneal", 1, folder)[-2:] == [
        "--resume", os.path.join(folder, "latest.ckpt")]


def test_unknown_variant_is_one_line(tmp_path):
    runner = load_runner()
    with pytest.raises(SystemExit, match="unknown variant"):
        runner.selected("plain,assembled E9", runner.VARIANTS)


def finish(folder):
    with open(os.path.join(folder, "train.log"), "w") as handle:
        handle.write("done: 10 iterations\n")


def test_report_scores_each_finished_run_on_clean_and_jpeg_sets(tmp_path):
    runner = load_runner()
    val = random_photo_folder(tmp_path / "val", 2, 32)
    out = tmp_path / "adaptation"
    for name, overrides, seeds in [("plain", {"block_type": "plain"}, [0]),
                                   ("assembled E32 T30", {}, [0, 1])]:
        for seed in seeds:
            folder = runner.run_folder(str(out), "bicubic", name, seed)
            fake_run(folder, str(val), overrides)
            finish(folder)
    unfinished = runner.run_folder(str(out), "bicubic", "plain", 1)
    fake_run(unfinished, str(val), {"block_type": "plain"})
    sets = runner.val_sets(str(val), 2)
    assert len(sets["jpeg"]) == len(runner.JPEG_QUALITIES) * len(sets["clean"]) == 8
    runner.report(argparse.Namespace(out=str(out), val_dir=str(val), latency_runs=0))
    rows = {r["variant"]: r for r in json.load(open(out / "adaptation.json"))}
    assert rows["plain"]["seeds"] == 1 and rows["assembled E32 T30"]["seeds"] == 2
    assert rows["plain"]["clean_swap_cost_y"] is None
    for kind in ("clean", "jpeg"):
        cost = rows["assembled E32 T30"][f"{kind}_swap_cost_y"]
        assert isinstance(cost, float) and abs(cost) < 5
        assert np.isfinite(rows["plain"][f"{kind}_gain_y"])
    # mean and spread are over the per-seed figures
    gains = [seed["clean"]["gain_y"] for seed in rows["assembled E32 T30"]["per_seed"]]
    assert rows["assembled E32 T30"]["clean_gain_y"] == pytest.approx(np.mean(gains))
    assert rows["assembled E32 T30"]["clean_gain_y_spread"] == pytest.approx(np.ptp(gains))
    table = (out / "adaptation.md").read_text().splitlines()
    assert len([line for line in table if line.startswith("| bicubic |")]) == 2


def test_blur_and_noise_ranges_reach_train_py_and_name_their_own_folder(tmp_path):
    runner = load_runner()
    args = args_for(tmp_path, blur="0,2", noise="0,15")
    assert runner.degradation_folder(args) == "mixed_blur0-2_noise0-15"
    assert runner.degradation_folder(args_for(tmp_path)) == "mixed"
    command = runner.train_command(args, "plain", 0, str(tmp_path / "run"))
    assert command[command.index("--mixed_blur_sigma") + 1] == "0,2"
    assert command[command.index("--mixed_noise_sigma") + 1] == "0,15"
