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
    with pytest.raises(ConfigError, match="unknown config key 'batch_szie'.*'batch_size'"):
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
