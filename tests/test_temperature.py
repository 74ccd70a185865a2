"""The control modules' softmax temperature: its schedule, its place in checkpoints, and
the basis initialisation that keeps He variance at any E."""
import math

import mindspore as ms
import numpy as np
import pytest

from src.checkpoint import load_model_weights
from src.config import load_config
from src.engine.train_step import TemperatureSchedule
from src.model.asconvsr import (AsConvSRConfig, AssembledConv2d, build_model,
                                initial_coefficients)
from tests.synthetic import rand
from tests.test_train import load_params, photos, run_train  # noqa: F401 (fixture)

TINY = dict(channels=8, num_kernels=4, reduction=4)


def test_fixed_schedule_holds_the_temperature():
    schedule = TemperatureSchedule.from_config(load_config())
    assert schedule.anneal_iters == 0
    assert [schedule.value_at(i) for i in (0, 10, 10 ** 6)] == [30.0, 30.0, 30.0]
    assert not schedule.changes_at(0)


def test_annealed_schedule_is_odconvs_linear_ramp_to_the_end_value():
    schedule = TemperatureSchedule(end=1.0, start=30.0, anneal_iters=100)
    assert schedule.value_at(0) == 30.0
    assert schedule.value_at(50) == pytest.approx(15.5)
    assert schedule.value_at(100) == 1.0 and schedule.value_at(500) == 1.0
    assert schedule.changes_at(0) and schedule.changes_at(100) and not schedule.changes_at(101)


def test_set_temperature_changes_the_output_and_a_checkpoint_keeps_it(tmp_path):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = build_model(AsConvSRConfig(**TINY, temperature=30.0))
    x = ms.Tensor(rand(1, 3, 16, 16))
    before = net(x).asnumpy()
    net.set_temperature(2.0)
    assert net.temperature() == 2.0
    assert np.abs(net(x).asnumpy() - before).max() > 1e-6
    path = str(tmp_path / "t.ckpt")
    ms.save_checkpoint(net, path)
    again = build_model(AsConvSRConfig(**TINY, temperature=30.0))
    load_model_weights(again, path)
    assert again.temperature() == 2.0
    np.testing.assert_allclose(again(x).asnumpy(), net(x).asnumpy(), atol=1e-6)


def test_checkpoint_without_temperature_loads_with_the_configs(tmp_path):
    """Checkpoints written before T was a Parameter (the shipped ones) still load."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = build_model(AsConvSRConfig(**TINY, temperature=5.0))
    entries = [{"name": p.name, "data": p} for p in net.get_parameters()
               if not p.name.endswith("control.temperature")]
    path = str(tmp_path / "old.ckpt")
    ms.save_checkpoint(entries, path)
    again = build_model(AsConvSRConfig(**TINY, temperature=5.0))
    load_model_weights(again, path)
    assert again.temperature() == 5.0
    x = ms.Tensor(rand(1, 3, 16, 16, seed=1))
    np.testing.assert_allclose(again(x).asnumpy(), net(x).asnumpy(), atol=1e-6)


@pytest.mark.parametrize("num_kernels", [32, 128, 512, 1350])
def test_assembled_kernel_starts_with_he_variance_at_any_e(num_kernels):
    """The basis is scaled by 1 / |c| so the initial mix sum_i c_i k_i has the He
    variance 2 / fan_in, whatever E (up to the reference's size)."""
    channels, k = 32, 3
    ms.set_seed(num_kernels)
    start = initial_coefficients(num_kernels, 0.9)
    conv = AssembledConv2d(channels, channels, num_kernels, k, "kernel_first", False, start)
    basis = conv.basis.asnumpy().reshape(num_kernels, -1)          # (E, Ci*k*k)
    rows = np.stack([np.roll(start, j) for j in range(channels)])  # row j: own candidate j
    kernels = rows @ basis                                          # (Co, Ci*k*k)
    he = 2.0 / (channels * k * k)
    assert kernels.var() == pytest.approx(he, rel=0.1)
    # each basis kernel has std He / |c|: larger than He, since a mix of E kernels with
    # weights c has variance |c|^2 var(k) and |c| < 1
    assert basis.std() == pytest.approx(math.sqrt(he / np.sum(start ** 2)), rel=0.05)


def test_training_anneals_and_the_checkpoint_holds_the_last_temperature(photos, tmp_path):
    out = tmp_path / "run"
    proc = run_train(photos, out, "--total_iters", "4", "--log_every", "2", "--val_every",
                     "4", "--ckpt_every", "2", "--temperature", "1", "--temperature_start",
                     "9", "--temperature_anneal_iters", "4")
    assert "T 7.00" in proc.stdout          # logged after step 2, which ran at 9 - 8 * 1/4
    params = load_params(str(out / "latest.ckpt"))
    temps = {v.item() for k, v in params.items() if k.endswith("control.temperature")}
    assert temps == {3.0}                   # the last step (0-based 3) ran at 9 - 8 * 3/4


def test_deploy_network_uses_the_temperature_the_checkpoint_holds():
    """A checkpoint taken while annealing runs at its own T in the export graph too."""
    from src.deploy.network import deploy_from_training
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = build_model(AsConvSRConfig(**TINY, temperature=30.0))
    net.set_temperature(0.5)
    net.set_train(False)
    x = ms.Tensor(rand(1, 3, 16, 16, seed=2))
    deployed = deploy_from_training(net, "full")
    np.testing.assert_allclose(deployed(x).asnumpy(), net(x).asnumpy(), atol=1e-5)
