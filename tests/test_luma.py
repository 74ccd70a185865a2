"""colour luma: the network works on Y alone, Cb and Cr are bicubic's, RGB in and out; an
RGB checkpoint does not fit it, and train.py -> eval.py run it (tiny models). Its counts
are in tests/test_complexity.py, its fold in test_reparam.py, its exports in test_export.py."""
import json

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, ops

from research.channel_gains import from_ycbcr, to_ycbcr
from src.checkpoint import CheckpointError, load_model_weights
from src.metrics import rgb_to_y
from src.model.asconvsr import AsConvSRConfig, build_model
from src.model.complexity import count_params
from tests.synthetic import rand, randomised
from tests.test_eval import run_eval
from tests.test_model import nearest
from tests.test_train import photos, run_train  # noqa: F401  (photos: fixture)

TINY = dict(channels=8, num_kernels=4, colour="luma")


def planes(images):
    """(B, 3, H, W) RGB in [0, 1] -> (B, H, W, 3) Y, Cb, Cr in [0, 255], float64."""
    return to_ycbcr(images.transpose(0, 2, 3, 1) * 255.0)


def luma(images):
    """(B, 3, H, W) RGB in [0, 1] -> (B, H, W) Y in [0, 255], src.metrics' own."""
    return np.stack([rgb_to_y(image.transpose(1, 2, 0) * 255.0) for image in images])


def bicubic_matrix(size, scale, a=-0.5):
    """(scale * size, size): upscaling along one axis by Keys' cubic (align_corners False,
    edge pixels repeated), written from the formula, not from the model's phase kernels."""
    def cubic(t):
        t = abs(t)
        return ((a + 2) * t ** 3 - (a + 3) * t ** 2 + 1 if t <= 1
                else a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0)
    matrix = np.zeros((scale * size, size))
    for out in range(scale * size):
        source = (out + 0.5) / scale - 0.5
        for tap in range(int(np.floor(source)) - 1, int(np.floor(source)) + 3):
            matrix[out, min(max(tap, 0), size - 1)] += cubic(source - tap)
    return matrix


@pytest.mark.parametrize("variant", [dict(scale=2), dict(scale=3, unshuffle=1)])
def test_a_zero_last_conv_gives_nearest_y_and_bicubic_colour(variant):
    net = build_model(AsConvSRConfig(**TINY, **variant))
    net.conv_last.weight.set_data(ops.zeros_like(net.conv_last.weight))
    scale, x = variant["scale"], rand(2, 3, 6, 8)
    out = net(Tensor(x)).asnumpy()                                     # (2, 3, 6s, 8s)
    assert out.shape == (2, 3, 6 * scale, 8 * scale)
    np.testing.assert_allclose(luma(out), nearest(luma(x)[:, None], scale)[:, 0], atol=1e-3)
    rows, cols = bicubic_matrix(6, scale), bicubic_matrix(8, scale)
    chroma = np.einsum("yi,bijc,xj->byxc", rows, planes(x)[..., 1:], cols)
    np.testing.assert_allclose(planes(out)[..., 1:], chroma, atol=1e-3)


def test_the_output_luma_does_not_see_the_input_colour():
    net = randomised(build_model(AsConvSRConfig(**TINY)))
    x = rand(2, 3, 8, 10)
    recoloured = planes(x)
    recoloured[..., 1:] = 128 + 40 * (rand(2, 8, 10, 2, seed=1) - 0.5)   # other Cb, Cr
    y = (from_ycbcr(recoloured) / 255.0).transpose(0, 3, 1, 2).astype(np.float32)
    np.testing.assert_allclose(luma(y), luma(x), atol=1e-3)            # the same Y ...
    out, out_recoloured = net(Tensor(x)).asnumpy(), net(Tensor(y)).asnumpy()
    np.testing.assert_allclose(luma(out_recoloured), luma(out), atol=1e-3)
    assert np.abs(out_recoloured - out).max() > 0.05                    # ... another colour


def test_an_rgb_checkpoint_does_not_fit_a_luma_network_and_back(tmp_path):
    rgb = randomised(build_model(AsConvSRConfig(**{**TINY, "colour": "rgb"})))
    ms.save_checkpoint(rgb, str(tmp_path / "rgb.ckpt"))
    with pytest.raises(CheckpointError) as err:
        load_model_weights(build_model(AsConvSRConfig(**TINY)), str(tmp_path / "rgb.ckpt"))
    assert "\n" not in str(err.value)
    assert "shape mismatch" in str(err.value)
    assert "conv_first.weight: checkpoint (8, 12, 3, 3) vs model (8, 4, 3, 3)" in str(err.value)
    # a luma checkpoint holds the trained parameters only (the colour matrices are
    # constants): the same names as an RGB one, and it loads into a luma network
    net = randomised(build_model(AsConvSRConfig(**TINY)), seed=2)
    ms.save_checkpoint(net, str(tmp_path / "luma.ckpt"))
    assert sorted(ms.load_checkpoint(str(tmp_path / "luma.ckpt"))) == sorted(
        rgb.parameters_dict())
    again = build_model(AsConvSRConfig(**TINY))
    load_model_weights(again, str(tmp_path / "luma.ckpt"))
    again.set_train(False)
    x = Tensor(rand(1, 3, 8, 8))
    np.testing.assert_array_equal(again(x).asnumpy(), net(x).asnumpy())


def test_train_in_graph_mode_then_eval(photos, tmp_path):   # noqa: F811  (fixture)
    out = tmp_path / "run"
    run_train(photos, out, "--mode", "graph", "--colour", "luma", "--total_iters", "2",
              "--val_every", "2", "--log_every", "1")
    assert (out / "best.ckpt").is_file()
    trained = json.loads((out / "history.json").read_text())["val"][-1]
    report = tmp_path / "eval.json"
    proc = run_eval("--model", str(out / "best.ckpt"), "--data_dir", photos[1],
                    "--json", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluated = json.loads(report.read_text())
    assert evaluated["mean"]["psnr_y"] == pytest.approx(trained["psnr_y"], abs=1e-3)
    assert evaluated["params"] == count_params(AsConvSRConfig(**TINY))
