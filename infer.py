"""Upscale images, folders of images or videos with a trained or exported AsConvSR.

    python infer.py --model MODEL --input IMAGE|FOLDER|VIDEO --output PATH
                    [--tile 512] [--ext png] [--suffix _x2] [--overwrite] [--quiet]
                    [--scale S] [--config_path YAML]

MODEL: a training checkpoint (.ckpt; its run's config.yaml beside it is used unless
--config_path is given), or a .mindir / .onnx written by export.py (its metadata says
the scale; see docs/deploy.md). Images (PNG/JPEG/BMP/TIFF/WebP; grey, RGB, RGBA; 8 or
16-bit) become PNGs unless --output names another extension; a video (any container
OpenCV reads) becomes an mp4v video. Large images run in tiles of --tile LR pixels
with whole-image-exact results (--tile 0: whole image at once). Every config key is
also a flag (--device_target GPU, --mode pynative ...).

--output with an image (or, for a video, a video) extension is a file; without an
extension it is a folder; any other extension is refused. Nothing is overwritten: an
input never, an existing output only with --overwrite (checked at start-up and again as
each file is created, so a second run into the same folder skips what the first wrote).
In a folder, inputs sharing a stem (x.png, x.jpg) become x_png.png and x_jpg.png. A file
that cannot be read is reported and skipped; the exit status is 1 when any was. Images
are read upright, as their EXIF orientation says.
"""
import sys
import time

import src  # noqa: F401  (applies the runtime environment before mindspore loads)
from src.config import ConfigError, run_main
from src.deploy.cli import (command_line_keys, parse_config_for_checkpoint, refuse_fp16,
                            refuse_keys_an_export_ignores, temperature_to_run,
                            warn_changed_model_keys)


def extra_args(parser):
    parser.add_argument("--model", required=True,
                        help="a .ckpt (with its config.yaml), or a .mindir / .onnx from export.py. "
                             "Which shipped one: pretrained/asconvsr_x2_nounshuffle_c20 or "
                             "asconvsr_x3_nounshuffle (our best x2 and x3, not the paper's "
                             "shape; asconvsr_x2_nounshuffle: the x2 at two thirds of the "
                             "MACs), asconvsr_x2 or "
                             "asconvsr_x3 (the paper's networks), "
                             "for clean (lossless) photos; pretrained/asconvsr_x2_ntire for JPEG "
                             "photos and video frames (fine-tuned on JPEG q90 inputs: better "
                             "on them, a little worse on clean ones; its MODEL_CARD.md; "
                             "asconvsr_x2_ntire_c20: the same at C = 20, 1.5 times the MACs "
                             "for +0.01 dB)")
    parser.add_argument("--input", required=True, help="an image, a folder of images, or a video")
    parser.add_argument("--output", required=True,
                        help="output file, or folder (one output per input, same base name)")
    parser.add_argument("--tile", type=int, default=512,
                        help="tile core side in LR pixels (results equal whole-image); 0: whole image")
    parser.add_argument("--ext", default="png",
                        help="image format written into an output folder (png, tif, jpg, bmp)")
    parser.add_argument("--fourcc", default="mp4v", help="codec of output videos")
    parser.add_argument("--suffix", default="",
                        help="appended to output base names in a folder (_x2: photo_x2.png)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (inputs are never replaced)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--fp16", action="store_true",
                        help="run a .ckpt model in float16 (MindSpore O2, GPU/Ascend only)")


def resolve_config(argv):
    """parse_config, with a checkpoint's own config.yaml when --config_path is absent."""
    cfg, extras, _ = parse_config_for_checkpoint(argv, lambda extras: extras.model,
                                                 __doc__.splitlines()[0], extra_args)
    return cfg, extras, command_line_keys(argv)


def main():
    argv = sys.argv[1:]
    cfg, extras, explicit = resolve_config(argv)
    if extras.tile < 0:
        raise ConfigError(f"--tile must be >= 0 (0: whole image), got {extras.tile}")
    refuse_keys_an_export_ignores(argv, extras.model)
    if extras.fp16:
        refuse_fp16(extras.model, cfg.device_target)
    from src.deploy.infer_jobs import failure_summary, plan_jobs, prepare_outputs, run_jobs
    jobs = plan_jobs(extras.input, extras.output, extras.ext, extras.suffix, extras.overwrite)
    prepare_outputs(jobs)
    from src.runtime import setup
    setup(cfg.device_target, cfg.mode, device_id=cfg.device_id)
    from src.deploy.predictor import inference_mode
    from src.deploy.runners import open_model
    temperature = None
    if extras.model.lower().endswith(".ckpt"):
        warn_changed_model_keys(argv, cfg, extras.model)
        temperature = temperature_to_run(argv, cfg, extras.model)
    started = time.perf_counter()
    runner = open_model(extras.model, cfg, explicit, fp16=extras.fp16, temperature=temperature)
    print(f"model {extras.model} ({runner.kind}, {runner.engine}): x{runner.scale}, unshuffle "
          f"{runner.unshuffle}, {inference_mode(runner, extras.tile)}, {runner.precision}; "
          f"loaded in {time.perf_counter() - started:.1f} s")
    failed = run_jobs(runner, jobs, extras.tile, extras.fourcc, progress=not extras.quiet,
                      overwrite=extras.overwrite)
    if failed:
        print(failure_summary(failed, len(jobs)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
