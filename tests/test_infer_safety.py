"""infer.py never loses a user's file: issue 18 (same folder, stem clashes, bad files,
existing outputs, unknown extensions, file modes, broken exports, changed model keys) and
issue 31 (EXIF orientation, two runs into one folder, a wrong --scale, an .onnx alone, a
folder as the model, model keys an export ignores)."""
import hashlib
import os
import stat

import cv2
import numpy as np
import pytest

from mindspore import Tensor

from src.deploy.infer_jobs import plan_jobs, prepare_outputs, run_jobs, upscale_image_file
from src.deploy.outputs import OutputError, output_names
from src.deploy.runners import CheckpointRunner
from src.deploy.tiling import upscale
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


def test_single_file_overwrite_flag_keeps_a_file_named_like_a_temporary(tmp_path, ckpt):
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    target = tmp_path / "a_x2.png"
    target.write_bytes(b"an earlier result")
    users = tmp_path / ".a_x2.png.tmp.png"          # the fixed name infer.py once wrote through
    users.write_bytes(b"a user's file")
    result = run_infer("--model", ckpt, "--input", image, "--output", str(target))
    one_line_error(result, str(target), "exists")
    assert target.read_bytes() == b"an earlier result"
    result = run_infer("--model", ckpt, "--input", image, "--output", str(target),
                       "--overwrite", "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(target)).shape == (20, 24, 3)
    assert users.read_bytes() == b"a user's file"
    assert sorted(os.listdir(tmp_path)) == [".a_x2.png.tmp.png", "a_x2.png", "in"]


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


def test_changed_model_key_warns_and_is_used(tmp_path, ckpt):
    """--temperature on a checkpoint that holds its own: warned about, and run at (it
    used to warn, then load the checkpoint's T and change nothing)."""
    from src.config import load_config
    image = photos(tmp_path / "in", ("a.png",)) + "/a.png"
    result = run_infer("--model", ckpt, "--input", image, "--output", str(tmp_path / "o"),
                       "--temperature", "1", "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "warning: --temperature" in line]
    assert len(warning) == 1 and "1.0" in warning[0] and "30.0" in warning[0]
    written = cv2.imread(str(tmp_path / "o" / "a.png")).astype(int)
    cfg = load_config(os.path.join(os.path.dirname(ckpt), "config.yaml"))
    for temperature, same in ((1.0, True), (None, False)):     # None: the checkpoint's 30
        expected = tmp_path / f"T{temperature}.png"
        upscale_image_file(CheckpointRunner(ckpt, cfg, temperature=temperature), image,
                           str(expected), tile=0)
        assert bool(np.abs(cv2.imread(str(expected)).astype(int) - written).max() <= 1) is same


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


# --- issue 31: never lose a user's file, round two ----------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(config, checkpoint, training net) of a tiny x2 model with its config.yaml."""
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny")))


def oriented_image(path, width, height, orientation, seed=0):
    """An RGB image stored ``width`` x ``height`` with an EXIF orientation tag (as a phone
    writes); returns the stored pixels."""
    from PIL import Image
    pixels = (rand(height, width, 3, seed=seed) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **({"quality": 95} if str(path).endswith(
        ".jpg") else {}))
    return pixels


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_read_as_viewers_show_it(tmp_path, orientation):
    from PIL import Image, ImageOps
    from src.data.dataset import image_size
    from src.images import read_rgb
    path = tmp_path / "o.png"
    oriented_image(path, 5, 3, orientation)
    with Image.open(path) as opened:
        shown = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    assert np.array_equal(read_rgb(str(path)), shown)
    assert image_size(str(path)) == shown.shape[:2]


def test_a_phone_jpeg_is_upscaled_upright(tmp_path, tiny):
    """Stored 20x12 with orientation 6, shown 12x20: upscaled to 24x40, not 40x24."""
    from src.images import read_rgb
    cfg, ckpt, _ = tiny
    photo = tmp_path / "phone.jpg"
    oriented_image(photo, 20, 12, 6)
    assert np.array_equal(read_rgb(str(photo)), cv2.imread(str(photo))[:, :, ::-1])
    target = tmp_path / "phone_x2.png"
    upscale_image_file(CheckpointRunner(ckpt, cfg), str(photo), str(target), tile=0)
    assert cv2.imread(str(target)).shape == (40, 24, 3)


def test_an_output_another_run_writes_meanwhile_is_kept_and_its_input_skipped(
        tmp_path, tiny, monkeypatch):
    """Two runs into one --output: the start-up check passes for both; each file is then
    created exclusively, so the second writer skips it by name instead of replacing it."""
    import src.deploy.infer_jobs as infer_jobs
    cfg, ckpt, _ = tiny
    folder = photos(tmp_path / "in", ("a.png", "b.png", "c.png"))
    out = tmp_path / "out"
    jobs = plan_jobs(folder, str(out))
    prepare_outputs(jobs)
    (out / "a.png").write_bytes(b"the other model's result")      # written before a.png's turn

    def upscale_while_the_other_run_writes_b(runner, x, tile):
        if not (out / "b.png").exists():
            (out / "b.png").write_bytes(b"the other model's b")   # during b.png's upscaling
        return upscale(runner, x, tile)
    monkeypatch.setattr(infer_jobs, "upscale", upscale_while_the_other_run_writes_b)
    failed = run_jobs(CheckpointRunner(ckpt, cfg), jobs, tile=0, progress=False,
                      overwrite=False)
    assert [os.path.basename(source) for source, _ in failed] == ["a.png", "b.png"]
    assert all("exists" in reason and "--overwrite" in reason for _, reason in failed)
    assert (out / "a.png").read_bytes() == b"the other model's result"
    assert (out / "b.png").read_bytes() == b"the other model's b"
    assert cv2.imread(str(out / "c.png")).shape == (20, 24, 3)
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png"]


def test_a_graph_run_at_the_wrong_scale_writes_nothing(tmp_path, tiny):
    """An x2 MINDIR copied without its .json, run with --scale 3: refused by shape."""
    from src.deploy.exporter import export_graphs
    from src.deploy.network import DeployError
    from src.deploy.runners import open_model
    cfg, _, net = tiny
    paths, _ = export_graphs(net, "MINDIR", str(tmp_path / "solo" / "y"), tile_graphs=False)
    os.remove(paths["full"] + ".json")
    runner = open_model(paths["full"], dict(cfg, scale=3), {"scale", "unshuffle"})
    odd = write(tmp_path / "odd.png", (rand(17, 23, 3) * 255).astype(np.uint8))
    with pytest.raises(DeployError, match=r"returned 48x36 for a 24x18 input, not the "
                                          r"72x54 of x3.*--scale"):
        upscale_image_file(runner, odd, str(tmp_path / "o.png"), tile=0)
    assert not (tmp_path / "o.png").exists()


def test_an_onnx_copied_alone_runs_whole_images(tmp_path, tiny, capsys):
    """docs/deploy.md: an .onnx carries its metadata, so it works without its sidecar
    and without its tile/stats graphs (whole images, with or without --tile)."""
    import shutil
    from src.deploy.exporter import export_graphs
    from src.deploy.runners import open_model
    cfg, _, net = tiny
    paths, _ = export_graphs(net, "ONNX", str(tmp_path / "export" / "onx"))
    assert set(paths) == {"full", "tile", "stats"}
    (tmp_path / "solo").mkdir()
    solo = shutil.copy(paths["full"], tmp_path / "solo" / "onx.onnx")
    runner = open_model(str(solo), cfg)
    assert "onx_tile.onnx" in capsys.readouterr().err and not runner.can_tile
    x = rand(1, 3, 10, 14)
    reference = net(Tensor(x)).asnumpy()
    for tile in (0, 4):
        assert np.abs(upscale(runner, x, tile) - reference).max() < 1e-4


def test_a_folder_given_as_the_model_is_named_a_folder(tmp_path):
    from src.checkpoint import CheckpointError, read_checkpoint
    from src.deploy.network import DeployError
    from src.deploy.runners import open_model
    with pytest.raises(DeployError, match="is a folder; give the .ckpt, .mindir or .onnx"):
        open_model(str(tmp_path), {})
    with pytest.raises(CheckpointError, match="is a folder; pass the .ckpt file inside it"):
        read_checkpoint(str(tmp_path))


def test_a_model_key_given_for_an_export_is_refused(tmp_path):
    """A graph is fixed at export: --temperature would be recorded nowhere and change nothing."""
    from src.config import ConfigError
    from src.deploy.cli import refuse_keys_an_export_ignores
    with pytest.raises(ConfigError, match="--temperature does not apply to 'm.onnx'"):
        refuse_keys_an_export_ignores(["--temperature", "1", "--scale", "2"], "m.onnx")
    refuse_keys_an_export_ignores(["--scale", "2", "--unshuffle", "2"], "m.onnx")
    refuse_keys_an_export_ignores(["--temperature", "1"], "m.ckpt")
