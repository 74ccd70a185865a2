"""The dead-ReLU census: counts what it claims, and a dead last layer means the output
is exactly the nearest-neighbour residual."""
import numpy as np
from mindspore import Tensor

from src.model.asconvsr import AsConvSRConfig, build_model
from research.census import centre_crops, relu_census, relu_outputs
from tests.test_model import TINY, nearest, rand, run


def test_fresh_network_has_no_dead_layer():
    net = build_model(AsConvSRConfig(**TINY))
    rows = relu_census(net, Tensor(rand(2, 3, 12, 12)))
    assert [r["name"] for r in rows] == ["conv_first", "blocks.0.convs.0", "blocks.0.convs.1",
                                         "blocks.0.convs.2"]
    for row in rows:
        assert row["channels"] == 8 and row["dead"] < 8 and 0.05 < row["positive"] < 0.95, row


def test_a_negative_last_block_conv_is_counted_dead_and_gives_nearest_upscaling():
    """Non-negative coefficients mixing non-positive kernels over non-negative (ReLU)
    inputs give a pre-activation <= 0 everywhere: every channel of that layer is dead."""
    net = build_model(AsConvSRConfig(**TINY))
    last = net.blocks[0].convs[2]
    last.basis.set_data(Tensor(-np.abs(last.basis.asnumpy())))
    x = rand(2, 3, 12, 12)
    rows = relu_census(net, Tensor(x))
    assert rows[-1]["dead"] == 8 and rows[-1]["positive"] == 0.0
    assert rows[0]["dead"] < 8
    np.testing.assert_allclose(run(net, x), nearest(x, 2), atol=1e-6)


def test_centre_crops_round_to_the_unshuffle_factor_and_skip_small_images():
    big = np.zeros((30, 40, 3), np.uint8)
    small = np.zeros((10, 10, 3), np.uint8)
    crops = centre_crops([big, small, big], 25, 4)
    assert crops.shape == (2, 3, 24, 24) and crops.dtype == np.float32
    assert centre_crops([small], 25, 4) is None


def test_census_sees_the_activations_of_the_real_forward():
    """relu_outputs re-walks the network outside construct; forward hooks on the ReLU
    cells record what construct itself computes, and the two must agree."""
    net = build_model(AsConvSRConfig(**TINY))
    x = Tensor(rand(2, 3, 12, 12))
    seen = []
    hooks = [relu.register_forward_hook(lambda cell, inputs, output: seen.append(output.asnumpy()))
             for relu in (net.relu, net.blocks[0].relu)]
    net(x)
    for hook in hooks:
        hook.remove()
    walked = [out.asnumpy() for _, out in relu_outputs(net, x)]
    assert len(seen) == len(walked) == 4
    for forward, census in zip(seen, walked):
        np.testing.assert_array_equal(forward, census)
