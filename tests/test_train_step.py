"""The training step's pieces: the learning-rate schedules (step, multistep, cosine; warm-up),
the Charbonnier loss and the pooled mean, against their plain formulas."""
import numpy as np
import pytest


SCHEDULES = {
    "step": dict(kind="step", decay_step=3000, gamma=0.5),
    "multistep": dict(kind="multistep", milestones=(2500, 4000), gamma=0.5),
    "cosine": dict(kind="cosine", total=5000, lr_min=1e-7),
}


@pytest.mark.parametrize("warmup", [0, 1000])
@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_schedule_in_graph_equals_the_logged_value(kind, warmup):
    import mindspore as ms
    from src.engine.train_step import LearningRate
    schedule = LearningRate(5e-4, warmup=warmup, **SCHEDULES[kind])
    for step in [0, 1, 499, 998, 999, 1000, 2499, 2500, 2999, 3000, 4000, 4999, 5000, 6001]:
        in_graph = float(schedule(ms.Tensor(step, ms.int32)).asnumpy())
        assert np.isclose(in_graph, schedule.value_at(step), rtol=1e-5, atol=1e-12), step


def test_warmup_ramps_linearly_then_decays_in_steps():
    from src.engine.train_step import LearningRate
    schedule = LearningRate(5e-4, warmup=1000, **SCHEDULES["step"])
    assert np.isclose(schedule.value_at(0), 5e-7)             # first step: lr / warmup
    assert np.isclose(schedule.value_at(499), 2.5e-4)         # halfway up
    assert np.isclose(schedule.value_at(999), 5e-4)           # full lr from step 1000 on
    assert np.isclose(schedule.value_at(2999), 5e-4)
    assert np.isclose(schedule.value_at(3000), 2.5e-4)        # then halved every 3000
    no_warmup = LearningRate(5e-4, warmup=0, **SCHEDULES["step"])
    assert no_warmup.value_at(0) == 5e-4


def test_multistep_multiplies_by_gamma_at_each_milestone():
    from src.engine.train_step import LearningRate
    schedule = LearningRate(1e-3, warmup=0, **SCHEDULES["multistep"])
    assert [schedule.value_at(t) for t in (0, 2499, 2500, 3999, 4000, 9999)] == \
        pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


def test_cosine_runs_from_lr_to_lr_min_over_total_iters():
    from src.engine.train_step import LearningRate
    schedule = LearningRate(2e-3, warmup=0, **SCHEDULES["cosine"])
    assert schedule.value_at(0) == pytest.approx(2e-3)
    assert schedule.value_at(2500) == pytest.approx((2e-3 + 1e-7) / 2)     # halfway: the mean
    assert schedule.value_at(1250) == pytest.approx(1e-7 + (2e-3 - 1e-7) * (1 + 0.5 ** 0.5) / 2)
    assert schedule.value_at(5000) == pytest.approx(1e-7)                   # the end: lr_min
    assert schedule.value_at(7000) == pytest.approx(1e-7)                   # and held after it
    warm = LearningRate(2e-3, warmup=1000, **SCHEDULES["cosine"])
    assert warm.value_at(499) == pytest.approx(0.5 * schedule.value_at(499))


def test_schedule_keys_come_from_the_config():
    from src.config import load_config
    from src.engine.train_step import LearningRate
    cfg = load_config(overrides={"lr_schedule": "cosine", "lr": 1e-3, "lr_min": 1e-6,
                                 "total_iters": 100, "warmup_iters": 0})
    schedule = LearningRate.from_config(cfg)
    assert (schedule.value_at(0), schedule.value_at(100)) == pytest.approx((1e-3, 1e-6))
    cfg = load_config(overrides={"lr_schedule": "multistep", "lr_milestones": [10, 20],
                                 "warmup_iters": 0})
    assert LearningRate.from_config(cfg).value_at(20) == pytest.approx(cfg.lr * 0.25)


def _value_and_input_grad(cell, x):
    import mindspore as ms
    value, grad = ms.value_and_grad(cell)(ms.Tensor(x))
    return float(value.asnumpy()), grad.asnumpy()


def _charbonnier_of(hr):
    """A Cell sr -> Charbonnier(sr, hr) (Cells, not lambdas, so graph mode can run it)."""
    import mindspore as ms
    from mindspore import nn
    from src.engine.train_step import CharbonnierLoss

    class LossAgainstHr(nn.Cell):
        def __init__(self):
            super().__init__()
            self.loss, self.hr = CharbonnierLoss(eps=1e-3), ms.Tensor(hr)

        def construct(self, sr):
            return self.loss(sr, self.hr)
    return LossAgainstHr()


@pytest.mark.parametrize("use_graph", [False, True])
def test_charbonnier_row_means_equal_the_mean_over_every_pixel(use_graph, request):
    """The loss takes per-sample row means (fast on CPU); value and gradient must be the
    plain mean's: mean(sqrt(d^2 + eps^2)) and d / sqrt(d^2 + eps^2) / N."""
    if use_graph:
        request.getfixturevalue("graph_mode")
    rng = np.random.default_rng(3)
    sr, hr = (rng.random((2, 3, 10, 14), dtype=np.float32) for _ in range(2))
    value, grad = _value_and_input_grad(_charbonnier_of(hr), sr)
    diff = sr.astype(np.float64) - hr
    per_pixel = np.sqrt(diff ** 2 + 1e-6)
    assert value == pytest.approx(per_pixel.mean(), rel=1e-6)
    np.testing.assert_allclose(grad, diff / per_pixel / diff.size, rtol=1e-4, atol=1e-9)


def test_spatial_mean_equals_the_mean_over_height_and_width():
    import mindspore as ms
    from mindspore import nn
    from src.model.asconvsr import spatial_mean
    x = np.random.default_rng(4).random((3, 5, 7, 9), dtype=np.float32)
    np.testing.assert_allclose(spatial_mean(ms.Tensor(x)).asnumpy(), x.mean(axis=(2, 3)),
                               rtol=1e-6)
    weights = np.random.default_rng(5).random((3, 5), dtype=np.float32)

    class WeightedPool(nn.Cell):
        def construct(self, t):
            return (spatial_mean(t) * ms.Tensor(weights)).sum()
    _, grad = _value_and_input_grad(WeightedPool(), x)
    np.testing.assert_allclose(grad, np.broadcast_to(weights[:, :, None, None] / 63, x.shape),
                               rtol=1e-6)


def test_mse_loss_is_the_mean_squared_error_and_the_loss_key_picks_it():
    import mindspore as ms
    from src.config import load_config
    from src.engine.train_step import CharbonnierLoss, MSELoss, make_loss
    rng = np.random.default_rng(6)
    sr, hr = (rng.random((2, 3, 6, 10), dtype=np.float32) for _ in range(2))
    value = float(MSELoss()(ms.Tensor(sr), ms.Tensor(hr)).asnumpy())
    assert value == pytest.approx(np.mean((sr.astype(np.float64) - hr) ** 2), rel=1e-6)
    assert isinstance(make_loss(load_config(None, {"loss": "mse"})), MSELoss)
    assert isinstance(make_loss(load_config(None)), CharbonnierLoss)
    from src.engine.train_step import build_train_step
    from src.model.asconvsr import AsConvSRConfig, build_model
    net = build_model(AsConvSRConfig(channels=8, num_kernels=4))
    train_step, _ = build_train_step(net, load_config(None, {"loss": "mse"}))
    assert isinstance(train_step.network._loss_fn, MSELoss)     # nn.WithLossCell's loss


def test_multistep_without_milestones_is_refused_naming_the_key():
    from src.config import ConfigError, load_config
    from src.engine.train_step import LearningRate
    with pytest.raises(ConfigError, match="lr_milestones"):
        LearningRate.from_config(load_config(overrides={"lr_schedule": "multistep"}))
    with pytest.raises(ConfigError, match="lr_milestones"):
        load_config(overrides={"lr_milestones": [300, 200]})        # not increasing
    with pytest.raises(ConfigError, match="lr_min"):
        LearningRate.from_config(load_config(overrides={"lr_schedule": "cosine", "lr": 1e-4,
                                                        "lr_min": 1e-3}))
