"""Score what you deploy (issue 30): eval.py predicts through infer.py's runners, so a
checkpoint, its MINDIR and its ONNX export score alike; training's validation runs the
same stack on its network in memory; a bad model file is one line naming it, in eval.py
as in infer.py."""
import json
import os
import shutil

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor

from src.config import save_config
from src.deploy.predictor import Predictor, predictor_for_network
from src.deploy.runners import CheckpointRunner
from src.images import write_png
from tests.synthetic import structured_images
from tests.test_eval import run_eval, tiny_net
from tests.test_infer import run_infer
from tests.test_infer_safety import one_line_error

MEAN_PSNR_TOLERANCE_DB = 0.01      # the bar for "the same numbers"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{"ckpt", "mindir", "onnx": path} of one tiny x2 model (fresh weights, as train.py
    starts), its exports with tile graphs, and "hr": a folder of synthetic HR images."""
    from src.deploy.exporter import export_model
    root = tmp_path_factory.mktemp("model_files")
    cfg, net = tiny_net(seed=3)
    save_config(cfg, str(root / "config.yaml"))
    ckpt = str(root / "model.ckpt")
    ms.save_checkpoint(net, ckpt)
    paths = {"ckpt": ckpt}
    for file_format in ("MINDIR", "ONNX"):
        written, _ = export_model(cfg, ckpt, file_format, str(root / "export" / "m"),
                                  log=lambda *_: None)
        paths[file_format.lower()] = written["full"]
    (root / "hr").mkdir()
    # LR 48 x 48: more than one tile window (--tile 8 + halo 10 each side = 28)
    images = (structured_images(3, 96, seed=11).transpose(0, 2, 3, 1) * 255).round()
    for index, image in enumerate(images.astype(np.uint8)):
        if index == 2:
            image = image[:94, :86]            # LR 47 x 43: odd, padded to the unshuffle grid
        write_png(str(root / "hr" / f"s{index}.png"), image)
    paths["hr"] = str(root / "hr")
    return paths


def eval_report(tmp_path, model, hr, *flags):
    """(JSON report, stdout) of eval.py on ``model`` over the folder ``hr``."""
    out = tmp_path / f"{os.path.basename(model)}{'_'.join(flags)}.json"
    result = run_eval("--model", model, "--data_dir", hr, "--json", str(out), "--quiet", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stdout


def test_checkpoint_mindir_and_onnx_score_alike_through_eval_py(tmp_path, exported):
    # the checkpoint in graph mode (run_eval's --mode pynative is overridden), the
    # exports as they run anyway; then ONNX in tiles
    hr = exported["hr"]
    runs = {"checkpoint": eval_report(tmp_path, exported["ckpt"], hr, "--mode", "graph"),
            "mindir": eval_report(tmp_path, exported["mindir"], hr),
            "onnx": eval_report(tmp_path, exported["onnx"], hr),
            "onnx tiled": eval_report(tmp_path, exported["onnx"], hr, "--tile", "8")}
    reference = runs["checkpoint"][0]
    for name, (report, stdout) in runs.items():
        kind = name.split()[0]
        assert report["model_format"] == kind and report["precision"] == "float32"
        assert report["checkpoint"] == (exported["ckpt"] if kind == "checkpoint" else None)
        tiled = name.endswith("tiled")
        assert report["inference"].startswith("tiles of 8" if tiled else "whole image")
        assert f"[{kind}, {report['inference']}, float32]" in stdout      # the table says so
        assert report["scale"] == 2 and report["params"] == reference["params"]
        assert [row["name"] for row in report["images"]] == ["s0.png", "s1.png", "s2.png"]
        for row, expected in zip(report["images"], reference["images"]):
            assert row["psnr_y"] == pytest.approx(expected["psnr_y"], abs=MEAN_PSNR_TOLERANCE_DB)
            assert row["bicubic_psnr_y"] == expected["bicubic_psnr_y"]
        assert report["mean"]["psnr_y"] == pytest.approx(reference["mean"]["psnr_y"],
                                                         abs=MEAN_PSNR_TOLERANCE_DB)
    assert reference["mean"]["gain_psnr_y"] != 0.0     # the model is not bicubic itself


def test_validation_runs_the_network_in_memory_through_the_checkpoint_runner():
    _, net = tiny_net(seed=4)
    net.set_train(True)                                # as the trainer holds it
    predict = predictor_for_network(net, 2)          # trainer.Validator's call
    assert isinstance(predict, Predictor) and isinstance(predict.runner, CheckpointRunner)
    assert net.training                                # wrapping left the run's mode alone
    net.set_train(False)                               # as trainer.validate does
    lr = (structured_images(1, 12, seed=2)[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    before = predict(lr)
    first = net.trainable_params()[0]
    first.set_data(Tensor(first.asnumpy() * 3))        # a training step changes the weights
    after = predict(lr)
    assert not np.array_equal(before, after)           # validation sees the current weights
    x = Tensor(np.ascontiguousarray(lr.transpose(2, 0, 1)[None], np.float32) / 255)
    expected = np.round(np.clip(net(x).asnumpy()[0].transpose(1, 2, 0), 0, 1) * 255)
    assert np.abs(after.astype(int) - expected).max() <= 1     # float rounding at .5 only
    with pytest.raises(ValueError, match="unshuffle 4"):
        predictor_for_network(net, 4)


def bad_copy(exported, folder, case):
    """A broken model file of ``case`` in ``folder``; returns (path, text the error line
    must hold besides the path)."""
    os.makedirs(folder, exist_ok=True)

    def copy(source, name, sidecar=False, keep=None):
        target = os.path.join(folder, name)
        data = open(source, "rb").read()
        open(target, "wb").write(data if keep is None else data[:int(len(data) * keep)])
        if sidecar:
            shutil.copy(source + ".json", target + ".json")
        return target
    cases = {
        "mindir named onnx": (lambda: copy(exported["mindir"], "m.onnx"), "holds a MINDIR graph"),
        "onnx named mindir": (lambda: copy(exported["onnx"], "m.mindir"), "holds an ONNX graph"),
        "onnx named mindir, sidecar too": (lambda: copy(exported["onnx"], "m.mindir", True),
                                           "holds an ONNX graph"),
        "truncated mindir": (lambda: copy(exported["mindir"], "m.mindir", True, 0.5),
                             "cannot be loaded"),
        "truncated onnx": (lambda: copy(exported["onnx"], "m.onnx", True, 0.5),
                           "cannot be loaded"),
        "truncated checkpoint": (lambda: copy(exported["ckpt"], "m.ckpt", keep=0.5),
                                 "not a readable MindSpore checkpoint"),
    }
    make, fragment = cases[case]
    return make(), fragment


@pytest.mark.parametrize("case", ["mindir named onnx", "onnx named mindir",
                                  "onnx named mindir, sidecar too", "truncated mindir",
                                  "truncated onnx", "truncated checkpoint"])
def test_bad_model_file_is_one_line_naming_it_in_eval_py(tmp_path, exported, case):
    model, fragment = bad_copy(exported, str(tmp_path / "bad"), case)
    result = run_eval("--model", model, "--data_dir", exported["hr"], "--quiet")
    one_line_error(result, model, fragment)


@pytest.mark.parametrize("case", ["mindir named onnx", "onnx named mindir"])
def test_mislabelled_export_is_the_same_line_in_infer_py(tmp_path, exported, case):
    model, fragment = bad_copy(exported, str(tmp_path / "bad"), case)
    image = os.path.join(exported["hr"], "s0.png")
    result = run_infer("--model", model, "--input", image, "--output", str(tmp_path / "o.png"))
    one_line_error(result, model, fragment)
    assert not (tmp_path / "o.png").exists()


def test_an_exports_scale_comes_from_its_metadata_before_loading(tmp_path):
    """eval.py makes the LR before the model loads: an x3 export under the default
    config (scale 2) is still evaluated at x3; a contradicting --scale is refused."""
    from src.config import load_config
    from src.deploy.metadata import FORMAT
    from src.deploy.network import DeployError
    from src.deploy.runners import model_scale
    model = tmp_path / "x3.mindir"
    model.write_bytes(b"not loaded here")
    (tmp_path / "x3.mindir.json").write_text(json.dumps({"format": FORMAT, "scale": 3}))
    cfg = load_config()
    assert cfg.scale == 2 and model_scale(str(model), cfg) == 3
    assert model_scale(str(tmp_path / "run.ckpt"), cfg) == 2         # a checkpoint: its config
    with pytest.raises(DeployError, match="--scale 2 disagrees"):
        model_scale(str(model), cfg, explicit_keys={"scale"})
