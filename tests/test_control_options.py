"""Issue-17 options of the network: what the control module sees (control_pool), its
hidden-layer normalisation (control_norm) and the local-skip ablation (local_skip)."""
import mindspore as ms
import numpy as np
import pytest

from src.config import ConfigError
from src.deploy.network import DeployError, deploy_from_training
from src.model.asconvsr import AsConvSRConfig, ControlModule, build_model
from tests.synthetic import rand

TINY = dict(channels=8, num_kernels=4, reduction=4)


def test_mean_std_pool_is_the_channel_mean_and_standard_deviation():
    control = ControlModule(8, 3, 8, 4, 1.0, 4, 0.9, pool="mean_std")
    x = rand(2, 8, 5, 6)
    pooled = control.pool(ms.Tensor(x)).asnumpy()                    # (2, 16)
    np.testing.assert_allclose(pooled[:, :8], x.mean(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(pooled[:, 8:], np.sqrt(x.var(axis=(2, 3)) + 1e-6), rtol=1e-3)
    assert control.fc1.weight.shape == (2, 16)


def test_construct_is_coefficients_of_pool():
    control = ControlModule(8, 3, 8, 4, 1.0, 4, 0.9)
    control.set_train(False)
    x = ms.Tensor(rand(2, 8, 4, 4))
    np.testing.assert_allclose(control(x).asnumpy(),
                               control.coefficients(control.pool(x)).asnumpy(), rtol=1e-6)


def test_batch_norm_spreads_the_coefficients_over_the_batch_at_the_start():
    x = ms.Tensor(rand(8, 8, 6, 6) * 0.1 + 0.5)     # inputs that differ a little
    spreads = {}
    for norm in ("none", "batch"):
        control = ControlModule(8, 3, 8, 4, 1.0, 4, 0.9, norm=norm)
        control.set_train(True)
        coeff = control(x).asnumpy()                                 # (8, 3, 8, 4)
        spreads[norm] = np.abs(coeff - coeff.mean(axis=0)).sum(-1).mean()
        np.testing.assert_allclose(coeff.sum(-1), 1.0, rtol=1e-5)
    assert spreads["batch"] > 10 * spreads["none"]


def test_batch_norm_uses_its_moving_statistics_in_eval_mode():
    control = ControlModule(8, 3, 8, 4, 1.0, 4, 0.9, norm="batch")
    control.set_train(False)
    x = rand(4, 8, 4, 4)
    alone = control(ms.Tensor(x[:1])).asnumpy()
    together = control(ms.Tensor(x)).asnumpy()[:1]
    np.testing.assert_allclose(alone, together, rtol=1e-5)      # no batch dependence


def test_local_skip_adds_each_block_input_to_its_output():
    for block_type in ("assembled", "plain"):
        net = build_model(AsConvSRConfig(**TINY, block_type=block_type, local_skip=True))
        net.set_train(False)
        block = net.blocks[0]
        feat = ms.Tensor(rand(1, 8, 4, 4))
        block.local_skip = False
        without = block(feat).asnumpy()
        block.local_skip = True
        np.testing.assert_allclose(block(feat).asnumpy(), without + feat.asnumpy(), rtol=1e-5)


@pytest.mark.parametrize("key,value", [("control_pool", "max"), ("control_norm", "layer")])
def test_unknown_control_option_is_a_config_error(key, value):
    with pytest.raises(ConfigError, match=key):
        AsConvSRConfig(**{key: value})


@pytest.mark.parametrize("extra", [dict(control_pool="mean_std"), dict(control_norm="batch"),
                                   dict(local_skip=True)])
def test_options_export_whole_as_the_same_network(extra):
    net = build_model(AsConvSRConfig(**TINY, **extra))
    net.set_train(False)
    x = ms.Tensor(rand(1, 3, 8, 12))
    for shuffle in ("conv_transpose", "depth_to_space"):
        deployed = deploy_from_training(net, shuffle=shuffle)(x).asnumpy()
        assert np.abs(deployed - net(x).asnumpy()).max() < 1e-5


def test_std_pooling_has_no_tiled_form_one_line():
    net = build_model(AsConvSRConfig(**TINY, control_pool="mean_std"))
    for kind in ("tile", "stats"):
        with pytest.raises(DeployError, match="control_pool mean_std.*no tiled form"):
            deploy_from_training(net, kind)


def test_a_step_trains_the_batch_norm_control_in_graph_mode(graph_mode):
    from src.config import load_config
    from src.engine.train_step import build_train_step
    net = build_model(AsConvSRConfig(**TINY, control_pool="mean_std", control_norm="batch",
                                     temperature=1.0))
    train_step, _ = build_train_step(net, load_config(None, {"warmup_iters": 0}))
    norm = net.blocks[0].control.norm
    before = norm.moving_mean.asnumpy().copy(), net.blocks[0].control.fc1.weight.asnumpy().copy()
    loss = float(train_step(ms.Tensor(rand(2, 3, 8, 8)), ms.Tensor(rand(2, 3, 16, 16, seed=1))).asnumpy())
    assert np.isfinite(loss)
    assert not np.allclose(norm.moving_mean.asnumpy(), before[0])         # batch statistics kept
    assert not np.allclose(net.blocks[0].control.fc1.weight.asnumpy(), before[1])  # trained
