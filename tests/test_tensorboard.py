"""TensorBoard event files of train.py (config key tensorboard): the scalars read back
as the values train.log and history.json hold; a missing tensorboardX is one line."""
import json
import os
import re

import numpy as np
import pytest

from src.config import ConfigError
from src.engine.tensorboard import check_installed, event_files, read_scalars
from tests.test_train import photos, run_train  # noqa: F401  (photos is a fixture)


def test_three_iterations_write_scalars_that_read_back_as_logged(photos, tmp_path):  # noqa: F811
    pytest.importorskip("tensorboardX")
    out = tmp_path / "run"
    run_train(photos, out, "--total_iters", "3", "--log_every", "1", "--val_every", "3",
              "--ckpt_every", "3", "--tensorboard", "true")
    files = event_files(str(out))
    assert len(files) == 1 and os.path.dirname(files[0]) == str(out)   # beside train.log
    scalars = read_scalars(files[0])
    history = json.loads((out / "history.json").read_text())
    as_float32 = lambda pairs: [(int(step), float(np.float32(v))) for step, v in pairs]
    assert scalars["train/loss"] == as_float32(history["loss"])
    assert [step for step, _ in history["loss"]] == [1, 2, 3]
    log = (out / "train.log").read_text()
    logged_lr = [float(v) for v in re.findall(r"\| lr ([0-9.e+-]+) \|", log)]
    assert [step for step, _ in scalars["train/lr"]] == [1, 2, 3]
    assert [v for _, v in scalars["train/lr"]] == pytest.approx(logged_lr, rel=1e-2)
    for key in ("psnr_y", "psnr_rgb", "ssim_y"):
        assert scalars[f"val/{key}"] == as_float32([(3, history["val"][0][key])])
    run_train(photos, out, "--total_iters", "1", "--val_every", "0", "--tensorboard", "true",
              "--overwrite")
    assert len(event_files(str(out))) == 1          # the replaced run's curves went with it


def test_missing_tensorboardx_is_a_config_error_naming_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorboardX", None)   # import fails
    with pytest.raises(ConfigError, match="tensorboardX package is not installed"):
        check_installed()


def test_train_with_tensorboard_and_no_tensorboardx_stops_before_writing(
        photos, tmp_path, monkeypatch):  # noqa: F811
    shim = tmp_path / "shim" / "tensorboardX"    # first on train.py's path; import fails
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('not installed (test shim)')\n")
    out = tmp_path / "run"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(shim.parent), os.environ.get("PYTHONPATH")])))
    proc = run_train(photos, out, "--total_iters", "2", "--tensorboard", "true", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "tensorboardX" in lines[0] and "--tensorboard false" in lines[0]
    assert not out.exists()
