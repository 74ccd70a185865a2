"""infer.py never loses a user's file: issue 18 (same folder, stem clashes, bad files,
existing outputs, unknown extensions, file modes, broken exports, changed model keys)."""
import hashlib
import os
import stat

import cv2
import numpy as np
import pytest

from src.deploy.infer_jobs import plan_jobs
from src.deploy.outputs import OutputError, output_names
from tests.test_infer import rand, run_infer, tiny_checkpoint, write


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(str(tmp_path_factory.mktemp("run")))[1]


def digests(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}


def photos(folder, names=("a.png", "x.png", "x.jpg")):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        write(os.path.join(folder, name), (rand(10, 12, 3, seed=i) * 255).astype(np.uint8))
    return str(folder)


def one_line_error(result, *fragments, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ")
    for fragment in fragments:
        assert fragment in last
    return last


def test_output_names_keep_clashing_extensions():
    assert output_names(["x.png", "x.jpg", "y.bmp"], ".png") == {
        "x.png": "x_png.png", "x.jpg": "x_jpg.png", "y.bmp": "y.png"}
    assert output_names(["y.bmp"], ".png", "_x2") == {"y.bmp": "y_x2.png"}


def test_plan_refusals(tmp_path):
    folder = photos(tmp_path / "in")
    before = digests(folder)
    with pytest.raises(OutputError, match="input folder"):
        plan_jobs(folder, folder)
    with pytest.raises(OutputError, match="not an image extension"):
        plan_jobs(os.path.join(folder, "a.png"), str(tmp_path / "out.xyz"))
    with pytest.raises(OutputError, match="folder input needs an output folder"):
        plan_jobs(folder, str(tmp_path / "out.png"))
    jobs = plan_jobs(folder, folder, suffix="_x2")      # beside the inputs, under new names
    assert sorted(os.path.basename(t) for _, t in jobs) == ["a_x2.png", "x_jpg_x2.png",
                                                            "x_png_x2.png"]
    assert digests(folder) == before


def test_same_folder_is_refused_and_nothing_changes(tmp_path, ckpt):
    folder = photos(tmp_path / "in")
    before = digests(folder)
    result = run_infer("--model", ckpt, "--input", folder, "--output", folder)
    one_line_error(result, folder, "input folder")
    assert digests(folder) == before


def test_folder_skips_bad_files_and_names_clashing_stems(tmp_path, ckpt):
    folder = photos(tmp_path / "in")
    (tmp_path / "in" / "0bad.png").write_bytes(b"not a png")      # sorts first
    (tmp_path / "in" / "sub.png").mkdir()
    before = digests(folder)
    out = tmp_path / "out"
    result = run_infer("--model", ckpt, "--input", folder, "--output", str(out),
                       "--mode", "pynative")
    last = one_line_error(result, "2 of 5 inputs failed", "0bad.png", "sub.png", code=1)
    assert "x.png" not in last
    assert sorted(os.listdir(out)) == ["a.png", "x_jpg.png", "x_png.png"]
    assert cv2.imread(str(out / "x_jpg.png")).shape == (20, 24, 3)
    for name in os.listdir(out):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~current_umask()
    assert digests(folder) == before

    earlier = digests(str(out))
    result = run_infer("--model", ckpt, "--input", folder, "--output", str(out))
    one_line_error(result, "exists", "--overwrite")
    assert digests(str(out)) == earlier
    result = run_infer("--model", ckpt, "--input", folder, "--output", str(out),
                       "--suffix", "_x2", "--mode", "pynative")
    assert result.returncode == 1 and (out / "a_x2.png").is_file()
    assert {k: v for k, v in digests(str(out)).items() if "_x2" not in k} == earlier


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_single_file_overwrite_flag_and_stale_temp(tmp_path, ckpt):
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    target = tmp_path / "a_x2.png"
    target.write_bytes(b"an earlier result")
    stale = tmp_path / ".a_x2.png.tmp.png"
    stale.write_bytes(b"left by a killed run")
    result = run_infer("--model", ckpt, "--input", image, "--output", str(target))
    one_line_error(result, str(target), "exists")
    assert target.read_bytes() == b"an earlier result"
    result = run_infer("--model", ckpt, "--input", image, "--output", str(target),
                       "--overwrite", "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(target)).shape == (20, 24, 3) and not stale.exists()


def test_output_under_a_file_fails_before_loading(tmp_path, ckpt):
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    (tmp_path / "blocker").write_text("a file")
    result = run_infer("--model", ckpt, "--input", image,
                       "--output", str(tmp_path / "blocker" / "out"))
    one_line_error(result, "blocker", "Not a directory")
    assert "model" not in result.stdout


@pytest.mark.parametrize("name,content", [("random.onnx", os.urandom(300)),
                                          ("random.mindir", os.urandom(300))])
def test_broken_export_is_one_line(tmp_path, ckpt, name, content):
    model = tmp_path / name
    model.write_bytes(content)
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    result = run_infer("--model", str(model), "--input", image, "--output",
                       str(tmp_path / "out"), "--scale", "2", "--unshuffle", "2")
    one_line_error(result, str(model), "cannot be loaded")


def test_changed_model_key_warns(tmp_path, ckpt):
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    result = run_infer("--model", ckpt, "--input", image, "--output", str(tmp_path / "o"),
                       "--temperature", "1", "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "warning: --temperature" in line]
    assert len(warning) == 1 and "1.0" in warning[0] and "30.0" in warning[0]


def test_export_under_a_file_is_one_line_and_outputs_are_readable(tmp_path, ckpt):
    import subprocess
    import sys
    from tests.test_infer import ROOT
    (tmp_path / "blocker").write_text("a file")

    def export(name, *extra):
        return subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--ckpt_file",
                               ckpt, "--file_name", name, "--tile_graphs", "false", *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    result = export(str(tmp_path / "blocker" / "m"))
    one_line_error(result, "--file_name", "blocker", "is a file")
    result = export(str(tmp_path / "m"), "--temperature", "1")
    assert result.returncode == 0, result.stderr
    assert "warning: --temperature 1.0 differs" in result.stderr
    for name in ("m.mindir", "m.mindir.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~current_umask()


def test_unknown_output_extension_is_one_line_and_creates_nothing(tmp_path, ckpt):
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    result = run_infer("--model", ckpt, "--input", image, "--output", str(tmp_path / "out.xyz"))
    one_line_error(result, "out.xyz")
    assert not (tmp_path / "out.xyz").exists()


@pytest.mark.parametrize("file_format", ["MINDIR", "ONNX"])
def test_truncated_export_is_one_line(tmp_path, ckpt, file_format):
    import subprocess
    import sys
    from tests.test_infer import ROOT
    result = subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--model", ckpt,
                             "--file_name", str(tmp_path / "m"), "--file_format", file_format,
                             "--tile_graphs", "false"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    model = tmp_path / f"m.{file_format.lower()}"
    whole = model.read_bytes()
    model.write_bytes(whole[:len(whole) // 2])                 # a download cut short
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    before = digests(tmp_path / "in")
    result = run_infer("--model", str(model), "--input", image, "--output",
                       str(tmp_path / "out.png"))
    one_line_error(result, str(model))
    assert digests(tmp_path / "in") == before and not (tmp_path / "out.png").exists()
