"""Evaluation: the predictor's padding, evaluate_pairs (keys, means, cached bicubic rows),
and eval.py end to end (table, JSON, saved images, refusals) on a tiny synthetic set."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor

import src.evaluate as evaluate
from src.deploy.predictor import predictor_for_network
from src.config import load_config, save_config
from src.data.imresize import imresize_uint8
from src.metrics import psnr, rgb_to_y, ssim
from src.model.asconvsr import AsConvSRConfig, build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=8, num_kernels=4)
ROW_KEYS = ["name", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "bicubic_psnr_y",
            "bicubic_ssim_y", "bicubic_psnr_rgb", "bicubic_ssim_rgb", "runtime_ms"]


def structured_rgb(height, width, seed):
    """uint8 RGB image with a gradient, sharp rectangles and a sinusoid texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = 60 + 120 * (xx * rng.random() + yy * rng.random())[..., None] * rng.random(3)
    for _ in range(3):
        y0, x0 = rng.integers(0, height - 8), rng.integers(0, width - 8)
        img[y0:y0 + rng.integers(4, 20), x0:x0 + rng.integers(4, 20)] = rng.integers(0, 256, 3)
    img += 30 * np.sin(2 * np.pi * 6 * (xx + 0.5 * yy))[..., None] * rng.random(3)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def tiny_net(seed=0, **overrides):
    cfg = load_config(None, dict(TINY, **overrides))
    ms.set_seed(seed)
    net = build_model(AsConvSRConfig.from_dict(cfg))
    net.set_train(False)
    return cfg, net


def test_predictor_pads_odd_sizes_and_crops_back():
    _, net = tiny_net()
    lr = structured_rgb(13, 18, seed=1)
    sr = predictor_for_network(net, 2)(lr)
    assert sr.shape == (26, 36, 3) and sr.dtype == np.uint8
    padded = np.pad(lr, ((0, 1), (0, 0), (0, 0)), mode="edge").astype(np.float32) / 255
    out = net(Tensor(padded.transpose(2, 0, 1)[None].copy())).asnumpy()[0, :, :26, :36]
    expected = np.round(np.clip(out.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(sr, expected)


def test_evaluate_pairs_rows_mean_and_bicubic_cache(monkeypatch):
    hrs = [structured_rgb(32, 28, seed) for seed in range(3)]
    pairs = [(f"img{i}", imresize_uint8(hr, 0.5), hr) for i, hr in enumerate(hrs)]
    calls = []
    original = evaluate.bicubic_metrics
    monkeypatch.setattr(evaluate, "bicubic_metrics",
                        lambda *args: calls.append(1) or original(*args))

    def predict_bicubic(lr):           # a "model" that is bicubic: gain exactly 0
        return imresize_uint8(lr, 2)

    rows, mean = evaluate.evaluate_pairs(predict_bicubic, pairs, 2, 2)
    assert len(calls) == 3
    assert [row["name"] for row in rows] == ["img0", "img1", "img2"]
    assert set(ROW_KEYS) <= set(rows[0]) and set(ROW_KEYS[1:]) <= set(mean)
    for row in rows:
        assert row["psnr_y"] == row["bicubic_psnr_y"] and row["gain_psnr_y"] == 0.0
    assert mean["psnr_rgb"] == pytest.approx(np.mean([row["psnr_rgb"] for row in rows]))
    evaluate.evaluate_pairs(predict_bicubic, pairs, 2, 2)
    assert len(calls) == 3             # second validation: bicubic rows from the cache
    evaluate.evaluate_pairs(predict_bicubic, pairs, 2, 0)
    assert len(calls) == 6             # another crop: recomputed


def test_predictor_warms_up_per_shape_in_graph_mode_only():
    _, net = tiny_net()
    predict = predictor_for_network(net, 2)
    small, other = np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)
    assert predict.needs_warm_up(small)
    predict.warm_up(small)
    assert not predict.needs_warm_up(other)           # PyNative: nothing to compile
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        assert predict.needs_warm_up(other) and not predict.needs_warm_up(small)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


# ---- eval.py end to end ----

def write_png(path, rgb):
    assert cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    first, second = root / "tiny", root / "other"
    first.mkdir(), second.mkdir()
    for index in range(3):
        write_png(str(first / f"im{index}.png"), structured_rgb(48, 40, seed=index))
    (first / "broken.png").write_bytes(b"this is not a png")
    write_png(str(second / "solo.png"), structured_rgb(40, 44, seed=7))
    return str(first), str(second)


@pytest.fixture(scope="module")
def x2_checkpoint(tmp_path_factory):
    """A freshly initialised tiny x2 model, its config.yaml beside it (as train.py does)."""
    folder = tmp_path_factory.mktemp("run")
    cfg, net = tiny_net(seed=3)
    save_config(cfg, str(folder / "config.yaml"))
    ms.save_checkpoint(net, str(folder / "model.ckpt"))
    return str(folder / "model.ckpt")


def run_eval(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), "--mode", "pynative",
                           *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


def independent_bicubic_row(path):
    hr = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]
    bicubic = imresize_uint8(imresize_uint8(hr, 0.5), 2)
    y_sr, y_hr = rgb_to_y(bicubic), rgb_to_y(hr)
    return hr, {"bicubic_psnr_y": psnr(y_sr, y_hr, 2), "bicubic_ssim_y": ssim(y_sr, y_hr, 2),
                "bicubic_psnr_rgb": psnr(bicubic, hr, 2), "bicubic_ssim_rgb": ssim(bicubic, hr, 2)}


def test_eval_script_end_to_end(tmp_path, image_sets, x2_checkpoint):
    first, second = image_sets
    out_json, save, compare = tmp_path / "r.json", tmp_path / "sr", tmp_path / "cmp"
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", first, "--data_dir", second,
                      "--json", str(out_json), "--save_dir", str(save), "--compare", str(compare))
    assert result.returncode == 0, result.stderr
    assert "3 images evaluated, 1 skipped" in result.stdout
    assert "broken" in result.stdout and "mean" in result.stdout
    report = json.loads(out_json.read_text())
    for key in ("images", "mean", "scale", "checkpoint", "params", "macs_per_image", "sets"):
        assert key in report
    assert report["scale"] == 2 and report["num_skipped"] == 1 and report["params"] > 0
    assert report["config"].endswith("config.yaml")         # found beside the checkpoint
    assert len(report["images"]) == 3 and [s["num_images"] for s in report["sets"]] == [3, 1]
    for row in report["images"]:
        assert set(ROW_KEYS) <= set(row)
        stem = os.path.splitext(row["name"])[0]
        hr, expected = independent_bicubic_row(os.path.join(first, f"{stem}.png"))
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-9)
        saved = cv2.imread(str(save / "tiny" / f"{stem}.png"), cv2.IMREAD_COLOR)[:, :, ::-1]
        assert saved.shape == hr.shape
        assert row["psnr_y"] == pytest.approx(psnr(rgb_to_y(saved), rgb_to_y(hr), 2), abs=1e-9)
        assert (compare / "tiny" / f"{stem}_compare.png").is_file()
    assert set(ROW_KEYS[1:]) <= set(report["mean"])
    assert report["mean"]["psnr_y"] == pytest.approx(
        np.mean([row["psnr_y"] for row in report["images"]]))


def assert_one_line_refusal(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[-1]


def test_eval_refuses_a_checkpoint_of_another_scale(image_sets, x2_checkpoint):
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", image_sets[0], "--scale", "3")
    assert_one_line_refusal(result, "model.ckpt", "shape mismatch", "conv_last")


def test_eval_refuses_a_missing_checkpoint(tmp_path, image_sets):
    missing = str(tmp_path / "nowhere.ckpt")
    result = run_eval("--ckpt_path", missing, "--data_dir", image_sets[0])
    assert_one_line_refusal(result, "nowhere.ckpt", "does not exist")
