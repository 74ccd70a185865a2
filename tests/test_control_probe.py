"""The control probe: a control module that ignores its input reads as static, one that
does not reads as dynamic, and swapping in fixed coefficients changes nothing else."""
import os
import subprocess
import sys

import numpy as np
import pytest
from mindspore import Tensor

from src.model.asconvsr import AsConvSRConfig, build_model
from research.control_probe import control_probe, forward_with_fixed_coefficients
from tests.test_model import TINY, rand

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def images(count, size=12):
    return [Tensor(rand(1, 3, size, size, seed=k)) for k in range(count)]


def test_a_control_module_that_ignores_its_input_is_static():
    """fc2's weight at zero: every input gets fc2's bias as logits, the same coefficients."""
    net = build_model(AsConvSRConfig(**TINY))
    fc2 = net.blocks[0].control.fc2
    fc2.weight.set_data(Tensor(np.zeros(fc2.weight.shape, np.float32)))
    targets = [np.zeros((24, 24, 3), np.uint8) for _ in range(3)]
    result = control_probe(net, images(3), targets, border=2)
    assert all(row["spread"] < 1e-6 for row in result["per_conv"])
    assert result["frozen_rms"] < 1e-4 and result["psnr_y"] == result["psnr_y_frozen"]
    assert [(r["block"], r["conv"]) for r in result["per_conv"]] == [(0, 0), (0, 1), (0, 2)]


def test_an_input_dependent_control_module_is_seen_moving_the_output():
    """Inputs of different brightness, and control weights set so that they show: fc1
    positive without bias (its ReLU passes the pooled features on), fc2 large."""
    net = build_model(AsConvSRConfig(**TINY, temperature=1.0))
    rng = np.random.default_rng(0)
    control = net.blocks[0].control
    control.fc1.weight.set_data(Tensor(np.abs(rng.normal(0, 1, control.fc1.weight.shape))
                                       .astype(np.float32)))
    control.fc1.bias.set_data(Tensor(np.zeros(control.fc1.bias.shape, np.float32)))
    control.fc2.weight.set_data(Tensor(rng.normal(0, 3, control.fc2.weight.shape)
                                       .astype(np.float32)))
    inputs = [Tensor(rand(1, 3, 12, 12, seed=k) * (k + 1) / 3) for k in range(3)]
    result = control_probe(net, inputs)
    assert all(row["spread"] > 0.01 for row in result["per_conv"])
    assert result["frozen_rms"] > 0.01 and "psnr_y" not in result


@pytest.mark.parametrize("num_blocks", [1, 2])
def test_fixed_coefficients_reproduce_the_network_and_are_swapped_back(num_blocks):
    """Each block given its own coefficients for this input: the same output as net(x)."""
    from research.control_probe import coefficients
    net = build_model(AsConvSRConfig(**TINY, num_blocks=num_blocks))
    controls = [block.control for block in net.blocks]
    x = Tensor(rand(1, 3, 12, 12))
    own = [c[0] for c in coefficients(net, [x])]                 # (n, rows, E) per block
    assert len(own) == num_blocks
    np.testing.assert_allclose(forward_with_fixed_coefficients(net, x, own).asnumpy(),
                               net(x).asnumpy(), atol=1e-6)
    assert all(block.control is control for block, control in zip(net.blocks, controls))


def test_a_plain_network_has_nothing_to_probe():
    with pytest.raises(ValueError, match="block_type plain"):
        control_probe(build_model(AsConvSRConfig(**TINY, block_type="plain")), images(2))


def test_the_script_refuses_a_plain_checkpoint_in_one_line(tmp_path):
    import mindspore as ms
    net = build_model(AsConvSRConfig(**TINY, block_type="plain"))
    ckpt = str(tmp_path / "plain.ckpt")
    ms.save_checkpoint(net, ckpt)
    config = tmp_path / "config.yaml"
    config.write_text("channels: 8\nnum_kernels: 4\nblock_type: plain\n")
    out = subprocess.run([sys.executable, "research/control_probe.py", "--ckpt_path", ckpt,
                          "--data_dir", str(tmp_path)],     # any folder: a CI clone has no data/
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: '{ckpt}' is a plain-conv network (block_type plain): it has no control "
        f"module to probe")


@pytest.mark.parametrize("fresh", [False, True])
def test_the_script_probes_photos_and_crops_of_a_folder(tmp_path, fresh):
    import mindspore as ms
    from PIL import Image
    net = build_model(AsConvSRConfig(**TINY))
    ckpt = str(tmp_path / "tiny.ckpt")
    ms.save_checkpoint(net, ckpt)
    (tmp_path / "config.yaml").write_text("channels: 8\nnum_kernels: 4\n")
    photos = tmp_path / "val"
    photos.mkdir()
    for k in range(2):
        Image.fromarray((rand(48, 40, 3, seed=k) * 255).astype(np.uint8)).save(photos / f"p{k}.png")
    out = subprocess.run([sys.executable, "research/control_probe.py", "--ckpt_path", ckpt,
                          "--data_dir", str(photos), "--crop", "9"] + (["--fresh"] if fresh else []),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("a fresh network of" if fresh else ckpt)
    assert lines[1].startswith("photos (2 inputs)") and "PSNR-Y" in lines[2]
    assert any(line.startswith("crops of 8 (8 inputs)") for line in lines)
    assert sum("spread" in line for line in lines) == 6


@pytest.mark.parametrize("script", ["research/control_probe.py", "research/relu_census.py"])
def test_the_diagnostics_scripts_refuse_a_missing_checkpoint_in_one_line(tmp_path, script):
    ckpt = str(tmp_path / "missing.ckpt")
    out = subprocess.run([sys.executable, script, "--ckpt_path", ckpt, "--data_dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: checkpoint '{ckpt}' does not exist") and \
        "Traceback" not in out.stderr
