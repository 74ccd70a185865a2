"""Config loading: defaults + YAML + --key value, types, unknown keys, choices."""
import pytest

from src.config import ConfigError, coerce, load_config, parse_config, save_config


def test_defaults_are_the_x2_preset_and_the_paper_recipe():
    cfg, _ = parse_config([])
    assert (cfg.scale, cfg.channels, cfg.num_kernels, cfg.num_blocks) == (2, 32, 32, 1)
    assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.batch_size) == (5e-4, 0.9, 0.9999, 32)
    assert (cfg.lr_decay_step, cfg.lr_decay_gamma, cfg.total_iters) == (200000, 0.5, 1000000)
    assert cfg.bias is False and cfg.residual == "repeat"


def test_preset_file_then_command_line_override():
    cfg, _ = parse_config(["--config_path", "configs/asconvsr_x3.yaml", "--channels", "16",
                           "--bias", "true", "--lr", "1e-4"])
    assert cfg.scale == 3 and cfg.num_kernels == 64      # from the preset
    assert cfg.channels == 16 and cfg.bias is True and cfg.lr == pytest.approx(1e-4)


@pytest.mark.parametrize("text,expected", [("true", True), ("False", False), ("1", True),
                                           ("no", False)])
def test_booleans(text, expected):
    assert coerce("bias", text, False) is expected


@pytest.mark.parametrize("text", ["[a, b]", "a,b"])
def test_lists(text):
    assert coerce("dirs", text, ["x"]) == ["a", "b"]


def test_unknown_key_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown flag '--batch_szie'; did you mean '--batch_size'\?"):
        parse_config(["--batch_szie", "8"])


@pytest.mark.parametrize("argv,pattern", [
    (["--batch_size", "abc"], "'batch_size' expects int, got 'abc'"),
    (["--scale", "2.5"], "'scale' expects int"),
    (["--bias", "maybe"], "'bias' expects a boolean"),
    (["--lr", "fast"], "'lr' expects float"),
    (["--block_type", "fancy"], "'block_type' must be one of"),
])
def test_bad_values_name_the_key(argv, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_config(argv)


def test_yaml_file_with_unknown_key_or_bad_type(tmp_path):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("chanels: 8\n")
    with pytest.raises(ConfigError, match="unknown config key 'chanels'.*unknown.yaml"):
        load_config(str(unknown))
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: many\n")
    with pytest.raises(ConfigError, match="'channels'.*expects int"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))


def test_saved_config_round_trips(tmp_path):
    cfg = load_config("configs/asconvsr_l_x2.yaml", {"lr": 1e-3})
    path = tmp_path / "config.yaml"
    save_config(cfg, str(path))
    assert load_config(str(path)) == cfg


def test_every_key_has_help_text():
    from src.config import load_defaults
    values, helps, _ = load_defaults()
    assert set(values) == set(helps)


@pytest.mark.parametrize("entry", ["train.py", "eval.py", "infer.py", "export.py", "benchmark.py"])
def test_help_prints_every_entry_points_flags(entry):
    """--help renders every help text (argparse %-formats them: a bare '%' crashed it)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, entry, "--help"], capture_output=True, text=True,
                         timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-1500:]
    assert "usage:" in out.stdout
    if entry != "benchmark.py":
        assert "--min_patch_texture" in out.stdout and "40% of" in out.stdout


@pytest.mark.parametrize("key,value", [
    ("lr", "-1"), ("total_iters", "0"), ("warmup_iters", "-5"), ("lr_decay_step", "0"),
    ("lr_decay_gamma", "1.5"), ("log_every", "0"), ("ckpt_every", "0"), ("val_every", "-1"),
    ("batch_size", "0"), ("num_kernels", "0"), ("channels", "0"), ("charbonnier_eps", "0"),
    ("beta1", "1"), ("beta2", "-0.1"), ("temperature", "0"), ("coeff_init_dominance", "1"),
    ("reduction", "0"), ("dynamic_kernels", "0"), ("kernel_size", "4"), ("num_workers", "-2"),
])
def test_out_of_range_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^config key '{key}' must be .*, got {value}"):
        parse_config([f"--{key}", value])


def test_lr_patch_size_must_be_a_multiple_of_unshuffle():
    with pytest.raises(ConfigError) as err:
        parse_config(["--lr_patch_size", "1"])
    assert "'lr_patch_size'" in str(err.value) and "unshuffle = 2" in str(err.value)
    assert "infer.py" not in str(err.value)
    with pytest.raises(ConfigError, match="'lr_patch_size'"):
        load_config(overrides={"lr_patch_size": 9})


def test_every_numeric_key_has_a_range_and_presets_pass_it():
    import glob
    from src.config import RANGES, load_defaults
    values, _, _ = load_defaults()
    numeric = {k for k, v in values.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numeric <= set(RANGES), numeric - set(RANGES)
    for path in sorted(glob.glob("configs/*.yaml") + glob.glob("pretrained/*/config.yaml")):
        load_config(path)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("channels: 8\nlr: [0.1\nscale: 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml' is not valid YAML at line \d+, column \d+"):
        load_config(str(bad))


def test_misspelled_entry_point_flag_gets_a_suggestion():
    def extras(parser):
        parser.add_argument("--save_dir")
        parser.add_argument("--tile", type=int)
    with pytest.raises(ConfigError, match=r"unknown flag '--save_dri'; did you mean '--save_dir'\?"):
        parse_config(["--save_dri", "x"], extra_args=extras)
    with pytest.raises(ConfigError, match=r"did you mean '--tile'\?"):
        parse_config(["--tiel=3"], extra_args=extras)


def _run_main_output(capsys, error):
    from src.config import run_main

    def main():
        raise error
    with pytest.raises(SystemExit) as stop:
        run_main(main)
    return stop.value.code, capsys.readouterr().err


def test_run_main_one_line_for_input_errors_traceback_for_bugs(capsys):
    from src.checkpoint import CheckpointError
    code, err = _run_main_output(capsys, CheckpointError("checkpoint 'x.ckpt' is bad"))
    assert code == 2 and err == "error: checkpoint 'x.ckpt' is bad\n"
    code, err = _run_main_output(capsys, PermissionError(13, "Permission denied", "/ro/run"))
    assert code == 2 and err == "error: cannot use '/ro/run': Permission denied\n"
    code, err = _run_main_output(capsys, ValueError("operands could not be broadcast"))
    assert code == 1 and "Traceback" in err and "operands could not be broadcast" in err
    assert err.strip().splitlines()[-1].startswith("error: this is a bug in AsConvSR")


@pytest.mark.parametrize("key,text,expected", [
    ("lr", "1e-3", 1e-3),                 # PyYAML reads 1e-3 as a string (no dot)
    ("total_iters", "1e6", 1000000),
    ("scale", "2.0", 2),
    ("bias", "1", True),
    ("mixed_jpeg_quality", "40,90", [40, 90]),
    ("loss_scale", "1024", "1024"),
    ("last_init_scale", "0", 0.0),
])
def test_yaml_and_flags_accept_the_same_values(tmp_path, key, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"{key}: {text}\n")
    assert load_config(str(path))[key] == expected
    assert parse_config([f"--{key}", text])[0][key] == expected


@pytest.mark.parametrize("key,text", [("lr", ".inf"), ("lr", ".nan"), ("scale", "2.5"),
                                      ("channels", "true"), ("beta1", "-.inf"),
                                      ("beta1", "-1e-3")])
def test_yaml_and_flags_refuse_the_same_values(tmp_path, key, text):
    path = tmp_path / "c.yaml"
    path.write_text(f"{key}: {text}\n")
    with pytest.raises(ConfigError, match=rf"config key '{key}'"):
        load_config(str(path))
    flag = {".inf": "inf", ".nan": "nan", "-.inf": "-inf"}.get(text, text)
    with pytest.raises(ConfigError, match=rf"config key '{key}'"):
        parse_config([f"--{key}", flag])
