"""scripts/package_pretrained.py on tiny train.py runs: each run becomes the next stage of a
flat folder, earlier stages' files stay byte for byte, and a run that did not start from
the last stage's weights is refused without changing anything."""
import os
import subprocess
import sys

from tests.test_pretrained import stage_digests
from tests.test_train import ROOT, hashes, photos, run_train  # noqa: F401  (photos: fixture)

from src.files import sha256_of

SCRIPT = os.path.join(ROOT, "scripts", "package_pretrained.py")


def package(run, pretrained, *extra):
    return subprocess.run([sys.executable, SCRIPT, *extra, str(run), "tiny",
                           "--pretrained_dir", str(pretrained)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def all_hashes(folder):
    return {**{f"training/{k}": v for k, v in hashes(folder / "training").items()},
            **hashes(folder)}


def test_stages_are_added_beside_each_other_and_never_moved(photos, tmp_path):
    pretrained, tiny = tmp_path / "pretrained", tmp_path / "pretrained" / "tiny"
    first, second = tmp_path / "runs" / "first", tmp_path / "runs" / "second"
    run_train(photos, first, "--total_iters", "2", "--val_every", "2")
    assert package(first, pretrained).returncode == 0
    stage1 = {k: v for k, v in all_hashes(tiny).items() if k.startswith("training/stage1_")}
    assert len(stage1) == 5

    run_train(photos, second, "--total_iters", "2", "--val_every", "2",
              "--init_weights", str(first / "best.ckpt"))
    proc = package(second, pretrained)
    assert proc.returncode == 0, proc.stderr
    after = all_hashes(tiny)
    assert {k: after[k] for k in stage1} == stage1           # stage 1 untouched
    assert all(f"training/stage2_{f}" in after for f in
               ("command.txt", "config.yaml", "train.log", "history.json", "curve.png"))
    assert not (tiny / "init").exists() and sorted(os.listdir(tiny)) == sorted(
        ["tiny.ckpt", "config.yaml", "SHA256SUMS", "training"])
    assert [d for d, _ in stage_digests(tiny)] == [sha256_of(first / "best.ckpt"),
                                                    sha256_of(second / "best.ckpt")]
    assert after["tiny.ckpt"] == sha256_of(second / "best.ckpt")
    assert "init_weights" not in (tiny / "config.yaml").read_text()
    assert "channels: 8" in (tiny / "config.yaml").read_text()
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tiny,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    # first again: it did not start from stage 2's weights
    proc = package(first, pretrained)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "first" in line and "stage 2" in line
    assert all_hashes(tiny) == after


def test_an_unfinished_run_is_one_line_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text("iter 1/2 | loss 0.1\n")
    proc = package(run, tmp_path / "pretrained")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "run" in proc.stderr and "finished train.py run" in proc.stderr
    assert not (tmp_path / "pretrained").exists()
