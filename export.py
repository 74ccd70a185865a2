"""Export a trained AsConvSR checkpoint to MINDIR, ONNX or AIR, and verify the result.

    python export.py --model RUN/best.ckpt [--config_path YAML]
                     [--file_format MINDIR|ONNX|AIR] [--height H --width W]
                     [--export_batch_size 1] [--file_name asconvsr] [--verify_image PHOTO]
                     [--overwrite]

(--ckpt_file is the model zoo's name for --model and works the same.)

Without --height/--width the graph takes any H x W (batch 1), and for models with
control modules two more graphs are written for exact tiled inference (see
docs/deploy.md). The model's config is the run's config.yaml beside the checkpoint
unless --config_path is given; every config key is also a flag. Every written graph is
loaded back and compared with the eager network (exit 1 if it differs by 1e-4 or more).
AIR needs --device_target Ascend. An earlier export of the same --file_name (any of its
graphs or its .json sidecar) is refused before loading unless --overwrite is given.
"""
import os
import sys

import src  # noqa: F401  (applies the runtime environment before mindspore loads)
from src.config import ConfigError, run_main
from src.deploy.cli import parse_config_for_checkpoint, temperature_to_run, warn_changed_model_keys


def extra_args(parser):
    parser.add_argument("--model", "--ckpt_file", dest="ckpt_file", required=True,
                        help="checkpoint (.ckpt) written by train.py (--ckpt_file: the same)")
    parser.add_argument("--export_batch_size", type=int, default=1,
                        help="batch of the exported graph (the config's batch_size is training's)")
    parser.add_argument("--file_format", default="MINDIR", choices=["MINDIR", "ONNX", "AIR"],
                        help="MINDIR (MindSpore, Lite), ONNX (ONNX Runtime...) or AIR (Ascend)")
    parser.add_argument("--file_name", default="asconvsr",
                        help="output path without extension (letters, digits, @_-.:/\\)")
    parser.add_argument("--height", type=int, default=None,
                        help="fixed input height (with --width); omit both for any size")
    parser.add_argument("--width", type=int, default=None, help="fixed input width")
    parser.add_argument("--tile_graphs", default="true", choices=["true", "false"],
                        help="also write the tile/stats graphs of an any-size export")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier export of the same --file_name")
    parser.add_argument("--verify_image", default=None,
                        help="photo used to verify the export (default: skimage astronaut)")


def export_batch_size(extras, argv):
    """--export_batch_size. --batch_size is the config's *training* batch (32 in a run's
    config.yaml); it chose the export batch before, so it is refused rather than ignored."""
    if any(token == "--batch_size" or token.startswith("--batch_size=") for token in argv):
        raise ConfigError("export.py: --batch_size is the training batch; give the exported "
                          "graph's batch as --export_batch_size N")
    return extras.export_batch_size


def resolve_config(argv):
    """parse_config, with the checkpoint's own config.yaml when --config_path is absent."""
    cfg, extras, _ = parse_config_for_checkpoint(argv, lambda extras: extras.ckpt_file,
                                                 __doc__.splitlines()[0], extra_args)
    return cfg, extras


def main():
    argv = sys.argv[1:]
    cfg, extras = resolve_config(argv)
    batch_size = export_batch_size(extras, argv)
    from src.deploy.exporter import VerificationError, check_request, export_files, export_model
    check_request(cfg, extras.file_format, extras.file_name, extras.height, extras.width,
                  batch_size)
    from src.deploy.outputs import check_writable_folder, refuse_existing
    check_writable_folder(os.path.dirname(os.path.abspath(extras.file_name)), "--file_name")
    refuse_existing(export_files(cfg, extras.file_format, extras.file_name, extras.height,
                                 extras.tile_graphs == "true"),
                    extras.overwrite, "choose another --file_name")
    warn_changed_model_keys(argv, cfg, extras.ckpt_file)
    from src.runtime import setup
    setup(cfg.device_target, cfg.mode, device_id=cfg.device_id)
    try:
        export_model(cfg, extras.ckpt_file, extras.file_format, extras.file_name,
                     extras.height, extras.width, batch_size,
                     extras.tile_graphs == "true", extras.verify_image,
                     overwrite=extras.overwrite,
                     temperature=temperature_to_run(argv, cfg, extras.ckpt_file))
    except VerificationError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
