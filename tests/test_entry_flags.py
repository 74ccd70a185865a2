"""One flag for "a model file" on every entry point (--model), with each tool's earlier
name kept as an alias: eval's --ckpt_path and export's --ckpt_file (the model zoo's
names), the benchmark's --ckpt. And export.py's own batch flag."""
import importlib.util
import os

import pytest

from src.config import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_entry(relative):
    name = "entry_" + relative.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("flag", ["--model", "--ckpt_path"])
def test_eval_takes_the_model_under_both_names(flag):
    _, extras, _ = load_entry("eval.py").resolve_config([flag, "some/run/best.ckpt"])
    assert extras.ckpt_path == "some/run/best.ckpt"


@pytest.mark.parametrize("flag", ["--model", "--ckpt_file"])
def test_export_takes_the_model_under_both_names(flag):
    _, extras = load_entry("export.py").resolve_config([flag, "some/run/best.ckpt"])
    assert extras.ckpt_file == "some/run/best.ckpt"


def test_infer_takes_the_model_as_model():
    _, extras, _ = load_entry("infer.py").resolve_config(
        ["--model", "m.onnx", "--input", "in.png", "--output", "out"])
    assert extras.model == "m.onnx"


@pytest.mark.parametrize("flag", ["--model", "--ckpt"])
def test_the_graph_kernel_benchmark_takes_the_model_under_both_names(flag):
    args = load_entry("benchmarks/graph_kernel_ab.py").parse_args([flag, "w.ckpt"])
    assert args.ckpt == "w.ckpt"


def test_export_batch_is_its_own_flag_and_the_training_key_is_refused():
    export = load_entry("export.py")
    argv = ["--model", "best.ckpt"]
    _, extras = export.resolve_config(argv)
    assert export.export_batch_size(extras, argv) == 1
    argv = ["--model", "best.ckpt", "--export_batch_size", "4"]
    _, extras = export.resolve_config(argv)
    assert export.export_batch_size(extras, argv) == 4
    argv = ["--model", "best.ckpt", "--batch_size", "4"]
    _, extras = export.resolve_config(argv)
    with pytest.raises(ConfigError, match="--export_batch_size"):
        export.export_batch_size(extras, argv)
