"""End-to-end video throughput of infer.py's video path: checkpoint and ONNX, whole files.

    python benchmarks/video.py [--sizes 960x540,1920x1080] [--frames 12] [--runs 3]
        [--model pretrained/asconvsr_x2/asconvsr_x2.ckpt] [--runners checkpoint,onnx]
        [--source_dir data/val] [--tile 512] [--skip_subprocess]

For each input size (WxH) a short clip is built in a temporary folder: --frames frames at
25 fps of a window panning diagonally (4 px right, 2 px down a frame) across the first
photo of --source_dir, resized to cover the pan, written as mp4v by OpenCV. Each row
upscales that whole file: open, decode, upscale every frame, encode, write, through
src/deploy/video.py ``upscale_video`` (what infer.py runs for a video), in this process.
Rows, per input size:

    OpenCV bicubic  the peer: the same upscale_video loop (decode, per-frame float
                    conversion, encode) with cv2.resize INTER_CUBIC in the network's
                    place; the floor of the video path without the network
    checkpoint      through the runner infer.py opens for --model (src/deploy/runners.py
                    open_model), in the MindSpore mode of its config (graph by default)
    onnx            through the same checkpoint exported by export.py's exporter
                    (any-size ONNX with its tile graphs, verified), ONNX Runtime CPU

Columns: whole-file seconds, the median over --runs calls after one untimed call (graph
compilation for the size, first allocations); fps = frames / those seconds; vs bicubic =
the row's fps / the peer's fps at the same size; infer.py process = the wall seconds of
one ``python infer.py --model M --input clip.mp4 --output out.mp4`` process on the same
clip (imports, model load, compilation and the whole clip: what a user waits for).
--tile is infer.py's (default 512, as infer.py's own default). Every output video is
read back and must have the clip's frame count at scale x its size. Nothing is written
outside the temporary folder. See docs/deploy.md, "Video throughput".
"""
import argparse
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import src  # noqa: E402,F401  (runtime environment before mindspore)
from src.config import ConfigError, run_main  # noqa: E402

RUNNERS = ("checkpoint", "onnx")
PEER = "OpenCV bicubic"
CLIP_FPS = 25.0
PAN_STEP = (4, 2)           # pixels a frame (x, y): a slow pan, so no two frames are equal


def parse_args(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", default="960x540,1920x1080", help="comma list of WxH inputs")
    parser.add_argument("--frames", type=int, default=12, help="frames of each clip")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (the median is shown)")
    parser.add_argument("--model", default="pretrained/asconvsr_x2/asconvsr_x2.ckpt",
                        help="checkpoint (.ckpt, its config.yaml beside it); also exported")
    parser.add_argument("--runners", default="checkpoint,onnx", help="comma list of "
                        + ", ".join(RUNNERS))
    parser.add_argument("--source_dir", default="data/val",
                        help="folder whose first photo the clips are made from")
    parser.add_argument("--tile", type=int, default=512, help="infer.py's --tile")
    parser.add_argument("--skip_subprocess", action="store_true",
                        help="no infer.py process rows (in-process timings only)")
    args = parser.parse_args(argv)
    args.sizes = parse_sizes(args.sizes)
    args.runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    if not args.runners or not set(args.runners) <= set(RUNNERS):
        raise ConfigError(f"--runners takes {' and/or '.join(RUNNERS)}, got {args.runners}")
    if args.frames < 1 or args.runs < 1 or args.tile < 0:
        raise ConfigError("--frames and --runs must be >= 1, --tile >= 0")
    if not args.model.lower().endswith(".ckpt"):
        raise ConfigError(f"--model '{args.model}': a .ckpt (the onnx rows export it)")
    args.command = shlex.join(["python", "benchmarks/video.py", *argv])
    return args


def parse_sizes(text):
    """'960x540,1920x1080' -> [(960, 540), (1920, 1080)] (width, height)."""
    sizes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        width, _, height = item.partition("x")
        if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise ConfigError(f"--sizes: '{item}' is not WIDTHxHEIGHT (e.g. 960x540)")
        sizes.append((int(width), int(height)))
    if not sizes:
        raise ConfigError("--sizes names no size")
    return sizes


def first_photo(folder):
    """The first image of ``folder`` (sorted); a one-line ConfigError naming the folder
    when it is missing or holds no image."""
    from src.images import list_images
    return list_images(folder, flag="--source_dir")[0]


def build_clip(photo_path, width, height, frames, path):
    """Write an mp4v clip of ``frames`` frames, ``width`` x ``height``, to ``path``: a
    window panning PAN_STEP pixels a frame across the photo, resized to cover the pan."""
    import cv2
    from src.deploy.video import open_writer
    photo = cv2.imread(photo_path, cv2.IMREAD_COLOR)
    if photo is None:
        raise ConfigError(f"OpenCV cannot read the image '{photo_path}'")
    span_x, span_y = (step * (frames - 1) for step in PAN_STEP)
    grow = max((width + span_x) / photo.shape[1], (height + span_y) / photo.shape[0])
    cover = cv2.resize(photo, (math.ceil(photo.shape[1] * grow), math.ceil(photo.shape[0] * grow)),
                       interpolation=cv2.INTER_CUBIC if grow > 1 else cv2.INTER_AREA)
    top = (cover.shape[0] - height - span_y) // 2
    left = (cover.shape[1] - width - span_x) // 2
    writer = open_writer(path, CLIP_FPS, (width, height), "mp4v")
    try:
        for i in range(frames):
            y, x = top + i * PAN_STEP[1], left + i * PAN_STEP[0]
            writer.write(cover[y:y + height, x:x + width].copy())
    finally:
        writer.release()
    return path


def video_shape(path):
    """(frames, (width, height)) of the video at ``path``, by decoding every frame (the
    container's frame count is an estimate for some codecs)."""
    import cv2
    capture = cv2.VideoCapture(path)
    frames, size = 0, None
    try:
        ok, frame = capture.read()
        while ok:
            frames, size = frames + 1, frame.shape[1::-1]
            ok, frame = capture.read()
    finally:
        capture.release()
    return frames, size


class BicubicRunner:
    """cv2.resize INTER_CUBIC where the network would be: what src/deploy/tiling.upscale
    asks of a runner, for the whole image at once (it cannot tile)."""

    kind = PEER
    unshuffle, halo, pooled_shape, fixed_size, can_tile = 1, 0, None, None, False

    def __init__(self, scale):
        self.scale = scale
        self.path = "cv2.resize INTER_CUBIC"

    def full(self, x):
        """(1, 3, H, W) float32 -> (1, 3, sH, sW) float32."""
        import cv2
        height, width = x.shape[2:]
        image = cv2.resize(x[0].transpose(1, 2, 0), (width * self.scale, height * self.scale),
                           interpolation=cv2.INTER_CUBIC)
        return image.transpose(2, 0, 1)[None]


def model_files(args, cfg, folder):
    """{runner name: model file}: --model itself, and its ONNX export written into
    ``folder`` by export.py's exporter (which also verifies it against the checkpoint)."""
    from src.deploy.exporter import export_model
    files = {}
    for name in args.runners:
        if name == "checkpoint":
            files[name] = os.path.abspath(args.model)
        else:
            paths, _ = export_model(cfg, args.model, "ONNX", os.path.join(folder, "model"),
                                    log=lambda *_: None)
            files[name] = paths["full"]
    return files


def time_video(runner, clip, target, tile, runs):
    """(frames, median seconds) of upscale_video on the whole ``clip`` into ``target``,
    after one untimed call."""
    from benchmarks.timing import median_seconds
    from src.deploy.video import upscale_video
    frames = []

    def whole_file():
        frames.append(upscale_video(runner, clip, target, tile, "mp4v", progress=False)[0])

    seconds = median_seconds(whole_file, 1, runs)
    return frames[-1], seconds


def check_video(target, frames, size):
    """RuntimeError unless the video at ``target`` has ``frames`` frames of ``size``
    (width, height): a row only counts when its output is the whole clip upscaled."""
    found = video_shape(target)
    if found != (frames, tuple(size)):
        raise RuntimeError(f"'{target}' holds {found[0]} frames of {found[1]}, not {frames} "
                           f"of {tuple(size)}")


def mindspore_mode():
    import mindspore as ms
    return "graph" if ms.get_context("mode") == ms.GRAPH_MODE else "pynative"


def infer_command(model, clip, target, tile):
    """infer.py on ``clip`` as a user runs it, in this process's MindSpore mode."""
    return [sys.executable, os.path.join(ROOT, "infer.py"), "--model", model, "--input", clip,
            "--output", target, "--tile", str(tile), "--mode", mindspore_mode(), "--quiet"]


def process_seconds(command):
    """Wall seconds of the whole ``command`` process; RuntimeError if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{shlex.join(command)} exited {done.returncode}: {last}")
    return seconds


@dataclass
class Row:
    size: tuple                    # input (width, height)
    runner: str                    # PEER or one of RUNNERS
    frames: int
    seconds: float                 # median whole-file seconds, in process
    process_seconds: float = None  # the infer.py process, once; None: not run

    @property
    def fps(self):
        return self.frames / self.seconds


def measure_runner(name, runner, model_file, clip, size, args, folder):
    """One row: ``runner`` on the whole ``clip`` in process, then (unless skipped, and
    not for the peer) one infer.py process on ``model_file``; both outputs checked."""
    width, height = size
    upscaled = (runner.scale * width, runner.scale * height)
    target = os.path.join(folder, f"{name.replace(' ', '_')}_{width}x{height}.mp4")
    frames, seconds = time_video(runner, clip, target, args.tile, args.runs)
    check_video(target, args.frames, upscaled)
    row = Row(size, name, frames, seconds)
    if name != PEER and not args.skip_subprocess:
        target = os.path.join(folder, f"{name}_{width}x{height}_process.mp4")
        row.process_seconds = process_seconds(infer_command(model_file, clip, target, args.tile))
        check_video(target, args.frames, upscaled)
    return row


def measure_size(size, runners, files, args, clip, folder, log):
    """The rows of one input size: the peer, then each runner, on the same ``clip``."""
    scale = next(iter(runners.values())).scale
    rows = []
    for name, runner in [(PEER, BicubicRunner(scale))] + list(runners.items()):
        row = measure_runner(name, runner, files.get(name), clip, size, args, folder)
        process = row.process_seconds
        log(f"  {size[0]}x{size[1]} {name}: {row.frames} frames in {row.seconds:.3g} s "
            f"({row.fps:.3g} fps)" + (f", infer.py process {process:.1f} s"
                                      if process is not None else ""))
        rows.append(row)
    return rows


def format_table(rows, scale):
    """Markdown table of the rows, each with its fps over its size's peer fps."""
    peers = {row.size: row.fps for row in rows if row.runner == PEER}
    lines = ["| input | output | runner | frames | whole file s (median) | fps | vs bicubic "
             "| infer.py process s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        (width, height), process = row.size, row.process_seconds
        lines.append(f"| {width}x{height} | {scale * width}x{scale * height} | {row.runner} "
                     f"| {row.frames} | {row.seconds:.3g} | {row.fps:.3g} "
                     f"| {row.fps / peers[row.size]:.2f}x "
                     f"| {f'{process:.1f}' if process is not None else 'n/a'} |")
    return "\n".join(lines)


def header(args, photo, scale):
    import cv2
    from benchmarks.inference import machine_header
    return "\n".join([
        machine_header("AsConvSR video benchmark (infer.py's video path)",
                       [f"opencv {cv2.__version__}"]),
        f"# model {args.model} (x{scale}), MindSpore {mindspore_mode()} mode, --tile {args.tile}; "
        f"clips of {args.frames} frames at {CLIP_FPS:g} fps panning across {photo}, mp4v in "
        f"and out; median of {args.runs} after 1 untimed",
        "# infer.py process: " + ("not run (--skip_subprocess)" if args.skip_subprocess else
                                  "python infer.py --model MODEL --input clip.mp4 --output "
                                  f"out.mp4 --tile {args.tile} --mode {mindspore_mode()} --quiet"),
    ])


def run_benchmark(args, cfg, photo, folder, log=print):
    """Everything the script prints, working in ``folder``; returns the rows."""
    from src.deploy.runners import open_model
    files = model_files(args, cfg, folder)
    runners = {name: open_model(path, cfg) for name, path in files.items()}
    scale = next(iter(runners.values())).scale
    log(header(args, photo, scale))
    rows = []
    for width, height in args.sizes:
        clip = build_clip(photo, width, height, args.frames,
                          os.path.join(folder, f"clip_{width}x{height}.mp4"))
        rows += measure_size((width, height), runners, files, args, clip, folder, log)
    log("")
    log(format_table(rows, scale))
    log("")
    log(f"command: {args.command}")
    return rows


def main():
    args = parse_args()
    photo = first_photo(args.source_dir)     # before MindSpore loads: a bad folder fails fast
    if not os.path.isfile(args.model):
        raise ConfigError(f"--model '{args.model}' does not exist")
    from src.checkpoint import config_for_checkpoint
    from src.runtime import setup
    cfg = config_for_checkpoint(args.model)  # as infer.py: the config.yaml beside it
    setup(cfg.device_target, cfg.mode)
    with tempfile.TemporaryDirectory(prefix="asconvsr_video_") as folder:
        run_benchmark(args, cfg, photo, folder)


if __name__ == "__main__":
    run_main(main)
