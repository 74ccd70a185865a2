"""The recipe study runner (research/recipe.py): one command per variant and seed with
the three val sets, resumable, and a report of the last validation over seeds."""
import argparse
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_runner():
    from research import recipe
    return recipe


def args_for(out, **extra):
    values = dict(iters=900, batch_size=16, lr_patch_size=64, val_every=300, train_dir="t",
                  val_dir="v", benchmarks="b", out=str(out), seeds="0,1", variants="",
                  degradation="bicubic")
    values.update(extra)
    return argparse.Namespace(**values)


def test_train_command_has_the_variant_the_budget_and_three_val_sets(tmp_path):
    runner = load_runner()
    args = args_for(tmp_path)
    name = "cosine 1e-3 patch 128 batch 4"
    folder = runner.run_folder(args.out, args.iters, name, 1)
    command = runner.train_command(args, name, 1, folder)
    flags = dict(zip(command[2::2], command[3::2]))
    assert flags["--val_dir"] == ",".join(["v", os.path.join("b", "Set5"), os.path.join("b", "Set14")])
    assert (flags["--lr_schedule"], flags["--lr"], flags["--total_iters"]) == ("cosine", "0.001", "900")
    assert (flags["--lr_patch_size"], flags["--batch_size"]) == ("128", "4")  # the variant's
    assert folder.endswith(os.path.join("iters900", "cosine_1e_3_patch_128_batch_4", "seed1"))
    assert "--resume" not in command
    os.makedirs(folder)
    open(os.path.join(folder, "latest.ckpt"), "wb").close()
    assert runner.train_command(args, name, 1, folder)[-2:] == [
        "--resume", os.path.join(folder, "latest.ckpt")]
    anneal = runner.train_command(args, "cosine 1e-3 E512 anneal", 0, folder)
    assert dict(zip(anneal[2::2], anneal[3::2]))["--temperature_anneal_iters"] == "300"


def fake_run(folder, gains, speed):
    """A finished run whose last validation has the given PSNR-Y gains per set (bicubic 30)."""
    os.makedirs(folder)
    sets = {name: {"psnr_y": 30.0 + g, "bicubic_psnr_y": 30.0, "psnr_rgb": 29.0 + g / 2,
                   "bicubic_psnr_rgb": 29.0} for name, g in gains.items()}
    first = next(iter(sets.values()))
    early = {"iteration": 1, **first, "sets": {n: {"psnr_y": 0.0, "bicubic_psnr_y": 30.0} for n in sets}}
    with open(os.path.join(folder, "history.json"), "w") as handle:
        json.dump({"val": [early, {"iteration": 2, **first, "sets": sets}]}, handle)
    with open(os.path.join(folder, "train.log"), "w") as handle:
        handle.write(f"iter 2/2 | loss 0.1 | lr 1e-3 | {speed} it/s | x\ndone: 2 iterations\n")


def test_report_takes_the_last_validation_and_the_spread_over_seeds(tmp_path):
    runner = load_runner()
    args = args_for(tmp_path, iters=2)
    fake_run(runner.run_folder(args.out, 2, "cosine 2e-3", 0),
             {"data_val": 1.0, "Set5": 2.0, "Set14": 0.5}, speed=20.0)
    fake_run(runner.run_folder(args.out, 2, "cosine 2e-3", 1),
             {"data_val": 1.2, "Set5": 2.4, "Set14": 0.7}, speed=10.0)
    os.makedirs(runner.run_folder(args.out, 2, "cosine 1e-3", 0))   # unfinished: not reported
    runner.report(args)
    rows = json.load(open(os.path.join(args.out, "iters2", "recipe.json")))
    assert [r["variant"] for r in rows] == ["cosine 2e-3"]
    row = rows[0]
    assert row["seeds"] == [0, 1]
    assert row["Set5_gain"] == pytest.approx(2.2) and row["Set5_gain_spread"] == pytest.approx(0.4)
    assert row["val_psnr"] == pytest.approx(31.1) and row["Set14_gain"] == pytest.approx(0.6)
    assert row["ms_per_iter"] == pytest.approx(75.0)       # 50 ms and 100 ms
    table = open(os.path.join(args.out, "iters2", "recipe.md")).read()
    assert "| cosine 2e-3 | 2 | 31.100 | +1.100 ± 0.100 | 32.200 | +2.200 ± 0.200 |" in table


def test_report_without_finished_runs_is_one_line(tmp_path):
    runner = load_runner()
    with pytest.raises(SystemExit, match="no finished run"):
        runner.report(args_for(tmp_path, iters=2))


def test_challenge_runs_train_and_validate_as_the_kit_and_report_rgb(tmp_path):
    runner = load_runner()
    args = args_for(tmp_path, iters=2, degradation="challenge")
    folder = runner.run_folder(args.out, 2, "finetune cosine 5e-4", 0, "challenge")
    assert os.path.join("iters2_challenge", "finetune_cosine_5e_4") in folder
    flags = dict(zip(*[iter(runner.train_command(args, "finetune cosine 5e-4", 0, folder)[2:])] * 2))
    assert (flags["--degradation"], flags["--val_protocol"], flags["--best_metric"]) == (
        "challenge", "challenge", "psnr_rgb")
    assert flags["--init_weights"] == "pretrained/asconvsr_x2/asconvsr_x2.ckpt"
    assert os.path.isfile(os.path.join(ROOT, flags["--init_weights"]))
    fake_run(folder, {"data_val": 1.0, "Set5": 2.0, "Set14": 0.5}, speed=20.0)
    runner.report(args)
    row, = json.load(open(os.path.join(args.out, "iters2_challenge", "recipe.json")))
    assert row["channel"] == "rgb" and row["Set5_gain"] == pytest.approx(1.0)   # the RGB gain
    assert "PSNR-RGB" in open(os.path.join(args.out, "iters2_challenge", "recipe.md")).read()


def test_photo_scale_variant_trains_on_a_folder_of_downscaled_copies(tmp_path):
    from src.images import list_images, read_rgb, write_png
    runner = load_runner()
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(str(photos / "a.png"), (np.arange(40 * 30 * 3) % 251).reshape(40, 30, 3).astype(np.uint8))
    name = "cosine 5e-4 unshuffle 1 channels 16 photos x0.5"
    args = args_for(tmp_path / "runs", train_dir=str(photos), variants=name, seeds="0")
    flags = dict(zip(*[iter(runner.train_command(args, name, 0, str(tmp_path / "run"))[2:])] * 2))
    assert flags["--train_dir"] == str(photos) + "_x0.5" and "--photo_scale" not in flags
    runner.build_photo_folder(str(photos), 0.5)
    half, = list_images(str(photos) + "_x0.5")
    assert os.path.basename(half) == "a_s50.png" and read_rgb(half).shape == (20, 15, 3)


def test_every_variant_is_a_config_train_py_accepts(tmp_path):
    """A typo in a variant's keys would only surface when its run starts, hours into a
    study: every variant's command must parse as train.py's config, valid for the network."""
    from src.config import parse_config
    from src.model.asconvsr import AsConvSRConfig
    runner = load_runner()
    args = args_for(tmp_path)
    for name in runner.VARIANTS:
        command = runner.train_command(args, name, 0, str(tmp_path / "run"))
        cfg, _ = parse_config(command[2:])
        AsConvSRConfig.from_dict(dict(cfg))
        for key, value in runner.VARIANTS[name].items():
            if key in runner.RUNNER_KEYS:
                continue
            assert str(cfg[key]).lower() == runner.flag_value(value, args.iters).lower() or \
                float(cfg[key]) == float(runner.flag_value(value, args.iters)), (name, key)
