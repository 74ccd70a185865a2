"""Mixed precision on CPU (src/engine/amp.py): which cells O2 casts, a float32 loss, the
loss-scale update on an overflow, the config keys, and --fp16 refused on CPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

from src.config import ConfigError, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"channels": 8, "num_kernels": 4}


def tiny_net(**overrides):
    import mindspore as ms
    from src.model.asconvsr import build_model
    ms.set_seed(0)
    return build_model(load_config(overrides={**TINY, **overrides}))


def batch(seed=0, size=16, scale=2):
    import mindspore as ms
    rng = np.random.default_rng(seed)
    return (ms.Tensor(rng.random((2, 3, size, size), dtype=np.float32)),
            ms.Tensor(rng.random((2, 3, scale * size, scale * size), dtype=np.float32)))


def test_o2_casts_every_layer_but_batchnorm_and_keeps_float32_weights():
    from mindspore import nn
    from src.engine.amp import mixed_precision
    net = tiny_net(control_norm="batch")
    names_before = [p.name for p in net.get_parameters()]
    converted = mixed_precision(net, "O2")
    cells = dict(net.cells_and_names())
    layers = {name: cell for name, cell in cells.items() if isinstance(cell, (nn.Conv2d, nn.Dense))}
    assert layers and all(cell.get_flags().get("fp16") for cell in layers.values()), layers
    norms = [cell for cell in cells.values() if isinstance(cell, nn.BatchNorm1d)]
    assert norms and all(cell.get_flags().get("fp32") for cell in norms)
    # weights stay float32 masters under their old names (checkpoints keep loading)
    assert [p.name for p in converted.get_parameters()] == names_before
    assert {str(p.dtype) for p in converted.get_parameters()} == {"Float32"}


@pytest.mark.parametrize("level", ["O1", "O2"])
def test_mixed_precision_output_and_loss_are_float32_and_fp16_rounded(level):
    import mindspore as ms
    from mindspore import nn
    from src.engine.amp import mixed_precision
    from src.engine.train_step import CharbonnierLoss
    lr, hr = batch()
    reference = tiny_net()(lr).asnumpy()
    converted = mixed_precision(tiny_net(), level)
    out = converted(lr)
    assert out.dtype == ms.float32
    # the arithmetic really ran in float16: off by float16 rounding, not by float32's
    error = np.abs(out.asnumpy() - reference).max()
    assert 1e-6 < error < 1e-2, error
    loss = nn.WithLossCell(converted, CharbonnierLoss(1e-3))(lr, hr)
    assert loss.dtype == ms.float32


def loss_scaled_step(loss_scale):
    from mindspore import nn
    from src.engine.amp import LossScaledTrainStep, loss_scale_cell, mixed_precision
    from src.engine.train_step import CharbonnierLoss
    net = tiny_net()
    loss_net = nn.WithLossCell(mixed_precision(net, "O2"), CharbonnierLoss(1e-3))
    optimizer = nn.Adam(net.trainable_params(), learning_rate=1e-3)
    step = LossScaledTrainStep(loss_net, optimizer, loss_scale_cell(loss_scale))
    step.set_train()
    return net, step


def weights(net):
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


@pytest.mark.parametrize("loss_scale, scale_after", [("dynamic", 2.0 ** 15), ("1024", 1024.0)])
def test_an_overflow_skips_the_update_and_dynamic_scaling_halves_the_scale(loss_scale,
                                                                           scale_after):
    from src.engine.train_step import current_loss_scale, step_result
    net, step = loss_scaled_step(loss_scale)
    lr, hr = batch()
    loss, skipped = step_result(step(lr, hr))            # a normal step updates
    assert np.isfinite(loss) and not skipped
    before = weights(net)
    assert any(not np.array_equal(before[name], value) for name, value in
               weights(tiny_net()).items())
    scale_before = current_loss_scale(step)
    overflowing = np.full((2, 3, 16, 16), 1e30, np.float32)    # inf in float16
    import mindspore as ms
    loss, skipped = step_result(step(ms.Tensor(overflowing), hr))
    assert skipped
    after = weights(net)
    assert all(np.array_equal(before[name], after[name]) for name in before)
    assert scale_before == (2.0 ** 16 if loss_scale == "dynamic" else 1024.0)
    assert current_loss_scale(step) == scale_after
    _, skipped = step_result(step(lr, hr))               # and training goes on
    assert not skipped
    assert any(not np.array_equal(after[name], value) for name, value in weights(net).items())


def test_o0_keeps_the_plain_train_step():
    from mindspore import nn
    from src.engine.train_step import build_train_step, current_loss_scale, step_result
    cfg = load_config(overrides=TINY)
    step, _ = build_train_step(tiny_net(), cfg)
    assert type(step) is nn.TrainOneStepCell and current_loss_scale(step) is None
    loss, skipped = step_result(step(*batch()))
    assert np.isfinite(loss) and not skipped


def test_build_train_step_at_o2_uses_the_configured_loss_scale():
    from src.engine.amp import LossScaledTrainStep
    from src.engine.train_step import build_train_step, current_loss_scale
    cfg = load_config(overrides={**TINY, "amp_level": "O2", "loss_scale": "256"})
    step, _ = build_train_step(tiny_net(), cfg)
    assert isinstance(step, LossScaledTrainStep) and current_loss_scale(step) == 256.0


@pytest.mark.parametrize("value", ["0", "-8", "big", "inf"])
def test_a_bad_loss_scale_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match="'loss_scale' must be dynamic or a number > 0"):
        load_config(overrides={"loss_scale": value})


def test_a_yaml_number_is_a_fixed_loss_scale(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("amp_level: O2\nloss_scale: 1024\n")
    assert load_config(str(path)).loss_scale == "1024"
    with pytest.raises(ConfigError, match="'amp_level' must be one of"):
        load_config(overrides={"amp_level": "O3"})


def run_entry(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("command", [
    ["eval.py", "--model", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "--data_dir", "{photos}",
     "--fp16"],
    ["infer.py", "--model", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "--input",
     "{photos}", "--output", "{out}", "--fp16"],
    ["benchmark.py", "--small", "--fp16"],
])
def test_fp16_is_refused_on_cpu_with_one_line(tmp_path, command):
    from tests.test_train import write_images
    photos, out = write_images(str(tmp_path / "photos"), 1, 32, seed=3), tmp_path / "out"
    proc = run_entry(*[arg.format(photos=photos, out=out) for arg in command])
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--fp16" in lines[0] and "CPU" in lines[0], proc.stderr
    assert not out.exists()


def test_training_at_o2_logs_the_loss_scale_and_resumes_it(tmp_path):
    """train.py at O2 (which runs on CPU too): the log names the loss scale and the data
    rate, and latest.ckpt carries the loss-scale state for --resume."""
    from tests.test_train import load_params, run_train, write_images
    photos = (write_images(str(tmp_path / "train"), 3, 64, seed=1),
              write_images(str(tmp_path / "val"), 1, 32, seed=2))
    out = tmp_path / "run"
    run_train(photos, out, "--amp_level", "O2", "--total_iters", "3", "--log_every", "3",
              "--val_every", "3", "--num_workers", "0")
    log = (out / "train.log").read_text()
    assert "loss scale 65536, 0 skipped" in log, log
    assert "samples/s/rank, wait" in log, log
    params = load_params(str(out / "latest.ckpt"))
    assert float(params["scale_sense"]) == 2.0 ** 16
    run_train(photos, out, "--amp_level", "O2", "--total_iters", "4", "--log_every", "1",
              "--val_every", "0", "--resume", str(out / "latest.ckpt"))
    assert "iter 4/4" in (out / "train.log").read_text()
