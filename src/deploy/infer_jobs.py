"""infer.py's work list: which input goes to which output, and running them.

Refused before any work (one line naming the path): an output that is one of the inputs,
an existing output file (unless ``overwrite``), an output name whose extension is neither
an image/video format nor empty (empty: a folder). In a folder, inputs sharing a stem
(x.png, x.jpg) get distinct outputs (x_png.png, x_jpg.png). A file that cannot be read
or upscaled is reported and skipped; the others are still processed.
"""
import os
import sys
import time

from src.config import ConfigError
from src.images import (IMAGE_EXTENSIONS, ImageError, assemble_output,
                                 from_network_output, read_image,
                                 to_network_input, write_image)
from src.deploy.outputs import (OutputError, OutputExistsError, appeared, check_writable_folder,
                                output_names, refuse_existing, refuse_inputs, same_path)
from src.deploy.tiling import upscale
from src.deploy.video import VIDEO_EXTENSIONS, is_video, upscale_video


def image_extension(ext):
    extension = f".{ext.lstrip('.').lower()}"
    if extension not in IMAGE_EXTENSIONS:
        raise ImageError(f"--ext {ext}: not an image format; use one of "
                           f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)}")
    return extension


def output_is_file(source, output):
    """True when ``output`` names a file: it has the extension of the input's kind (an
    image format for an image, a video format for a video); no extension or an existing
    folder: a folder. Any other extension is refused."""
    extension = os.path.splitext(output)[1].lower()
    if os.path.isdir(output) or not extension:
        return False
    wanted = VIDEO_EXTENSIONS if is_video(source) else IMAGE_EXTENSIONS
    if extension in wanted:
        return True
    kind = "a video" if is_video(source) else "an image"
    raise OutputError(f"--output '{output}': '{extension}' is not {kind} extension "
                      f"({', '.join(wanted)}); give a file name with one, or a folder "
                      f"name without an extension")


def folder_targets(folder, names, output, extension, suffix):
    """{input name: output path} of a folder's images and videos."""
    images = [n for n in names if not is_video(n)]
    videos = [n for n in names if is_video(n)]
    renamed = {**output_names(images, extension, suffix), **output_names(videos, ".mp4", suffix)}
    return {name: os.path.join(output, renamed[name]) for name in names}


def plan_jobs(source, output, ext="png", suffix="", overwrite=False):
    """[(input, output)] for an image, a video or a folder (its images and videos)."""
    extension = image_extension(ext)
    if os.path.isdir(source):
        names = sorted(n for n in os.listdir(source)
                       if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS or is_video(n))
        if not names:
            raise ImageError(f"folder '{source}' holds no image or video "
                               f"({', '.join(IMAGE_EXTENSIONS)})")
        if os.path.isfile(output) or (os.path.splitext(output)[1] and not os.path.isdir(output)):
            raise OutputError(f"--output '{output}' is a file name; a folder input needs an "
                              f"output folder (a name without an extension)")
        if same_path(source, output) and not suffix:
            raise OutputError(f"--output '{output}' is the input folder: the results would "
                              f"replace the inputs; choose another folder or give --suffix")
        targets = folder_targets(source, names, output, extension, suffix)
        jobs = [(os.path.join(source, n), targets[n]) for n in names]
        inputs = [os.path.join(source, n) for n in os.listdir(source)]
    else:
        if not os.path.isfile(source):
            raise ImageError(f"input '{source}' does not exist")
        if output_is_file(source, output):
            target = output
        else:
            stem = os.path.splitext(os.path.basename(source))[0]
            target = os.path.join(output, stem + suffix + (".mp4" if is_video(source)
                                                            else extension))
        jobs, inputs = [(source, target)], [source]
    refuse_inputs([t for _, t in jobs], inputs, "choose another --output")
    refuse_existing([t for _, t in jobs], overwrite, "choose another --output or --suffix")
    return jobs


def prepare_outputs(jobs):
    """Before the model loads: every output folder writable."""
    for folder in sorted({os.path.dirname(os.path.abspath(t)) for _, t in jobs}):
        check_writable_folder(folder, "--output")


def upscale_image_file(runner, source, target, tile, overwrite=True):
    """Read, upscale, write one image; returns (input size, output size) as (W, H)."""
    image = read_image(source)
    sr = from_network_output(upscale(runner, to_network_input(image.rgb), tile))
    extension = os.path.splitext(target)[1].lower()
    write_image(target, assemble_output(sr, image, runner.scale, extension), overwrite)
    return image.rgb.shape[1::-1], sr.shape[1::-1]


def run_job(runner, source, target, tile, fourcc, progress, overwrite=True):
    """One job; returns its report line. Without ``overwrite`` a target that appeared
    since start-up (another run writing into the same folder) is OutputExistsError, before
    the work and again at the moment of writing (the file is created exclusively)."""
    started = time.perf_counter()
    if not overwrite and os.path.lexists(target):
        raise appeared(target)
    if is_video(source):
        frames, seconds = upscale_video(runner, source, target, tile, fourcc, progress,
                                        overwrite)
        return (f"{source}: {frames} frames in {seconds:.1f} s ({frames / seconds:.2f} fps) "
                f"-> {target}")
    (w, h), (sw, sh) = upscale_image_file(runner, source, target, tile, overwrite)
    return (f"{source}: {w}x{h} -> {sw}x{sh} in {time.perf_counter() - started:.2f} s "
            f"-> {target}")


def run_jobs(runner, jobs, tile, fourcc="mp4v", progress=True, overwrite=True):
    """Run every (input, output) job, printing one line per job. An input that cannot be
    processed, or whose output another run has written meanwhile (OutputExistsError, left
    as it is unless ``overwrite``), is reported on stderr and skipped; any other write
    failure (OutputError) stops. Returns [(input, reason)] of the skipped inputs."""
    from tqdm import tqdm
    failed = []
    bar = tqdm(jobs, unit="file", disable=not progress or len(jobs) < 2)
    for source, target in bar:
        bar.set_description(os.path.basename(source))
        try:
            line = run_job(runner, source, target, tile, fourcc, progress, overwrite)
        except ConfigError as err:
            if isinstance(err, OutputError) and not isinstance(err, OutputExistsError):
                raise        # an unwritable folder or a full disk: the next ones fail too
            reason = str(err).strip().splitlines()[0]
            failed.append((source, reason))
            bar.write(f"skipped {source}: {reason}", file=sys.stderr)
            continue
        bar.write(line, file=sys.stdout)
    bar.close()
    return failed


def failure_summary(failed, total):
    return (f"error: {len(failed)} of {total} inputs failed: "
            + "; ".join(f"{os.path.basename(s)} ({reason})" for s, reason in failed))
