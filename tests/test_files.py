"""The one atomic write (src/files.py) behind every writer: temporary names no one else
has, nothing left behind on failure, exclusive creation, the usual file mode (issue 31)."""
import json
import os
import stat

import pytest

from src.files import atomic_write, file_mode, publish


def test_temporary_names_are_made_up_and_the_old_fixed_names_are_left_alone(tmp_path):
    """A user's files with the names the writers used to write through (and delete) stay
    as they were: eval's --json, export's sidecar, infer's image, train's history."""
    import eval as eval_script
    from src.deploy.metadata import write_sidecar
    from src.images import write_image
    import numpy as np
    old_names = ["res.json.tmp", "m.mindir.json.tmp", ".a.png.tmp.png", "history.json.tmp",
                 "config.yaml.tmp", "curve.png.tmp.png"]
    for name in old_names:
        (tmp_path / name).write_text("notes")
    eval_script.write_json(str(tmp_path / "res.json"), {"psnr": float("inf")}, overwrite=False)
    write_sidecar(str(tmp_path / "m.mindir"), {"scale": 2}, overwrite=False)
    write_image(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8), overwrite=False)
    from src.config import load_config, save_config
    from src.engine.trainer import RunFolder, plot_curves
    save_config(load_config(), str(tmp_path / "config.yaml"))
    RunFolder(str(tmp_path), writer=True).save_history({"loss": [[1, 0.5]], "val": []})
    plot_curves({"loss": [[1, 0.5], [2, 0.4]], "val": []}, str(tmp_path / "curve.png"))
    for name in old_names:
        assert (tmp_path / name).read_text() == "notes", name
    assert sorted(os.listdir(tmp_path)) == sorted(old_names + [
        "res.json", "m.mindir.json", "a.png", "config.yaml", "history.json", "curve.png"])
    assert json.loads((tmp_path / "res.json").read_text()) == {"psnr": None}


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("an earlier result")
    with pytest.raises(RuntimeError, match="encoder broke"):
        with atomic_write(str(target)) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("encoder broke")
    assert os.listdir(tmp_path) == ["out.json"]
    assert target.read_text() == "an earlier result"


def test_exclusive_publish_keeps_a_file_that_appeared_meanwhile(tmp_path):
    """Another run wrote the target after this one checked: it is left as it is."""
    target = tmp_path / "a.png"
    with pytest.raises(FileExistsError) as err:
        with atomic_write(str(target), overwrite=False) as tmp:
            with open(tmp, "w") as handle:
                handle.write("mine")
            target.write_text("theirs")                   # the other run, in between
    assert err.value.filename == str(target)
    assert target.read_text() == "theirs" and os.listdir(tmp_path) == ["a.png"]
    spare = tmp_path / "spare"
    spare.write_text("mine")
    publish(str(spare), str(target), overwrite=True)
    assert target.read_text() == "mine"


def test_checkpoints_get_the_usual_mode(tmp_path):
    """MindSpore writes checkpoints 0400; docs/safety.md promises 0666 minus the umask."""
    from mindspore import nn
    from src.checkpoint import save_checkpoint_atomic
    path = tmp_path / "latest.ckpt"
    save_checkpoint_atomic(nn.Dense(2, 2), str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == file_mode()
    assert os.listdir(tmp_path) == ["latest.ckpt"]
