"""research/channel_gains.py: MATLAB's YCbCr, chroma-only errors seen only in Cb/Cr, grey
images left out of the colour means, and its RGB and Y columns equal to eval.py's."""
import json
import os
import subprocess
import sys

import mindspore as ms
import numpy as np

from research.channel_gains import channel_psnrs, from_ycbcr, mean_psnrs, to_ycbcr
from src.config import save_config
from src.metrics import rgb_to_y
from tests.test_eval import structured_rgb, tiny_net, write_png

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ycbcr_is_matlabs_rgb2ycbcr_and_its_y_the_metrics_y():
    pure = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    # MATLAB: rgb2ycbcr(uint8 pure colours) before rounding, x 255 scale
    expected = [[81.481, 90.203, 240.0], [144.553, 53.797, 34.214],
                [40.966, 240.0, 109.786], [235.0, 128.0, 128.0]]
    np.testing.assert_allclose(to_ycbcr(pure)[0], expected, atol=1e-9)
    rgb = structured_rgb(20, 24, seed=1)
    np.testing.assert_allclose(to_ycbcr(rgb)[..., 0], rgb_to_y(rgb), atol=1e-9)
    np.testing.assert_allclose(from_ycbcr(to_ycbcr(rgb)), rgb, atol=1e-9)


def test_an_error_in_colour_alone_shows_in_cb_and_not_in_y():
    hr = structured_rgb(24, 24, seed=2)
    ycc = to_ycbcr(hr)
    ycc[..., 1] += 3.0                                           # Cb off by 3 levels
    sr = from_ycbcr(ycc)                                         # back to (float) RGB
    values = channel_psnrs(sr, hr, border=0)
    assert values["Y"] > 100 and values["Cr"] > 100              # float rounding only
    np.testing.assert_allclose(values["Cb"], 10 * np.log10(255 ** 2 / 9.0), atol=1e-6)
    assert values["RGB"] < 60


def test_with_exact_colour_psnr_rgb_is_psnr_y_less_1_322_db():
    """The identity the docstring and docs/recipe.md use to read colour error off a row."""
    hr = structured_rgb(24, 24, seed=5)
    noisy = np.clip(hr.astype(int) + np.random.default_rng(0).integers(-4, 5, hr.shape), 0, 255)
    ycc = to_ycbcr(hr)
    ycc[..., 0] = to_ycbcr(noisy)[..., 0]                        # noisy luma, the HR's colour
    values = channel_psnrs(from_ycbcr(ycc), hr, border=0)
    np.testing.assert_allclose(values["RGB"], values["Y"] - 20 * np.log10(255 / 219), atol=1e-9)


def test_grey_images_count_for_rgb_and_y_only():
    grey = np.repeat(structured_rgb(16, 16, seed=3)[..., :1], 3, axis=2)
    colour = structured_rgb(16, 16, seed=4)
    rows = [channel_psnrs(np.clip(img.astype(int) + 2, 0, 255), img, 0) for img in (grey, colour)]
    assert rows[0]["Cb"] is None and rows[0]["Cr"] is None and rows[0]["Y"] is not None
    means = mean_psnrs(rows)
    assert means["Cb"] == rows[1]["Cb"]
    assert means["RGB"] == np.mean([row["RGB"] for row in rows])


def test_rgb_and_y_columns_are_eval_pys_under_the_challenge_protocol(tmp_path):
    data = tmp_path / "set"
    data.mkdir()
    for index in range(2):
        write_png(str(data / f"im{index}.png"), structured_rgb(40, 48, seed=10 + index))
    cfg, net = tiny_net(seed=3)
    save_config(cfg, str(tmp_path / "config.yaml"))
    ms.save_checkpoint(net, str(tmp_path / "model.ckpt"))
    env = dict(os.environ, PYTHONPATH=ROOT)
    probe = subprocess.run([sys.executable, "research/channel_gains.py", "--models",
                            str(tmp_path / "model.ckpt"), "--data_dirs", str(data)],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert probe.returncode == 0, probe.stderr
    report = tmp_path / "eval.json"
    evaluated = subprocess.run([sys.executable, "eval.py", "--model", str(tmp_path / "model.ckpt"),
                                "--data_dir", str(data), "--protocol", "challenge",
                                "--runtime_ms", "1", "--json", str(report)],
                               capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    mean = json.loads(report.read_text())["mean"]
    rows = [line for line in probe.stdout.splitlines() if line.startswith("| ")]
    bicubic = [cell.strip() for cell in rows[-2].strip("|").split("|")]
    model = [cell.strip().split()[0] for cell in rows[-1].strip("|").split("|")[2:]]
    assert bicubic[2:4] == [f"{mean['bicubic_psnr_rgb']:.3f}", f"{mean['bicubic_psnr_y']:.3f}"]
    assert model[:2] == [f"{mean['psnr_rgb']:.3f}", f"{mean['psnr_y']:.3f}"]
