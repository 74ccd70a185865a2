"""Configuration: ``default_config.yaml`` + an optional preset/run YAML + ``--key value``.

The default file holds three YAML documents, in the MindSpore model-zoo layout:
values, then help text for every key, then the allowed choices of some keys.
Nothing is parsed at import; entry points call :func:`parse_config`.

Precedence: default_config.yaml < ``--config_path FILE`` < ``--key value`` flags.
Types come from the default value: ``--bias true`` (true/false/1/0/yes/no),
``--lr 1e-4``, ``--val_dirs [data/val,data/set5]`` or ``--val_dirs data/val,data/set5``.
A key with a null default takes any YAML value. Unknown keys and values of the wrong
type stop with a one-line error that names the key; :func:`check_ranges` then checks
every numeric key against :data:`RANGES` (entry points call it before writing anything).
"""
import argparse
import difflib
import math
import os
import sys
import traceback

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "default_config.yaml")


class ConfigError(ValueError):
    """An input problem a user can fix (config, file, folder, checkpoint); the message
    names the key or file. :func:`run_main` prints it as one line, exit status 2; the
    project's other input errors (CheckpointError, ImageError, ...) subclass it."""


class Config(dict):
    """A flat mapping of config keys with attribute access (``cfg.batch_size``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key '{key}'") from None

    def __setattr__(self, key, value):
        self[key] = value


def load_yaml_documents(path):
    """All YAML documents of ``path`` (a missing or malformed file -> ConfigError)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            return [doc or {} for doc in yaml.safe_load_all(handle)]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {what}") from None


def load_defaults(path=DEFAULT_CONFIG):
    """(values, help, choices) from the three documents of the default config."""
    docs = load_yaml_documents(path) + [{}, {}]
    return docs[0], docs[1], docs[2]


def _unknown_key_error(key, known, origin):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "; see default_config.yaml for the keys"
    return ConfigError(f"unknown config key '{key}' ({origin}){hint}")


def _unknown_flag_error(flag, known_flags):
    """``known_flags``: every flag of the parser (config keys and the entry point's own)."""
    close = difflib.get_close_matches(flag, known_flags, n=1)
    hint = f"; did you mean '--{close[0]}'?" if close else "; --help lists the flags"
    return ConfigError(f"unknown flag '--{flag}'{hint}")


def _type_name(value):
    return type(value).__name__


def coerce(key, text, default):
    """Convert a command-line string to the type of ``default``."""
    if isinstance(default, bool):
        lowered = str(text).strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"config key '{key}' expects a boolean (true/false), got '{text}'")
    if isinstance(default, (int, float)):
        try:
            value = float(str(text))
        except ValueError:
            raise ConfigError(f"config key '{key}' expects {_type_name(default)}, got '{text}'") from None
        if not math.isfinite(value):
            raise ConfigError(f"config key '{key}' expects a finite number, got '{text}'")
        if isinstance(default, int):
            if not value.is_integer():
                raise ConfigError(f"config key '{key}' expects int, got '{text}'")
            return int(value)
        return value
    if isinstance(default, list):
        text = str(text).strip()
        if text.startswith("["):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ConfigError(f"config key '{key}' expects a list like [a,b], got '{text}'") from None
        else:
            value = [yaml.safe_load(item) for item in text.split(",") if item.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' expects a list, got '{text}'")
        return value
    if default is None:
        return yaml.safe_load(str(text))
    return str(text)


def check_value(key, value, default, origin):
    """A value read from a YAML file, taken as the same text given as a flag would be
    (:func:`coerce`), so a file and the command line accept the same values: PyYAML
    reads ``1e-3`` as a string (it wants ``1.0e-3``), ``2.0`` as a float. A text key may
    hold a number (loss_scale: 1024)."""
    if default is None or value is None:
        return value
    if isinstance(default, str) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (str, int, float)) and not isinstance(default, str):
        try:
            return coerce(key, value if isinstance(value, str) else repr(value), default)
        except ConfigError as err:
            raise ConfigError(f"{err} ({origin})") from None
    if not isinstance(value, type(default)):
        raise ConfigError(f"config key '{key}' ({origin}) expects {_type_name(default)}, "
                          f"got {value!r}")
    return value


def merge_file(values, path):
    """Override ``values`` with the first document of the YAML file at ``path``."""
    docs = load_yaml_documents(path)
    overrides = docs[0] if docs else {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of key: value")
    for key, value in overrides.items():
        if key not in values:
            raise _unknown_key_error(key, list(values), f"in {path}")
        values[key] = check_value(key, value, values[key], f"in {path}")
    return values


def build_parser(defaults, helps, choices, description):
    """argparse parser with one ``--key`` flag per config key, help from the YAML."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config_path", default=None,
                        help="YAML file whose keys override default_config.yaml "
                             "(a preset in configs/ or a run's saved config.yaml)")
    for key, default in defaults.items():
        text = f"{helps.get(key, '')} (default: {default!r})"
        if key in choices:
            text += f" choices: {choices[key]}"
        # argparse %-formats help strings: a literal "40% of" would crash --help.
        kwargs = {"default": argparse.SUPPRESS, "metavar": _type_name(default).upper(),
                  "help": text.replace("%", "%%")}
        parser.add_argument(f"--{key}", **kwargs)
    return parser


def attach_negative_numbers(argv):
    """``--key -1e-3`` as ``--key=-1e-3``: argparse takes a value that starts with '-' and
    is not a plain -1 or -.5 for a flag, so ``--beta1 -1e-3`` stopped with a usage
    message while ``beta1: -1e-3`` in a YAML file was read (and range-checked)."""
    joined = []
    for token in argv:
        previous = joined[-1] if joined else ""
        if previous.startswith("--") and "=" not in previous and token.startswith("-") \
                and _is_number(token):
            joined[-1] = f"{previous}={token}"
        else:
            joined.append(token)
    return joined


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_config(argv=None, description="AsConvSR", defaults_path=DEFAULT_CONFIG,
                 extra_args=None):
    """Resolve the full config. ``extra_args``: callable adding entry-point flags that are
    not config keys (returned separately). Returns (Config, argparse.Namespace of extras)."""
    argv = attach_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    defaults, helps, choices = load_defaults(defaults_path)
    parser = build_parser(defaults, helps, choices, description)
    if extra_args is not None:
        extra_args(parser)
    args, unknown = parser.parse_known_args(argv)
    flags = [option[2:] for action in parser._actions for option in action.option_strings
             if option.startswith("--") and option != "--help"]
    for token in unknown:
        if token.startswith("--"):
            raise _unknown_flag_error(token[2:].split("=")[0], flags)
        raise ConfigError(f"unexpected command-line argument '{token}'; flags look like --key value")
    values = dict(defaults)
    if args.config_path:
        merge_file(values, args.config_path)
    parsed = vars(args)
    for key in defaults:
        if key in parsed:
            values[key] = coerce(key, parsed.pop(key), defaults[key])
    cfg = Config(values)
    validate_choices(cfg, choices)
    check_ranges(cfg)
    extras = argparse.Namespace(**{k: v for k, v in parsed.items() if k not in defaults})
    return cfg, extras


def validate_choices(cfg, choices):
    for key, allowed in choices.items():
        if key in cfg and cfg[key] not in allowed:
            raise ConfigError(f"config key '{key}' must be one of {allowed}, got {cfg[key]!r}")


def _in_unit(low_open, high_open):
    return lambda v, _: (0 < v if low_open else 0 <= v) and (v < 1 if high_open else v <= 1)


# key -> (test(value, all values), what the key must be; may name other keys as {key}).
# Every numeric key of default_config.yaml has a row (tests/test_config.py checks it).
RANGES = {
    "device_id": (lambda v, _: v >= 0, ">= 0"),
    "seed": (lambda v, _: 0 <= v < 2 ** 32, "in [0, 2^32)"),
    "scale": (lambda v, _: v >= 1, ">= 1"),
    "channels": (lambda v, _: v >= 1, ">= 1"),
    "num_blocks": (lambda v, _: v >= 1, ">= 1"),
    "num_kernels": (lambda v, _: v >= 1, ">= 1"),
    "convs_per_block": (lambda v, _: v >= 1, ">= 1"),
    "kernel_size": (lambda v, _: v >= 1 and v % 2 == 1, "odd and >= 1"),
    "temperature": (lambda v, _: v > 0, "> 0"),
    "temperature_start": (lambda v, _: v > 0, "> 0"),
    "temperature_anneal_iters": (lambda v, _: v >= 0, ">= 0 (0: no annealing)"),
    "reduction": (lambda v, c: 1 <= v <= c.get("channels", v), "in [1, channels = {channels}]"),
    "coeff_init_dominance": (lambda v, c: 0 < v < 1 or c.get("num_kernels") == 1,
                             "in (0, 1) (open interval)"),
    "dynamic_kernels": (lambda v, _: v >= 1, ">= 1"),
    "unshuffle": (lambda v, _: v >= 1, ">= 1"),
    "last_init_scale": (lambda v, _: v >= 0, ">= 0"),
    "relu_slope": (lambda v, _: 0 <= v < 1, "in [0, 1)"),
    "lr_patch_size": (lambda v, c: v >= 1 and v % c.get("unshuffle", 1) == 0,
                      "a positive multiple of unshuffle = {unshuffle}"),
    "batch_size": (lambda v, _: v >= 1, ">= 1"),
    "num_workers": (lambda v, _: v >= -1, "-1 (auto), 0 (a thread) or a worker count"),
    "min_patch_texture": (lambda v, _: v >= 0, ">= 0 (0: any patch)"),
    "clean_prob": (_in_unit(False, False), "in [0, 1] (a probability)"),
    "train_cache_mb": (lambda v, _: v >= -1, "-1 (all in memory) or a cache size in MB >= 0"),
    "total_iters": (lambda v, _: v >= 1, ">= 1"),
    "lr": (lambda v, _: v > 0, "> 0"),
    "beta1": (_in_unit(False, True), "in [0, 1)"),
    "beta2": (_in_unit(False, True), "in [0, 1)"),
    "weight_decay": (lambda v, _: v >= 0, ">= 0"),
    "lr_decay_step": (lambda v, _: v >= 1, ">= 1 (iterations between decays)"),
    "lr_decay_gamma": (_in_unit(True, False), "in (0, 1] (1: no decay)"),
    "lr_min": (lambda v, _: v >= 0, ">= 0"),
    "lr_milestones": (lambda v, _: all(isinstance(m, int) and not isinstance(m, bool) and m >= 1
                                       for m in v) and list(v) == sorted(set(v)),
                      "a list of increasing iterations >= 1, e.g. [100000, 150000]"),
    "warmup_iters": (lambda v, _: v >= 0, ">= 0 (0: no warm-up)"),
    "charbonnier_eps": (lambda v, _: v > 0, "> 0"),
    "loss_scale": (lambda v, _: loss_scale_value(v) is not None, "dynamic or a number > 0"),
    "log_every": (lambda v, _: v >= 1, ">= 1"),
    "val_every": (lambda v, _: v >= 0, ">= 0 (0: no validation)"),
    "ckpt_every": (lambda v, _: v >= 1, ">= 1"),
    "val_crop_border": (lambda v, _: v >= -1, ">= 0, or -1 for crop = scale"),
}


def loss_scale_value(text):
    """'dynamic', or the positive finite float ``text`` names; None when it is neither."""
    if str(text).strip().lower() == "dynamic":
        return "dynamic"
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < float("inf") else None


def check_ranges(values, keys=None):
    """ConfigError naming the first key of ``values`` (or of ``keys``) outside its range
    in :data:`RANGES`; keys a mapping lacks are not checked."""
    for key, (ok, must) in RANGES.items():
        if key in values and (keys is None or key in keys) and values[key] is not None \
                and not ok(values[key], values):
            raise ConfigError(f"config key '{key}' must be {must.format(**values)}, "
                              f"got {values[key]!r}")
    return values


def load_config(path=None, overrides=None):
    """Config for library use and tests: defaults, optional YAML file, dict overrides."""
    defaults, _, choices = load_defaults()
    values = dict(defaults)
    if path:
        merge_file(values, path)
    for key, value in (overrides or {}).items():
        if key not in values:
            raise _unknown_key_error(key, list(values), "overrides")
        values[key] = check_value(key, value, values[key], "overrides")
    cfg = Config(values)
    validate_choices(cfg, choices)
    return check_ranges(cfg)


def config_beside_checkpoint(ckpt_path):
    """The ``config.yaml`` train.py writes next to its checkpoints, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(ckpt_path)), "config.yaml")
    return path if os.path.isfile(path) else None


def save_config(cfg, path):
    """Write the resolved config as YAML (atomically), loadable with --config_path."""
    from src.files import write_text_atomic
    write_text_atomic(path, yaml.safe_dump(dict(cfg), sort_keys=False))


def os_error_line(err):
    """One line for an OSError that names a file: the path and the OS's reason."""
    return f"cannot use '{err.filename}': {err.strerror or err}"


def exit_as_bug():
    """Print the current exception's traceback and a request to report it; exit 1."""
    traceback.print_exc()
    print("error: this is a bug in AsConvSR, not a problem with your input; please report "
          "it with the traceback above and the output of `python -m src.runtime`",
          file=sys.stderr)
    sys.exit(1)


def run_main(main):
    """Call ``main()``. The project's input errors (ConfigError and its subclasses) and
    OSErrors that name a file become one line on stderr and exit status 2; any other
    exception is a bug: its traceback, then one line asking to report it."""
    try:
        return main()
    except ConfigError as err:
        # MindSpore appends a C++ call stack to errors raised in graph mode: first line only.
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.filename is None:
            exit_as_bug()
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        sys.exit(2)
    except Exception:  # noqa: BLE001  (anything else is a bug: keep its traceback)
        exit_as_bug()

