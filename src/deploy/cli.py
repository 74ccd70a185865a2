"""Shared by eval.py, infer.py and export.py: the checkpoint's own config.yaml as the
config, and a warning when a command-line model key differs from it."""
import sys

from src.config import config_beside_checkpoint, load_yaml_documents, parse_config


def command_line_keys(argv):
    """The ``--key`` names given in ``argv`` (``--key value`` or ``--key=value``)."""
    return {token[2:].split("=")[0] for token in argv if token.startswith("--")}


def parse_config_for_checkpoint(argv, checkpoint_of, description, extra_args):
    """parse_config with the checkpoint's own config.yaml (see config_beside_checkpoint)
    as --config_path when none is given. ``checkpoint_of(extras)`` -> the checkpoint path
    (a non-.ckpt file: no config beside it). Returns (cfg, extras, config source)."""
    cfg, extras = parse_config(argv, description=description, extra_args=extra_args)
    if extras.config_path is not None:
        return cfg, extras, extras.config_path
    path = checkpoint_of(extras)
    beside = config_beside_checkpoint(path) if path and path.lower().endswith(".ckpt") else None
    if beside is None:
        return cfg, extras, None
    cfg, extras = parse_config(["--config_path", beside] + list(argv), description=description,
                               extra_args=extra_args)
    return cfg, extras, beside


def model_keys():
    """The config keys that build the network (AsConvSRConfig's fields)."""
    import dataclasses
    from src.model.asconvsr import AsConvSRConfig
    return {field.name for field in dataclasses.fields(AsConvSRConfig)}


def warn_changed_model_keys(argv, cfg, ckpt_path, out=None):
    """One warning line per model key given in ``argv`` whose value differs from the
    config.yaml beside ``ckpt_path``: the weights were trained with that file's value, and
    keys such as temperature change the output without changing any parameter shape.
    Returns the [(key, file value, given value)] warned about."""
    beside = config_beside_checkpoint(ckpt_path) if ckpt_path else None
    if beside is None:
        return []
    trained = load_yaml_documents(beside)[0]
    keys = model_keys()
    changed = [(key, trained[key], cfg[key]) for key in sorted(command_line_keys(argv))
               if key in keys and key in trained and key in cfg and trained[key] != cfg[key]]
    for key, was, now in changed:
        print(f"warning: --{key} {now!r} differs from the checkpoint's {beside} "
              f"({key}: {was!r}); its weights were trained with {was!r}",
              file=out or sys.stderr)
    return changed


def refuse_fp16(model_path, device_target):
    """--fp16 (eval.py, infer.py): refused in one line on a CPU device, and for an export,
    whose graphs run in the precision they were exported in."""
    from src.config import ConfigError
    from src.engine.amp import require_accelerator
    require_accelerator("--fp16", device_target)
    if not model_path.lower().endswith(".ckpt"):
        raise ConfigError(f"--fp16 converts a .ckpt model; '{model_path}' is an export: "
                          f"export it in the precision you want, or drop --fp16")
