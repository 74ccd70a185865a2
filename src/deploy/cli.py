"""Shared by eval.py, infer.py and export.py: the checkpoint's own config.yaml as the
config, and a warning when a command-line model key differs from it."""
import sys

from src.config import ConfigError, config_beside_checkpoint, load_config, load_yaml_documents, parse_config


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


def refuse_keys_an_export_ignores(argv, model_path):
    """ConfigError for a model key on the command line of an exported model (other than
    --scale/--unshuffle, which stand in for missing metadata): the graph is fixed at
    export, so the flag would change nothing."""
    ignored = sorted((command_line_keys(argv) & model_keys()) - {"scale", "unshuffle"})
    if ignored and not model_path.lower().endswith(".ckpt"):
        raise ConfigError(f"--{ignored[0]} does not apply to '{model_path}': an export's "
                          f"graph was fixed when export.py wrote it; drop --{ignored[0]}, "
                          f"or export the checkpoint again with it")


def given_config_path(argv):
    """The value of ``--config_path`` in ``argv`` (either spelling), or None."""
    for i, token in enumerate(argv):
        if token == "--config_path" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--config_path="):
            return token.split("=", 1)[1]
    return None


def changed_model_keys(argv, cfg, ckpt_path):
    """[(key, trained value, value now, where it comes from)] for each model key whose
    value differs from the config.yaml beside ``ckpt_path`` (the weights were trained
    with that file's values): set by a --key flag or by another --config_path file."""
    beside = config_beside_checkpoint(ckpt_path) if ckpt_path else None
    if beside is None:
        return []
    written = load_yaml_documents(beside)[0]
    trained = load_config(beside)                 # typed as the config loader types them
    flags, other = command_line_keys(argv), given_config_path(argv)
    changed = []
    for key in sorted(model_keys()):
        if key in written and key in cfg and trained[key] != cfg[key]:
            origin = f"--{key} {cfg[key]!r}" if key in flags else f"{key}: {cfg[key]!r} in {other}"
            changed.append((key, trained[key], cfg[key], origin))
    return changed


def temperature_to_run(argv, cfg, ckpt_path):
    """The softmax temperature a user chose to run a checkpoint at, or None (run at the
    one the checkpoint holds; loading restores it). Chosen: --temperature, or a
    --config_path whose temperature differs from the checkpoint's own config.yaml.
    Without that file only the flag says the user chose."""
    if config_beside_checkpoint(ckpt_path) is None:
        return cfg["temperature"] if "temperature" in command_line_keys(argv) else None
    changed = {key for key, *_ in changed_model_keys(argv, cfg, ckpt_path)}
    return cfg["temperature"] if "temperature" in changed else None


def warn_changed_model_keys(argv, cfg, ckpt_path, out=None):
    """One warning line per model key whose value differs from the config.yaml beside
    ``ckpt_path`` (:func:`changed_model_keys`): the weights were trained with that
    file's value, and keys such as temperature change the output without changing any
    parameter shape. Returns the [(key, file value, value now, origin)] warned about."""
    changed = changed_model_keys(argv, cfg, ckpt_path)
    beside = config_beside_checkpoint(ckpt_path) if changed else None
    for key, was, _, origin in changed:
        print(f"warning: {origin} differs from the checkpoint's {beside} ({key}: {was!r}); "
              f"its weights were trained with {was!r}", file=out or sys.stderr)
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
