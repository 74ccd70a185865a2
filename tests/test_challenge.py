"""The NTIRE 2023 RTSR protocol: helpers (src/challenge.py) and eval.py --protocol challenge."""
import importlib.util
import json
import os
import types

import cv2
import mindspore as ms
import pytest

from src.challenge import challenge_input_shape, measure_runtime_ms, parse_runtime
from src.config import ConfigError, save_config
from src.data.degrade import challenge_lr
from src.data.imresize import imresize_uint8
from src.metrics import ntire_score, psnr
from tests.test_eval import ROOT, run_eval, structured_rgb, tiny_net, write_png


def test_score_reproduces_the_winning_entry_of_the_challenge_report():
    # Table 1, track 1: bicubic 33.92 dB RGB, Noah TerminalVision 35.02 dB, 3.19 ms,
    # score 24.13 (PSNRs rounded to 0.01 dB there, so the score to about 1%).
    assert ntire_score(35.02, 33.92, 3.19) == pytest.approx(24.13, rel=0.012)


def test_score_is_zero_at_or_below_bicubic_and_falls_with_runtime():
    assert ntire_score(30.0, 30.0, 5.0) == 0.0
    assert ntire_score(29.0, 30.0, 5.0) == 0.0
    assert ntire_score(31.0, 30.0, 4.0) == pytest.approx(2 * ntire_score(31.0, 30.0, 16.0))
    # +1 dB doubles the score at the same runtime
    assert ntire_score(32.0, 30.0, 9.0) == pytest.approx(2 * ntire_score(31.0, 30.0, 9.0))


def test_runtime_flag_is_milliseconds_or_measure():
    assert parse_runtime("3.19") == 3.19 and parse_runtime("measure") is None
    for bad in ("0", "-2", "fast"):
        with pytest.raises(ConfigError, match="--runtime_ms"):
            parse_runtime(bad)


def test_input_shape_gives_a_4k_output():
    assert challenge_input_shape(2) == (1080, 1920)
    assert challenge_input_shape(3) == (720, 1280)


def test_runtime_is_the_mean_of_the_timed_runs_at_the_challenge_size():
    class FakePredict:
        def __init__(self):
            self.shapes, self.last_forward_ms = [], None

        def __call__(self, lr):
            self.shapes.append(lr.shape)
            self.last_forward_ms = float(len(self.shapes))   # 1, 2, 3, ... ms

    predict = FakePredict()
    # 3 warm-up runs (1-3 ms), then 4 timed ones (4-7 ms)
    assert measure_runtime_ms(predict, 3, runs=4) == pytest.approx(5.5)
    assert predict.shapes == [(720, 1280, 3)] * 7


# ---- eval.py --protocol challenge, end to end on a tiny model ----


@pytest.fixture(scope="module")
def hr_folder_and_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("challenge")
    (root / "hr").mkdir()
    for index in range(2):
        write_png(str(root / "hr" / f"im{index}.png"), structured_rgb(41, 38, seed=index))
    cfg, net = tiny_net(seed=5)
    save_config(cfg, str(root / "config.yaml"))
    ms.save_checkpoint(net, str(root / "model.ckpt"))
    return str(root / "hr"), str(root / "model.ckpt")


def test_challenge_protocol_scores_the_kits_lr_at_crop_0(tmp_path, hr_folder_and_checkpoint):
    hr_dir, ckpt = hr_folder_and_checkpoint
    out = tmp_path / "r.json"
    result = run_eval("--model", ckpt, "--data_dir", hr_dir, "--protocol", "challenge",
                      "--runtime_ms", "3.19", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "NTIRE 2023 RTSR score" in result.stdout
    report = json.loads(out.read_text())
    assert report["protocol"] == "challenge" and report["crop_border"] == 0
    for row in report["images"]:
        hr = cv2.imread(os.path.join(hr_dir, row["name"]), cv2.IMREAD_COLOR)[:, :, ::-1]
        hr = hr[:hr.shape[0] // 2 * 2, :hr.shape[1] // 2 * 2]        # mod-crop to the scale
        bicubic = imresize_uint8(challenge_lr(hr, 2), 2)           # bicubic of the kit's LR
        assert row["bicubic_psnr_rgb"] == pytest.approx(psnr(bicubic, hr, 0), abs=1e-9)
    mean, block = report["mean"], report["sets"][0]["challenge"]
    assert block["runtime_ms"] == 3.19 and block["runtime_source"] == "given"
    assert block["score_rgb"] == pytest.approx(
        ntire_score(mean["psnr_rgb"], mean["bicubic_psnr_rgb"], 3.19))


@pytest.mark.parametrize("flags, fragment", [
    (["--crop_border", "2"], "--crop_border 2"),
    (["--runtime_ms", "fast"], "--runtime_ms"),
    (["--runtime_ms", "-1"], "--runtime_ms"),
    (["--runtime_ms", "measure", "--runtime_runs", "0"], "--runtime_runs"),
])
def test_challenge_protocol_refuses_contradicting_flags_in_one_line(
        hr_folder_and_checkpoint, flags, fragment):
    hr_dir, ckpt = hr_folder_and_checkpoint
    result = run_eval("--model", ckpt, "--data_dir", hr_dir, "--protocol", "challenge", *flags)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def load_eval_module():
    spec = importlib.util.spec_from_file_location("eval_script", os.path.join(ROOT, "eval.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measured_runtime_times_the_model_at_the_challenge_size():
    class FakePredict:
        shapes, last_forward_ms = [], 4.0

        def __call__(self, lr):
            self.shapes.append(lr.shape)

    extras = types.SimpleNamespace(protocol="challenge", runtime_ms="measure", runtime_runs=2)
    predict = FakePredict()
    runtime_ms = load_eval_module().given_runtime(extras)
    assert runtime_ms is None                               # 'measure'
    protocol = load_eval_module().challenge_protocol(extras, runtime_ms, predict, 2)
    assert protocol["runtime_ms"] == 4.0 and protocol["make_lr"] is challenge_lr
    assert "measured" in protocol["runtime_source"] and predict.shapes == [(1080, 1920, 3)] * 5
    standard = types.SimpleNamespace(protocol="standard")
    assert load_eval_module().challenge_protocol(standard, None, predict, 2) == {}
