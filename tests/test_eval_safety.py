"""eval.py never loses a user's file and one bad image never stops a set: issues 18 and
31 (a file named like a temporary, EXIF orientation, a --config_path changing a model key)."""
import json
import os
import stat

import cv2
import numpy as np
import pytest

from tests.test_eval import assert_one_line_refusal, run_eval, structured_rgb, x2_checkpoint  # noqa: F401
from tests.test_infer_safety import current_umask, digests


def hr_folder(folder, sizes):
    os.makedirs(folder, exist_ok=True)
    for i, (name, (h, w)) in enumerate(sizes.items()):
        image = structured_rgb(max(h, 32), max(w, 32), seed=i)[:h, :w]
        assert cv2.imwrite(os.path.join(folder, name), image[:, :, ::-1])
    return str(folder)


def test_save_dir_equal_to_data_dir_is_refused(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32)})
    before = digests(data)
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--save_dir", data)
    assert_one_line_refusal(result, "--save_dir", data, "input folder")
    assert digests(data) == before


def test_output_under_a_file_is_refused_before_evaluating(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32)})
    (tmp_path / "blocker").write_text("a file")
    for flag in ("--save_dir", "--json"):
        target = str(tmp_path / "blocker" / ("out.json" if flag == "--json" else "out"))
        result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, flag, target)
        reason = "is a file" if flag == "--json" else "Not a directory"
        assert_one_line_refusal(result, flag, "blocker", reason)
        assert "checkpoint" not in result.stdout


def test_clashing_stems_and_small_images(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"x.png": (32, 32), "x.bmp": (32, 36),
                                       "tiny.png": (14, 14), "thin.png": (2, 4)})
    before = digests(data)
    save, out_json = tmp_path / "sr", tmp_path / "r.json"
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--save_dir", str(save),
                      "--json", str(out_json), "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(out_json.read_text())
    assert [row["name"] for row in report["images"]] == ["x.bmp", "x.png"]
    assert sorted(report["skipped"])[0].startswith("thin.png: 4x2 is too small")
    assert any(s.startswith("tiny.png: 14x14 is too small") for s in report["skipped"])
    assert "2 images evaluated, 2 skipped" in result.stdout
    assert sorted(os.listdir(save)) == ["x_bmp.png", "x_png.png"]
    assert cv2.imread(str(save / "x_bmp.png")).shape == (32, 36, 3)
    for path in (save / "x_png.png", out_json):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~current_umask()
    assert digests(data) == before


def test_changed_model_key_warns(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32)})
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--temperature", "1")
    assert result.returncode == 0, result.stderr
    assert "warning: --temperature 1.0 differs" in result.stderr


def test_earlier_outputs_are_refused_unless_overwrite(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32), "b.png": (32, 36)})
    inputs = digests(data)
    save, compare, out_json = tmp_path / "sr", tmp_path / "cmp", tmp_path / "r.json"
    outputs = ("--save_dir", str(save), "--compare", str(compare), "--json", str(out_json))
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--quiet", *outputs)
    assert result.returncode == 0, result.stderr
    out_json.write_text("an earlier report")
    earlier = {folder: digests(str(folder)) for folder in (save, compare, tmp_path)}
    for flags in (outputs, ("--json", str(out_json)), ("--compare", str(compare))):
        result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--quiet", *flags)
        first = {"--save_dir": save / "a.png", "--compare": compare / "a_compare.png",
                 "--json": out_json}[flags[0]]
        assert_one_line_refusal(result, f"output '{first}' exists", "--overwrite")
        assert "checkpoint" not in result.stdout                  # refused before loading
        assert {folder: digests(str(folder)) for folder in earlier} == earlier
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--quiet", "--overwrite",
                      *outputs)
    assert result.returncode == 0, result.stderr
    assert json.loads(out_json.read_text())["num_images"] == 2
    assert digests(data) == inputs


def test_an_image_pair_that_cannot_be_measured_is_named():
    from src.evaluate import evaluate_pairs
    from src.metrics import MetricError
    hr = structured_rgb(32, 32, seed=0)
    with pytest.raises(MetricError, match=r"image 'odd.png': images differ in shape"):
        evaluate_pairs(lambda lr: hr, [("odd.png", hr[:15, :16], hr)], 2, 2)


def test_lr_of_the_wrong_size_is_one_line_naming_both_files(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32)})
    lr = hr_folder(tmp_path / "lr", {"a.png": (15, 16)})
    before = digests(data), digests(lr)
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--lr_dir", lr,
                      "--save_dir", str(tmp_path / "sr"))
    assert_one_line_refusal(result, os.path.join(lr, "a.png"), os.path.join(data, "a.png"),
                            "--scale")
    assert (digests(data), digests(lr)) == before and not os.listdir(tmp_path / "sr")


def test_one_lr_of_the_wrong_size_is_skipped_by_name(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32), "b.png": (32, 32)})
    lr = hr_folder(tmp_path / "lr", {"a.png": (16, 16), "b.png": (15, 16)})
    before = digests(data), digests(lr)
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data, "--lr_dir", lr)
    assert result.returncode == 0, result.stderr
    assert "1 images evaluated, 1 skipped" in result.stdout
    assert os.path.join(lr, "b.png") in result.stderr
    assert (digests(data), digests(lr)) == before


def test_a_refused_earlier_output_leaves_no_new_folder(tmp_path, x2_checkpoint):  # noqa: F811
    data = hr_folder(tmp_path / "hr", {"a.png": (32, 32)})
    (tmp_path / "r.json").write_text("an earlier result")
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", data,
                      "--json", str(tmp_path / "r.json"), "--save_dir", str(tmp_path / "new"))
    assert_one_line_refusal(result, str(tmp_path / "r.json"), "--overwrite")
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "r.json").read_text() == "an earlier result"


# --- issue 31 -------------------------------------------------------------------------------

def test_a_users_file_named_like_the_json_temporary_is_kept_and_images_read_upright(
        tmp_path, x2_checkpoint):  # noqa: F811
    """`eval.py --json W/res.json` beside a user's W/res.json.tmp (eval wrote through that
    name and removed it); an HR photo stored sideways with EXIF orientation 6 and its LR
    stored upright: a pair, as viewers show them (it was a size mismatch)."""
    from tests.test_infer_safety import oriented_image
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    stored = oriented_image(hr_dir / "phone.jpg", 40, 24, 6)           # shown 24 wide, 40 high
    lr = np.ascontiguousarray(np.rot90(stored, -1)[::2, ::2])          # 12 x 20, upright
    assert cv2.imwrite(str(lr_dir / "phone.jpg"), lr[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    (tmp_path / "res.json.tmp").write_text("notes")
    result = run_eval("--ckpt_path", x2_checkpoint, "--data_dir", str(hr_dir), "--lr_dir",
                      str(lr_dir), "--json", str(tmp_path / "res.json"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "res.json.tmp").read_text() == "notes"
    assert sorted(os.listdir(tmp_path)) == ["hr", "lr", "res.json", "res.json.tmp"]
    report = json.loads((tmp_path / "res.json").read_text())
    assert [row["name"] for row in report["images"]] == ["phone.jpg"] and not report["skipped"]


def test_a_config_file_that_changes_a_model_key_warns_like_the_flag(tmp_path, x2_checkpoint):  # noqa: F811
    """--config_path other.yaml differing from the checkpoint's config.yaml in a model key:
    warned about as the flag is, and the temperature it gives is the one run."""
    import io
    import yaml
    import eval as eval_script
    from src.checkpoint import load_trained_model
    from src.deploy.cli import temperature_to_run, warn_changed_model_keys
    beside = os.path.join(os.path.dirname(x2_checkpoint), "config.yaml")
    values = yaml.safe_load(open(beside))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(dict(values, temperature=5.0)))
    for argv, origin in ((["--config_path", str(other)], f"temperature: 5.0 in {other}"),
                         (["--temperature", "5"], "--temperature 5.0")):
        argv = ["--model", x2_checkpoint] + argv
        cfg, _, _ = eval_script.resolve_config(argv)
        out = io.StringIO()
        warned = warn_changed_model_keys(argv, cfg, x2_checkpoint, out)
        assert [key for key, *_ in warned] == ["temperature"]
        assert out.getvalue().startswith(f"warning: {origin} differs from the checkpoint's")
        assert temperature_to_run(argv, cfg, x2_checkpoint) == 5.0
        net, _ = load_trained_model(cfg, x2_checkpoint, temperature_to_run(argv, cfg, x2_checkpoint))
        assert net.temperature() == 5.0
    argv = ["--model", x2_checkpoint, "--config_path", beside]      # its own file: no change
    cfg, _, _ = eval_script.resolve_config(argv)
    assert warn_changed_model_keys(argv, cfg, x2_checkpoint, io.StringIO()) == []
    assert temperature_to_run(argv, cfg, x2_checkpoint) is None


def test_a_perfectly_recovered_image_gives_an_infinite_psnr_but_no_nan_gain():
    """PSNR of identical images is +inf (written null in the JSON); where bicubic is
    perfect too (a flat image) the gain is 0, not inf - inf = NaN for the whole set."""
    from src.evaluate import evaluate_pairs
    import eval as eval_script
    flat = np.full((32, 32, 3), 128, np.uint8)
    hr = structured_rgb(32, 32, seed=0)
    outputs = {"flat.png": flat, "a.png": hr}
    rows, mean = evaluate_pairs(lambda lr: outputs["flat.png" if lr.std() == 0 else "a.png"],
                                [("flat.png", flat[::2, ::2], flat), ("a.png", hr[::2, ::2], hr)],
                                2, 2)
    assert [row["gain_psnr_y"] for row in rows][0] == 0.0 and rows[0]["psnr_y"] == float("inf")
    assert mean["gain_psnr_y"] == float("inf") and not np.isnan(mean["gain_psnr_rgb"])
    assert json.loads(json.dumps(eval_script.finite_or_none(mean)))["psnr_y"] is None


@pytest.mark.parametrize("text", ["inf", "nan", "0", "-3"])
def test_a_runtime_that_is_not_a_finite_positive_number_is_refused(text):
    from src.challenge import parse_runtime
    from src.config import ConfigError
    with pytest.raises(ConfigError, match=rf"--runtime_ms must be a finite number > 0, got {text}"):
        parse_runtime(text)
