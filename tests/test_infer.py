"""Inference: tiled == whole image, image types round trip, infer.py end to end."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor

from src.config import load_config, save_config
from src.images import read_image
from src.deploy.infer_jobs import plan_jobs, upscale_image_file
from src.deploy.runners import CheckpointRunner
from src.deploy.tiling import plan_tiles, upscale
from src.model.asconvsr import AsConvSRConfig, build_model
from tests.synthetic import rand

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=8, num_kernels=4)


def tiny_checkpoint(folder, **overrides):
    """(config, checkpoint path, training net) of a tiny randomised model."""
    cfg = load_config(None, dict(TINY, **overrides))
    net = build_model(AsConvSRConfig.from_dict(cfg))
    rng = np.random.default_rng(0)
    for param in net.trainable_params():    # not the fixed bicubic kernels or temperature
        param.set_data(Tensor((0.3 * rng.standard_normal(param.shape)).astype(np.float32)))
    net.set_train(False)
    os.makedirs(folder, exist_ok=True)
    save_config(cfg, os.path.join(folder, "config.yaml"))
    ms.save_checkpoint(net, os.path.join(folder, "model.ckpt"))
    return cfg, os.path.join(folder, "model.ckpt"), net


@pytest.fixture(scope="module")
def x2_run(tmp_path_factory):
    return tiny_checkpoint(str(tmp_path_factory.mktemp("x2")))


def test_tiles_partition_the_image_with_equal_windows():
    tiles, window = plan_tiles(46, 62, tile=16, halo=10, unshuffle=2)
    covered = np.zeros((46, 62), int)
    for wy, wx, (y0, y1), (x0, x1) in tiles:
        assert wy <= y0 and y1 <= wy + window[0] and wx <= x0 and x1 <= wx + window[1]
        assert (y0 - wy >= 10 or wy == 0) and (wy + window[0] - y1 >= 10 or wy + window[0] == 46)
        assert wy % 2 == 0 and wx % 2 == 0
        covered[y0:y1, x0:x1] += 1
    assert (covered == 1).all() and window == (36, 36) and len(tiles) == 12


@pytest.mark.parametrize("overrides,size", [
    (dict(), (45, 61)),                                          # odd: padded, cropped back
    (dict(num_blocks=2, scale=3, residual="bicubic"), (40, 52)),  # AsConvSR-L-like: 2 passes
    (dict(block_type="plain"), (41, 50)),                        # no control module
])
def test_tiled_equals_whole_image(tmp_path, overrides, size):
    cfg, ckpt, net = tiny_checkpoint(str(tmp_path), **overrides)
    runner = CheckpointRunner(ckpt, cfg)
    x = rand(1, 3, *size)
    whole = upscale(runner, x, tile=0)
    tiled = upscale(runner, x, tile=12)
    s = cfg.scale
    assert tiled.shape == whole.shape == (1, 3, s * size[0], s * size[1])
    assert np.abs(tiled - whole).max() < 1e-5
    padded = np.pad(x, ((0, 0), (0, 0), (0, size[0] % 2), (0, size[1] % 2)), mode="edge")
    reference = net(Tensor(padded)).asnumpy()[:, :, :s * size[0], :s * size[1]]
    assert np.abs(whole - reference).max() < 1e-5


def write(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


@pytest.mark.parametrize("kind", ["grey", "rgba", "sixteen", "rgb_jpeg"])
def test_image_types_round_trip(tmp_path, x2_run, kind):
    cfg, ckpt, _ = x2_run
    runner = CheckpointRunner(ckpt, cfg)
    rng = np.random.default_rng(1)
    sources = {
        "grey": (lambda: (rng.random((9, 13)) * 255).astype(np.uint8), ".png"),
        "rgba": (lambda: (rng.random((9, 13, 4)) * 255).astype(np.uint8), ".png"),
        "sixteen": (lambda: (rng.random((9, 13, 3)) * 65535).astype(np.uint16), ".png"),
        "rgb_jpeg": (lambda: (rng.random((9, 13, 3)) * 255).astype(np.uint8), ".jpg"),
    }
    make, extension = sources[kind]
    source = write(tmp_path / f"in{extension}", make())
    target = str(tmp_path / f"out{extension}")
    upscale_image_file(runner, source, target, tile=0)
    written = cv2.imread(target, cv2.IMREAD_UNCHANGED)
    expected = {"grey": ((18, 26), np.uint8), "rgba": ((18, 26, 4), np.uint8),
                "sixteen": ((18, 26, 3), np.uint16), "rgb_jpeg": ((18, 26, 3), np.uint8)}
    assert (written.shape, written.dtype) == expected[kind]
    if kind == "rgba":                       # alpha: bicubic of the input's, not the network's
        alpha = read_image(source).alpha
        assert abs(written[..., 3].mean() / 255 - alpha.mean()) < 0.05


def test_folder_jobs_and_refusals(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "b.png", np.zeros((4, 4, 3), np.uint8))
    write(folder / "a.jpg", np.zeros((4, 4, 3), np.uint8))
    (folder / "notes.txt").write_text("not an image")
    jobs = plan_jobs(str(folder), str(tmp_path / "out"))
    assert [os.path.basename(t) for _, t in jobs] == ["a.png", "b.png"]
    with pytest.raises(ValueError, match="overwrite the input"):
        plan_jobs(str(folder / "b.png"), str(folder / "b.png"))


def run_infer(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "infer.py"), *args, "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_infer_cli_image_and_video(tmp_path, x2_run):
    _, ckpt, _ = x2_run
    image = write(tmp_path / "small.png", (rand(11, 14, 3) * 255).astype(np.uint8))
    result = run_infer("--model", ckpt, "--input", image, "--output", str(tmp_path / "out"),
                       "--tile", "8", "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "out" / "small.png")).shape == (22, 28, 3)

    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (16, 12))
    for i in range(3):
        writer.write((rand(12, 16, 3, seed=i) * 255).astype(np.uint8))
    writer.release()
    result = run_infer("--model", ckpt, "--input", video, "--output", str(tmp_path / "up.mp4"),
                       "--mode", "pynative")
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(tmp_path / "up.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.shape)
    assert frames == [(24, 32, 3)] * 3 and "3 frames" in result.stdout


def test_infer_cli_errors_are_one_line(tmp_path, x2_run):
    _, ckpt, _ = x2_run
    result = run_infer("--model", ckpt, "--input", str(tmp_path / "missing.png"),
                       "--output", str(tmp_path / "o.png"))
    assert result.returncode == 2 and "missing.png" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_exported_model_without_metadata_needs_scale_flags(tmp_path, x2_run):
    from src.deploy.exporter import export_model
    from src.deploy.metadata import MetadataError
    from src.deploy.runners import open_model
    cfg, ckpt, net = x2_run
    paths, _ = export_model(cfg, ckpt, "MINDIR", str(tmp_path / "m"), tile_graphs=False,
                            log=lambda *_: None)
    os.remove(paths["full"] + ".json")
    with pytest.raises(MetadataError, match="--scale S --unshuffle U"):
        open_model(paths["full"], cfg)
    runner = open_model(paths["full"], cfg, explicit_keys={"scale", "unshuffle"})
    assert not runner.can_tile                      # unknown halo: whole images only
    x = rand(1, 3, 10, 14)
    out = upscale(runner, x, tile=4)
    assert np.abs(out - net(Tensor(x)).asnumpy()).max() < 1e-5


@pytest.mark.parametrize("progress", [True, False])
def test_folder_inference_shows_a_bar_per_file_unless_quiet(monkeypatch, capsys, progress):
    """infer.py's folder mode (run_jobs): one tqdm step per file on stderr, as eval.py's
    per-image bar; --quiet (progress False) shows none. The per-file report lines stay."""
    import src.deploy.infer_jobs as infer_jobs
    monkeypatch.setattr(infer_jobs, "run_job", lambda runner, source, target, *rest:
                        f"{source} -> {target}")
    jobs = [(f"in/{i}.png", f"out/{i}.png") for i in range(3)]
    assert infer_jobs.run_jobs(None, jobs, tile=0, progress=progress) == []
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"in/{i}.png -> out/{i}.png" for i in range(3)]
    assert ("3/3" in err and "file" in err) is progress
