"""On a GPU (tests marked ``gpu``, skipped elsewhere; scripts/gpu_check.sh runs them):
the network computes what it computes on CPU, and a seeded training run repeats bit for
bit (the seed turns on ms.set_deterministic there). The CPU rows of the same checks run
everywhere. Each device runs in its own process: MindSpore picks a device once."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.test_train import load_params, photos, train_command  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES = ["CPU", pytest.param("GPU", marks=pytest.mark.gpu)]

# Writes the x2 network's output for a fixed input on argv[1] to argv[2] (.npy):
# weights from seed 0, 2 x 3 x 48 x 64 input -> 2 x 3 x 96 x 128 output.
FORWARD = """
import sys
import numpy as np
import src
from src.runtime import setup
ms = setup(sys.argv[1], "graph", seed=0)
from src.config import load_config
from src.model.asconvsr import AsConvSRConfig, build_model
net = build_model(AsConvSRConfig.from_dict(load_config("configs/asconvsr_x2.yaml")))
net.set_train(False)
x = np.random.default_rng(1).random((2, 3, 48, 64), dtype=np.float32)
np.save(sys.argv[2], net(ms.Tensor(x)).asnumpy())
"""


def forward_on(device, path):
    proc = subprocess.run([sys.executable, "-c", FORWARD, device, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(path)


@pytest.mark.gpu
def test_gpu_forward_matches_cpu(tmp_path):
    cpu = forward_on("CPU", tmp_path / "cpu.npy")
    gpu = forward_on("GPU", tmp_path / "gpu.npy")
    assert cpu.shape == gpu.shape == (2, 3, 96, 128)
    # fp32 on both; cuDNN's convolution algorithms sum in another order (and may use
    # TF32 on Ampere and later): 1e-3 of the [0, 1] pixel range is far below one 8-bit level.
    assert np.abs(cpu - gpu).max() < 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_weights(photos, tmp_path, device):  # noqa: F811
    """Two 3-iteration graph-mode runs with one seed end with identical weights."""
    weights = []
    for name in ("a", "b"):
        command = train_command(photos, tmp_path / name, "--total_iters", "3", "--seed", "4",
                                "--val_every", "0", "--mode", "graph", "--device_target",
                                device, "--dump_final_weights", str(tmp_path / f"{name}_w"))
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        weights.append(load_params(str(tmp_path / f"{name}_w" / "rank0.ckpt")))
    first, second = weights
    assert first.keys() == second.keys() and "conv_first.weight" in first
    for name in first:
        assert np.array_equal(first[name], second[name]), name
