"""Frame-by-frame video upscaling: any container OpenCV reads in, MPEG-4 (mp4v) out.

Every frame is upscaled on its own (the control modules pool over that frame), through
the same tiler as still images. The output keeps the input's frame rate; audio is not
carried over (OpenCV does not read it). Written to a temporary file (removed on failure), renamed at the end, mode 0666 minus
the umask.
"""
import os
import time

import cv2
import numpy as np

from src.images import ImageError, from_network_output, temp_path, to_network_input, to_uint8
from src.deploy.outputs import make_readable, remove_quietly, writing
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


def upscale_video(runner, source, target, tile, fourcc="mp4v", progress=True):
    """Upscale every frame of ``source`` into ``target``; returns (frames, seconds)."""
    from tqdm import tqdm
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ImageError(f"OpenCV cannot open the video '{source}'")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    tmp = temp_path(target)
    with writing(target):
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
    writer, frames, start = None, 0, time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc=os.path.basename(source), disable=not progress)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            sr = upscale_frame(runner, frame, tile)
            if writer is None:
                writer = open_writer(tmp, fps, (sr.shape[1], sr.shape[0]), fourcc)
            writer.write(sr)
            frames += 1
            bar.update(1)
            bar.set_postfix(fps=f"{frames / (time.perf_counter() - start):.2f}")
    except BaseException:
        if writer is not None:
            writer.release()
            writer = None
        remove_quietly(tmp)
        raise
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise ImageError(f"no frame could be read from '{source}'")
    with writing(target, tmp):
        make_readable(tmp)
        os.replace(tmp, target)
    return frames, time.perf_counter() - start
