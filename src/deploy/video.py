"""Frame-by-frame video upscaling: any container OpenCV reads in, MPEG-4 (mp4v) out.

Every frame is upscaled on its own (the control modules pool over that frame), through
the same tiler as still images. The output keeps the input's frame rate; audio is not
carried over (OpenCV does not read it). Written through src.deploy.outputs.output_file:
a temporary file (removed on failure) renamed at the end, mode 0666 minus the umask,
created exclusively unless ``overwrite``.
"""
import os
import time

import cv2
import numpy as np

from src.images import ImageError, from_network_output, to_network_input, to_uint8
from src.deploy.outputs import output_file
from src.deploy.tiling import upscale

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def is_video(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def open_writer(path, fps, size, fourcc):
    """cv2.VideoWriter for ``path`` (size = (width, height)); ImageError if refused."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise ImageError(f"OpenCV cannot write '{path}' with codec {fourcc}; try an .mp4 "
                           f"or .avi output name")
    return writer


def upscale_frame(runner, frame_bgr, tile):
    """uint8 BGR frame -> upscaled uint8 BGR frame."""
    rgb = frame_bgr[:, :, ::-1].astype(np.float32) / 255.0
    sr = from_network_output(upscale(runner, to_network_input(rgb), tile))
    return to_uint8(sr[:, :, ::-1])


def upscale_video(runner, source, target, tile, fourcc="mp4v", progress=True,
                  overwrite=True):
    """Upscale every frame of ``source`` into ``target``; returns (frames, seconds)."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ImageError(f"OpenCV cannot open the video '{source}'")
    try:
        with output_file(target, overwrite) as tmp:
            frames, seconds = write_frames(runner, capture, tmp, tile, fourcc,
                                           os.path.basename(source), progress)
            if frames == 0:
                raise ImageError(f"no frame could be read from '{source}'")
    finally:
        capture.release()
    return frames, seconds


def write_frames(runner, capture, path, tile, fourcc, label, progress):
    """Every frame of ``capture`` upscaled into a new video at ``path``; (frames, seconds)."""
    from tqdm import tqdm
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    writer, frames, start = None, 0, time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc=label, disable=not progress)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            sr = upscale_frame(runner, frame, tile)
            if writer is None:
                writer = open_writer(path, fps, (sr.shape[1], sr.shape[0]), fourcc)
            writer.write(sr)
            frames += 1
            bar.update(1)
            bar.set_postfix(fps=f"{frames / (time.perf_counter() - start):.2f}")
    finally:
        bar.close()
        if writer is not None:
            writer.release()
    return frames, time.perf_counter() - start
