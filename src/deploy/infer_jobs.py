"""infer.py's work list: which input goes to which output, and running them."""
import os
import time

from src.deploy.image_io import (IMAGE_EXTENSIONS, ImageIOError, assemble_output,
                                 from_network_output, read_image, to_network_input,
                                 write_image)
from src.deploy.tiling import upscale
from src.deploy.video import is_video, upscale_video


def output_for(source, output, ext, is_folder_output):
    """Output path of one input: inside ``output`` when it is a folder, else ``output``."""
    stem = os.path.splitext(os.path.basename(source))[0]
    if not is_folder_output:
        return output
    extension = ".mp4" if is_video(source) else f".{ext.lstrip('.').lower()}"
    return os.path.join(output, stem + extension)


def looks_like_file(path, video):
    extension = os.path.splitext(path)[1].lower()
    return bool(extension) and not os.path.isdir(path) and (
        is_video(path) if video else extension in IMAGE_EXTENSIONS)


def plan_jobs(source, output, ext="png"):
    """[(input, output)] for an image, a video or a folder (its images and videos)."""
    if f".{ext.lstrip('.').lower()}" not in IMAGE_EXTENSIONS:
        raise ImageIOError(f"--ext {ext}: not an image format; use one of "
                           f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)}")
    if os.path.isdir(source):
        names = sorted(n for n in os.listdir(source)
                       if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS or is_video(n))
        if not names:
            raise ImageIOError(f"folder '{source}' holds no image or video "
                               f"({', '.join(IMAGE_EXTENSIONS)})")
        if os.path.isfile(output):
            raise ImageIOError(f"--output '{output}' is a file; a folder input needs an "
                               f"output folder")
        return [(os.path.join(source, n), output_for(n, output, ext, True)) for n in names]
    if not os.path.isfile(source):
        raise FileNotFoundError(f"input '{source}' does not exist")
    folder_output = not looks_like_file(output, is_video(source))
    target = output_for(source, output, ext, folder_output)
    if os.path.abspath(target) == os.path.abspath(source):
        raise ImageIOError(f"output '{target}' would overwrite the input; choose another --output")
    return [(source, target)]


def upscale_image_file(runner, source, target, tile):
    """Read, upscale, write one image; returns (input size, output size) as (W, H)."""
    image = read_image(source)
    sr = from_network_output(upscale(runner, to_network_input(image.rgb), tile))
    extension = os.path.splitext(target)[1].lower()
    write_image(target, assemble_output(sr, image, runner.scale, extension))
    return image.rgb.shape[1::-1], sr.shape[1::-1]


def run_jobs(runner, jobs, tile, fourcc="mp4v", progress=True):
    """Run every (input, output) job, printing one line per job."""
    for source, target in jobs:
        started = time.perf_counter()
        if is_video(source):
            frames, seconds = upscale_video(runner, source, target, tile, fourcc, progress)
            print(f"{source}: {frames} frames in {seconds:.1f} s ({frames / seconds:.2f} fps) "
                  f"-> {target}")
            continue
        (w, h), (sw, sh) = upscale_image_file(runner, source, target, tile)
        print(f"{source}: {w}x{h} -> {sw}x{sh} in {time.perf_counter() - started:.2f} s "
              f"-> {target}")
