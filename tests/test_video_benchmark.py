"""benchmarks/video.py on tiny clips with the shipped x2 checkpoint: the clip it builds,
the videos it writes, its table and its refusals. Behaviour only: no timing is asserted."""
import os
import subprocess
import sys

import pytest

from benchmarks import video
from src.checkpoint import config_for_checkpoint
from src.config import ConfigError
from tests.synthetic import write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "pretrained", "asconvsr_x2", "asconvsr_x2.ckpt")
SIZES = [(64, 48), (40, 32)]
FRAMES = 3


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A structured synthetic photo in a folder of its own: the tests need no data/val."""
    folder = write_images(str(tmp_path_factory.mktemp("photos")), 1, 160, seed=0)
    return video.first_photo(folder)


def test_the_clip_has_the_frames_and_size_asked_for_and_pans(tmp_path, photo):
    import cv2
    clip = video.build_clip(photo, 64, 48, FRAMES, str(tmp_path / "clip.mp4"))
    assert video.video_shape(clip) == (FRAMES, (64, 48))
    capture = cv2.VideoCapture(clip)
    first, second = capture.read()[1], capture.read()[1]
    capture.release()
    assert (first != second).any()                     # the window moves: no frame repeats


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory, photo):
    """(folder, rows, printed lines) of one run at two tiny sizes, both runners and the
    infer.py processes (in the tests' PyNative mode: no graph compilation)."""
    folder = str(tmp_path_factory.mktemp("video"))
    sizes = ",".join(f"{w}x{h}" for w, h in SIZES)
    args = video.parse_args(["--sizes", sizes, "--frames", str(FRAMES), "--runs", "1",
                             "--model", MODEL])
    printed = []
    rows = video.run_benchmark(args, config_for_checkpoint(MODEL), photo, folder,
                               log=printed.append)
    return folder, rows, "\n".join(printed).splitlines()


def test_every_output_video_has_the_clips_frames_at_twice_its_size(benchmark_run):
    folder, rows, _ = benchmark_run
    for width, height in SIZES:
        outputs = [f"{name}_{width}x{height}.mp4" for name in ("OpenCV_bicubic", "checkpoint",
                                                                "onnx")]
        outputs += [f"{name}_{width}x{height}_process.mp4" for name in ("checkpoint", "onnx")]
        for name in outputs:
            assert video.video_shape(os.path.join(folder, name)) == (FRAMES,
                                                                     (2 * width, 2 * height))
    assert [row.frames for row in rows] == [FRAMES] * 6


def table_rows(printed):
    """The cells of each body row of the printed markdown table."""
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in printed if line.startswith("| ") and line[2].isdigit()]


def test_the_table_has_a_row_per_size_and_runner_and_a_peer_per_size(benchmark_run):
    _, _, printed = benchmark_run
    rows = table_rows(printed)
    assert [(cells[0], cells[1], cells[2]) for cells in rows] == [
        (f"{w}x{h}", f"{2 * w}x{2 * h}", runner) for w, h in SIZES
        for runner in ("OpenCV bicubic", "checkpoint", "onnx")]
    for _, _, runner, frames, seconds, fps, ratio, process in rows:
        assert frames == str(FRAMES) and float(seconds) > 0 and float(fps) > 0
        if runner == "OpenCV bicubic":
            assert (ratio, process) == ("1.00x", "n/a")
        else:
            assert ratio.endswith("x") and float(process) > 0
    assert printed[-1] == ("command: python benchmarks/video.py --sizes 64x48,40x32 "
                           f"--frames 3 --runs 1 --model {MODEL}")


@pytest.mark.parametrize("missing", [True, False])
def test_a_source_folder_without_an_image_is_one_line_naming_it(tmp_path, missing):
    folder = tmp_path / "nowhere" if missing else tmp_path          # tmp_path: empty
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "video.py"),
                             "--source_dir", str(folder)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and f"'{folder}'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("argv,message", [
    (["--sizes", "64"], "WIDTHxHEIGHT"), (["--runners", "mindir"], "--runners"),
    (["--frames", "0"], "--frames"), (["--model", "m.onnx"], "a .ckpt"),
])
def test_bad_flags_are_refused(argv, message):
    with pytest.raises(ConfigError, match=message):
        video.parse_args(argv)
