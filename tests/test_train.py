"""train.py end to end on tiny synthetic photos: run folder, resume after SIGKILL, NaN stop,
two-process data parallelism under msrun. Each test starts train.py as a user would."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from tests.synthetic import write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_ARGS = ["--channels", "8", "--num_kernels", "4", "--batch_size", "2",
             "--lr_patch_size", "16", "--num_workers", "1", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    base = tmp_path_factory.mktemp("photos")
    return (write_images(str(base / "train"), 6, 96, seed=11),
            write_images(str(base / "val"), 2, 64, seed=12))


def train_command(photos, output_dir, *extra):
    train_dir, val_dir = photos
    return [sys.executable, os.path.join(ROOT, "train.py"), "--train_dir", train_dir,
            "--val_dir", val_dir, "--output_dir", str(output_dir), "--mode", "pynative",
            *TINY_ARGS, *extra]


def run_train(photos, output_dir, *extra, check=True):
    proc = subprocess.run(train_command(photos, output_dir, *extra), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"train.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def load_params(path):
    import mindspore as ms
    return {name: p.asnumpy() for name, p in ms.load_checkpoint(path).items()}


def test_training_writes_the_run_folder(photos, tmp_path):
    out = tmp_path / "run"
    proc = run_train(photos, out, "--total_iters", "6", "--log_every", "2", "--val_every", "3",
                     "--ckpt_every", "3")
    for name in ["config.yaml", "latest.ckpt", "best.ckpt", "history.json", "curve.png",
                 "train.log"]:
        assert (out / name).is_file(), name
    log = (out / "train.log").read_text()
    assert "iter 6/6 | loss" in log and "it/s" in log and "ETA" in log
    assert "val @ 3: PSNR-Y" in log and "val @ 6: PSNR-Y" in log
    assert "iter 6/6" in proc.stdout
    params = load_params(str(out / "latest.ckpt"))
    assert int(params["iteration"]) == 6 and "moment1.conv_first.weight" in params
    provenance, command = (out / "command.txt").read_text().splitlines()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    assert provenance.startswith("# ") and "mindspore 2.10.0" in provenance
    assert (commit or "git commit unknown") in provenance
    assert command.startswith("python ") and "train.py --train_dir" in command
    assert command.endswith("--total_iters 6 --log_every 2 --val_every 3 --ckpt_every 3")


def test_resume_after_sigkill_matches_an_uninterrupted_run(photos, tmp_path):
    common = ["--log_every", "1", "--val_every", "0", "--ckpt_every", "4", "--seed", "3"]
    run_train(photos, tmp_path / "straight", "--total_iters", "12", *common)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_command(photos, killed, "--total_iters", "1000000", *common),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "train.log"
    deadline = time.time() + 300
    while time.time() < deadline:          # kill once the iteration-4 checkpoint exists
        if log.is_file() and "iter 5/" in log.read_text():
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "done:" not in log.read_text()
    assert int(load_params(str(killed / "latest.ckpt"))["iteration"]) < 12

    run_train(photos, killed, "--total_iters", "12", "--resume", str(killed / "latest.ckpt"),
              *common)
    straight, resumed = (load_params(str(p / "latest.ckpt")) for p in (tmp_path / "straight", killed))
    assert set(straight) == set(resumed)
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6, err_msg=name)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(photos, tmp_path):
    out = tmp_path / "nan"
    # Without ReLUs nothing can die, so steps of 300 overflow float32 within a few steps
    # (seed 0: the loss is finite at iterations 1 and 2, inf at 3).
    proc = run_train(photos, out, "--total_iters", "50", "--lr", "300", "--warmup_iters", "0",
                     "--relu", "none", "--ckpt_every", "1", "--log_every", "1",
                     "--val_every", "0", check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "loss became" in last_line and "latest.ckpt' (iteration" in last_line
    assert "Traceback" not in proc.stderr
    bad = int(re.search(r"loss became \S+ at iteration (\d+)", last_line).group(1))
    kept = int(re.search(r"latest.ckpt' \(iteration (\d+)", last_line).group(1))
    params = load_params(str(out / "latest.ckpt"))
    assert all(np.isfinite(v).all() for v in params.values())
    # the kept weights gave the finite loss logged one step later; the ones after them
    # (which gave the inf) were not kept
    assert int(params["iteration"]) == kept == bad - 2
    assert f"iter {kept + 1}/50 | loss" in (out / "train.log").read_text()
    assert not [name for name in os.listdir(out) if name.startswith(".")]


def test_resume_from_a_weights_only_checkpoint_is_refused(photos, tmp_path):
    out = tmp_path / "run"
    run_train(photos, out, "--total_iters", "2", "--val_every", "2")
    proc = run_train(photos, tmp_path / "again", "--total_iters", "4", "--resume",
                     str(out / "best.ckpt"), check=False)
    assert proc.returncode == 2
    assert "has no training state" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_with_another_shape_names_the_parameter(photos, tmp_path):
    out = tmp_path / "run"
    run_train(photos, out, "--total_iters", "2", "--val_every", "0")
    proc = run_train(photos, tmp_path / "again", "--total_iters", "4", "--channels", "12",
                     "--resume", str(out / "latest.ckpt"), check=False)
    assert proc.returncode == 2
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "does not match this config" in last_line and "conv_first.weight" in last_line
    assert "vs model" in last_line and "Traceback" not in proc.stderr


def test_init_weights_starts_from_a_checkpoint_with_fresh_optimizer(photos, tmp_path):
    first = tmp_path / "first"
    run_train(photos, first, "--total_iters", "3", "--val_every", "3")
    # lr 1e-30: Adam's steps (about lr each) are far below float32 resolution of the
    # weights, so the final weights are the initial ones
    tuned = tmp_path / "tuned"
    run_train(photos, tuned, "--total_iters", "2", "--val_every", "0", "--lr", "1e-30",
              "--init_weights", str(first / "best.ckpt"))
    start, after = load_params(str(first / "best.ckpt")), load_params(str(tuned / "latest.ckpt"))
    weights = [name for name in start if name != "iteration"]
    assert weights and all(name in after for name in weights)
    for name in weights:
        np.testing.assert_allclose(after[name], start[name], rtol=0, atol=1e-20, err_msg=name)
    # Adam restarted: its step counts this run's 2 iterations only
    assert np.ravel(after["iteration"])[0] == 2 == np.ravel(after["global_step"])[0]
    log = (tuned / "train.log").read_text()
    assert f"initial weights: {first / 'best.ckpt'} (sha256 " in log
    assert "init_weights:" in (tuned / "config.yaml").read_text()
    # resuming continues the run's own weights, and says init_weights is not loaded again
    run_train(photos, tuned, "--total_iters", "3", "--val_every", "0", "--lr", "1e-30",
              "--init_weights", str(first / "best.ckpt"), "--resume", str(tuned / "latest.ckpt"))
    log = (tuned / "train.log").read_text()
    assert log.count("initial weights: ") == 1
    assert f"init_weights {first / 'best.ckpt'} not loaded: resuming" in log


def test_init_weights_of_another_shape_is_one_clear_line(photos, tmp_path):
    first = tmp_path / "first"
    run_train(photos, first, "--total_iters", "2", "--val_every", "2")
    proc = run_train(photos, tmp_path / "wide", "--total_iters", "2", "--channels", "12",
                     "--init_weights", str(first / "best.ckpt"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "best.ckpt" in last_line and "shape mismatch" in last_line
    assert "conv_first.weight" in last_line


def test_missing_train_folder_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "--train_dir", str(tmp_path / "nope"),
                           "--val_dir", "", "--output_dir", str(tmp_path / "o"), *TINY_ARGS,
                           "--mode", "pynative", "--total_iters", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert "--train_dir" in proc.stderr and "--data_dir" not in proc.stderr
    assert not (tmp_path / "o").exists()


def hashes(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(folder)) if (folder / name).is_file()}


def last_error_line(proc):
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture
def finished_run(photos, tmp_path):
    out = tmp_path / "run"
    run_train(photos, out, "--total_iters", "2", "--val_every", "2")
    return out


def test_a_second_start_into_a_run_folder_is_refused(photos, finished_run):
    before = hashes(finished_run)
    proc = run_train(photos, finished_run, "--total_iters", "3", check=False)
    line = last_error_line(proc)
    assert proc.returncode == 2
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert str(finished_run) in line
    assert hashes(finished_run) == before


def test_overwrite_replaces_the_run(photos, finished_run):
    run_train(photos, finished_run, "--total_iters", "1", "--val_every", "0", "--overwrite")
    assert int(load_params(str(finished_run / "latest.ckpt"))["iteration"]) == 1
    assert not (finished_run / "best.ckpt").exists()     # the old run's best is gone


@pytest.mark.parametrize("bad", [["--resume", "LATEST", "--train_dir", "/nonexistent/train"],
                                 ["--resume", "LATEST", "--lr", "-1"],
                                 ["--resume", "/nonexistent/latest.ckpt"],
                                 ["--overwrite", "--train_dir", "/nonexistent/train"],
                                 ["--overwrite", "--init_weights", "/nonexistent/w.ckpt"]])
def test_a_failed_start_changes_nothing_in_the_run_folder(photos, finished_run, bad):
    """Resuming or overwriting with one bad input: config.yaml, the checkpoints and the
    history stay as they were (the README's resume command still works)."""
    before = hashes(finished_run)
    bad = [str(finished_run / "latest.ckpt") if arg == "LATEST" else arg for arg in bad]
    proc = run_train(photos, finished_run, "--total_iters", "3", *bad, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "nonexistent" in last_error_line(proc) or "'lr'" in last_error_line(proc)
    assert hashes(finished_run) == before


@pytest.mark.parametrize("key,value", [("ckpt_every", "0"), ("log_every", "0"),
                                       ("lr_decay_step", "0"), ("num_kernels", "0"),
                                       ("total_iters", "0"), ("warmup_iters", "-5"),
                                       ("lr", "-1"), ("lr_patch_size", "1")])
def test_bad_training_values_are_one_line_naming_the_key(photos, tmp_path, key, value):
    proc = run_train(photos, tmp_path / "o", f"--{key}", value, check=False)
    line = last_error_line(proc)
    assert proc.returncode == 2 and line.startswith(f"error: config key '{key}' must be")
    assert "infer.py" not in line and not (tmp_path / "o").exists()


def test_output_under_a_file_is_one_line_naming_the_path(photos, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_train(photos, blocker / "run", "--total_iters", "1", check=False)
    line = last_error_line(proc)
    assert proc.returncode == 2 and str(blocker / "run") in line
    assert "Not a directory" in line or "File exists" in line
    assert blocker.read_text() == "not a folder"


def test_resume_keeps_files_named_like_temporaries_and_runs_at_the_given_temperature(
        photos, tmp_path):
    """Issue 31: a run folder's files named as the trainer's temporaries once were are a
    user's (they used to be deleted at every start); the run itself leaves none. A
    resumed run with --temperature runs at it (the checkpoint's own T used to win while
    config.yaml recorded the flag), and checkpoints get mode 0666 minus the umask."""
    import stat
    import yaml
    from src.files import file_mode
    out = tmp_path / "run"
    run_train(photos, out, "--total_iters", "2", "--val_every", "0", "--ckpt_every", "1")
    users = (".latest.ckpt.tmp.ckpt", ".latest.ckpt.tmp.tmp", ".best.ckpt.tmp.tmp",
             ".latest.pending.ckpt", "history.json.tmp", "config.yaml.tmp", ".write-test")
    for name in users:
        (out / name).write_bytes(b"a user's file")
    before = set(os.listdir(out))
    run_train(photos, out, "--total_iters", "4", "--val_every", "0", "--ckpt_every", "1",
              "--resume", str(out / "latest.ckpt"), "--temperature", "5")
    assert all((out / name).read_bytes() == b"a user's file" for name in users)
    assert set(os.listdir(out)) == before
    temperatures = {v.item() for k, v in load_params(str(out / "latest.ckpt")).items()
                    if k.endswith("control.temperature")}
    assert temperatures == {5.0}
    assert yaml.safe_load((out / "config.yaml").read_text())["temperature"] == 5.0
    assert stat.S_IMODE(os.stat(out / "latest.ckpt").st_mode) == file_mode()


def test_failed_checkpoint_write_removes_its_partial_files(tmp_path, monkeypatch):
    import mindspore as ms
    from mindspore import nn
    from src.checkpoint import save_checkpoint_atomic

    def disk_full(obj, path, append_dict=None):
        with open(path[:-len(".ckpt")] + ".tmp", "wb") as handle:   # as MindSpore does
            handle.write(b"half")
        raise OSError(28, "No space left on device", path[:-len(".ckpt")] + ".tmp")
    monkeypatch.setattr(ms, "save_checkpoint", disk_full)
    (tmp_path / "latest.ckpt").write_bytes(b"previous good one")
    with pytest.raises(OSError) as err:
        save_checkpoint_atomic(nn.Dense(2, 2), str(tmp_path / "latest.ckpt"))
    assert err.value.filename == str(tmp_path / "latest.ckpt")
    assert err.value.strerror == "No space left on device"
    assert os.listdir(tmp_path) == ["latest.ckpt"]
    assert (tmp_path / "latest.ckpt").read_bytes() == b"previous good one"


@pytest.mark.parametrize("argv,env,expected", [
    (["--device_target", "GPU", "--device_id", "3"], {"DEVICE_ID": "6"}, 3),
    (["--device_target", "GPU", "--device_id", "3", "--distribute", "true"],
     {"DEVICE_ID": "6"}, 6),
])
def test_device_id_reaches_set_device(monkeypatch, argv, env, expected):
    """One device: the config's device_id; under msrun: the rank's DEVICE_ID."""
    import importlib.util
    import mindspore as ms
    import src.engine.trainer as trainer
    calls = []
    monkeypatch.setattr(ms, "set_device", lambda *args: calls.append(args))
    monkeypatch.setattr(ms, "set_context", lambda **kwargs: None)
    monkeypatch.setattr(ms, "set_seed", lambda seed: None)
    monkeypatch.setattr(ms, "set_deterministic", lambda flag: None)
    monkeypatch.setattr(trainer, "train", lambda cfg, **kwargs: None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["train.py", "--mode", "pynative", *argv])
    spec = importlib.util.spec_from_file_location("train_entry", os.path.join(ROOT, "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    assert calls == [("GPU", expected)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("msrun", path=os.path.dirname(sys.executable)) is None,
                    reason="msrun (installed with mindspore) not found beside python")
def test_two_cpu_workers_equal_one_process_on_the_union_of_batches(photos, tmp_path):
    """msrun, 2 CPU processes, DATA_PARALLEL with gradients_mean: both replicas end
    identical, and equal to one process whose batch is the two ranks' batches together."""
    train_dir, val_dir = photos
    common = [*TINY_ARGS, "--train_dir", train_dir, "--val_dir", "", "--total_iters", "3",
              "--mode", "graph", "--seed", "5", "--log_every", "1", "--lr", "1e-2"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    port = 20000 + os.getpid() % 20000
    dist = subprocess.run(
        ["msrun", "--worker_num=2", "--local_worker_num=2", f"--master_port={port}",
         f"--log_dir={tmp_path / 'logs'}", "--join=True", "train.py", *common,
         "--distribute", "true", "--device_target", "CPU", "--output_dir", str(tmp_path / "dist"),
         "--dump_final_weights", str(tmp_path / "dist_weights")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    logs = "".join(open(os.path.join(tmp_path / "logs", f)).read()[-1500:]
                   for f in os.listdir(tmp_path / "logs")) if (tmp_path / "logs").exists() else ""
    assert dist.returncode == 0, dist.stdout[-1500:] + dist.stderr[-1500:] + logs
    single = common.copy()
    single[single.index("--batch_size") + 1] = "4"
    proc = subprocess.run([sys.executable, "train.py", *single, "--output_dir",
                           str(tmp_path / "single"), "--dump_final_weights",
                           str(tmp_path / "single_weights")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = (load_params(str(tmp_path / "dist_weights" / f"rank{r}.ckpt")) for r in (0, 1))
    one = load_params(str(tmp_path / "single_weights" / "rank0.ckpt"))
    assert "iter 3/3" in (tmp_path / "single" / "train.log").read_text()
    assert "iter 3/3" in (tmp_path / "dist" / "train.log").read_text()
    for name, value in one.items():
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
        np.testing.assert_allclose(rank0[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_val_image_too_small_to_measure_is_skipped_by_name(photos, tmp_path):
    """A 14x14 val photo (SSIM needs 11x11 after the crop of 2 per side): skipped with a
    warning at the start; a val folder of only such photos is refused before writing."""
    train_dir, val_dir = photos
    mixed = tmp_path / "mixed"
    shutil.copytree(val_dir, mixed)
    cv2.imwrite(str(mixed / "tiny.png"), np.full((14, 14, 3), 128, np.uint8))
    proc = run_train((train_dir, str(mixed)), tmp_path / "run", "--total_iters", "2",
                     "--val_every", "2")
    assert "skipped val image 'tiny'" in proc.stderr and "SSIM needs 11x11" in proc.stderr
    assert (tmp_path / "run" / "best.ckpt").is_file()
    only_tiny = tmp_path / "tiny"
    only_tiny.mkdir()
    shutil.copy(mixed / "tiny.png", only_tiny)
    before = hashes(only_tiny)
    proc = run_train((train_dir, str(only_tiny)), tmp_path / "refused", "--total_iters", "2",
                     check=False)
    line = last_error_line(proc)
    assert proc.returncode == 2 and str(only_tiny) in line and "--val_crop_border" in line
    assert not (tmp_path / "refused").exists() and hashes(only_tiny) == before


def test_several_val_sets_are_logged_and_recorded_under_their_names(photos, tmp_path):
    train_dir, val_dir = photos
    set5 = tmp_path / "Set5"
    shutil.copytree(val_dir, set5)
    out = tmp_path / "run"
    run_train((train_dir, f"{val_dir},{set5}"), out, "--total_iters", "2", "--val_every", "2",
              "--tensorboard", "true")
    log = (out / "train.log").read_text()
    assert re.search(r"^val @ 2: PSNR-Y [\d.]+ dB", log, re.M)          # the first set
    assert re.search(r"^val Set5 @ 2: PSNR-Y [\d.]+ dB", log, re.M)
    record = json.loads((out / "history.json").read_text())["val"][-1]
    assert list(record["sets"]) == [os.path.basename(val_dir), "Set5"]
    assert record["psnr_y"] == record["sets"][os.path.basename(val_dir)]["psnr_y"]
    assert record["sets"]["Set5"]["psnr_y"] == pytest.approx(record["psnr_y"])  # same photos
    from src.engine.tensorboard import event_files, read_scalars
    tags = set(read_scalars(event_files(str(out))[0]))
    assert {"val/psnr_y", "val_Set5/psnr_y", "val_Set5/ssim_y"} <= tags


def test_a_val_lr_list_of_another_length_is_one_line(photos, tmp_path):
    train_dir, val_dir = photos
    proc = run_train((train_dir, f"{val_dir},{val_dir}"), tmp_path / "run", "--total_iters",
                     "2", "--val_lr_dir", val_dir, check=False)
    assert proc.returncode == 2 and "val_lr_dir names 1 folder(s) for 2" in last_error_line(proc)
    assert not (tmp_path / "run").exists()


class ScriptedValidator:
    """Returns the figures given per call: {set: psnr_y or (psnr_y, psnr_rgb)} -> metrics
    with that PSNR-Y (and PSNR-RGB, else the same as PSNR-Y)."""

    def __init__(self, calls):
        self.calls, self.first = iter(calls), "val"

    def __call__(self):
        figures = {name: y if isinstance(y, tuple) else (y, y)
                   for name, y in next(self.calls).items()}
        return {name: {"psnr_y": y, "psnr_rgb": rgb, "ssim_y": 0.9, "bicubic_psnr_y": 30.0}
                for name, (y, rgb) in figures.items()}


def test_best_checkpoint_follows_the_first_set_only(tmp_path):
    """The test set (Set5) peaks at iteration 2, the first set at 3: best.ckpt is written
    at 1 and 3 only, and the history says 3."""
    from src.engine.trainer import RunFolder, new_history, validate
    from src.model.asconvsr import AsConvSRConfig, build_model
    net = build_model(AsConvSRConfig(channels=8, num_kernels=4))
    run = RunFolder(str(tmp_path), writer=True)
    history = new_history("psnr_y")
    validator = ScriptedValidator([{"val": 31.0, "Set5": 35.0}, {"val": 30.5, "Set5": 36.0},
                                   {"val": 31.2, "Set5": 34.0}])
    written = []
    for iteration in (1, 2, 3):
        scalars = validate(validator, net, run, history, iteration)
        written.append(load_params(str(tmp_path / "best.ckpt"))["iteration"].item())
    assert written == [1, 1, 3]
    assert (history["best_iteration"], history["best_value"]) == (3, 31.2)
    assert scalars["val/psnr_y"] == 31.2 and scalars["val_Set5/psnr_y"] == 34.0


def test_best_metric_psnr_rgb_chooses_by_the_first_sets_rgb_figure(tmp_path):
    """PSNR-Y peaks at iteration 2 and PSNR-RGB (the NTIRE kit's ranking) at 3: with
    best_metric psnr_rgb, best.ckpt is written at 1 and 3 and the history says 3."""
    from src.engine.trainer import RunFolder, new_history, validate
    from src.model.asconvsr import AsConvSRConfig, build_model
    net = build_model(AsConvSRConfig(channels=8, num_kernels=4))
    run = RunFolder(str(tmp_path), writer=True)
    history = new_history("psnr_rgb")
    validator = ScriptedValidator([{"val": (31.0, 28.0)}, {"val": (31.5, 27.9)},
                                   {"val": (31.1, 28.2)}])
    written = []
    for iteration in (1, 2, 3):
        validate(validator, net, run, history, iteration)
        written.append(load_params(str(tmp_path / "best.ckpt"))["iteration"].item())
    assert written == [1, 1, 3]
    assert (history["best_metric"], history["best_value"], history["best_iteration"]) == (
        "psnr_rgb", 28.2, 3)


def test_a_history_from_before_best_metric_reads_as_psnr_y(tmp_path):
    from src.engine.trainer import RunFolder
    (tmp_path / "history.json").write_text(json.dumps(
        {"loss": [], "val": [], "best_psnr_y": 32.9, "best_iteration": 4000}))
    history = RunFolder(str(tmp_path), writer=True).load_history()
    assert (history["best_metric"], history["best_value"], history["best_iteration"]) == (
        "psnr_y", 32.9, 4000)
    assert "best_psnr_y" not in history


def test_resume_with_another_best_metric_is_refused_before_any_file_changes(photos, tmp_path):
    out = tmp_path / "run"
    common = ("--log_every", "2", "--val_every", "2", "--ckpt_every", "2")
    run_train(photos, out, "--total_iters", "2", *common)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_train(photos, out, "--total_iters", "4", *common, "--best_metric", "psnr_rgb",
                     "--resume", str(out / "latest.ckpt"), check=False)
    last_line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and "history.json" in last_line
    assert "chose best.ckpt by psnr_y" in last_line and "--best_metric psnr_y" in last_line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert "done: 2 iterations; best val PSNR-Y" in (out / "train.log").read_text()


def test_resume_continues_the_cosine_schedule(tmp_path):
    """The schedule is a function of Adam's step, which the checkpoint holds: after
    resume_state the optimizer is at the checkpoint's point of the curve, not at its start."""
    import mindspore as ms
    from src.checkpoint import save_checkpoint_atomic
    from src.config import load_config
    from src.engine.train_step import build_train_step
    from src.engine.trainer import resume_state
    from src.model.asconvsr import AsConvSRConfig, build_model
    ms.set_context(mode=ms.PYNATIVE_MODE)
    cfg = load_config(overrides={"channels": 8, "num_kernels": 4, "lr_schedule": "cosine",
                                 "lr": 1e-3, "lr_min": 1e-5, "total_iters": 10,
                                 "warmup_iters": 0})
    rng = np.random.default_rng(0)
    lr, hr = (ms.Tensor(rng.random((1, 3, n, n), np.float32)) for n in (8, 16))
    step, schedule = build_train_step(build_model(AsConvSRConfig.from_dict(cfg)), cfg)
    for _ in range(3):
        step(lr, hr)
    save_checkpoint_atomic(step, str(tmp_path / "latest.ckpt"), append_dict={"iteration": 3})
    resumed, _ = build_train_step(build_model(AsConvSRConfig.from_dict(cfg)), cfg)
    assert resume_state(resumed, str(tmp_path / "latest.ckpt")) == 3
    current = float(resumed.optimizer.get_lr().asnumpy())
    assert current == pytest.approx(schedule.value_at(3), rel=1e-5)
    assert current < schedule.value_at(0) * 0.95                     # not the start again


def test_challenge_val_protocol_uses_the_kits_lr_and_crop_0(photos):
    """Validation of a model trained for the challenge scores what eval.py --protocol
    challenge scores: the kit's LR (Pillow bicubic + JPEG q90) and no border crop."""
    from src.config import load_config
    from src.data.dataset import load_eval_pairs
    from src.data.degrade import challenge_lr
    from src.engine.trainer import Validator
    from src.model.asconvsr import AsConvSRConfig, build_model
    cfg = load_config(overrides={"channels": 8, "num_kernels": 4, "val_dir": photos[1],
                                 "val_protocol": "challenge"})
    validator = Validator(cfg, build_model(AsConvSRConfig.from_dict(cfg)))
    name, lr, hr = load_eval_pairs(photos[1], 2)[0][0]
    assert validator.crop_border == 0
    first = validator.sets[validator.first][0]
    assert first[0] == name
    np.testing.assert_array_equal(first[1], challenge_lr(hr, 2))
    assert not np.array_equal(first[1], lr)                       # not the MATLAB bicubic
    standard = Validator(load_config(overrides={**cfg, "val_protocol": "standard"}),
                         build_model(AsConvSRConfig.from_dict(cfg)))
    assert standard.crop_border == 2


def test_history_json_is_strict_json_when_a_value_is_not_finite(tmp_path):
    from src.engine.trainer import RunFolder
    folder = RunFolder(str(tmp_path), writer=True)
    history = {"loss": [[100, float("nan")], [200, 0.5]],
               "val": [{"iteration": 200, "psnr_y": float("inf")}],
               "best_metric": "psnr_y", "best_value": float("inf"), "best_iteration": 200}
    folder.save_history(history)
    text = (tmp_path / "history.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the file"))
    assert strict["loss"][0] == [100, None] and strict["val"][0]["psnr_y"] is None
    # resuming reads the null best back as inf, so no later PSNR counts as a new best
    assert folder.load_history()["best_value"] == float("inf")
