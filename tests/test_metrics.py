"""Metric functions: hand-computed PSNR, Y of known colours, SSIM == an independent
MATLAB/BasicSR-style implementation, NTIRE score values, and the refusals."""
import math

import cv2
import numpy as np
import pytest

from src.metrics import (MetricError, crop_border, image_metrics, ntire_score, psnr, rgb_to_y,
                         ssim)


def reference_ssim_channel(img1, img2):
    """SSIM of one channel as MATLAB ssim_index / BasicSR calculate_ssim compute it:
    cv2.filter2D with an 11x11 Gaussian (sigma 1.5), keep only the valid region."""
    img1, img2 = img1.astype(np.float64), img2.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())

    def valid(img):
        return cv2.filter2D(img, -1, window)[5:-5, 5:-5]

    mu1, mu2 = valid(img1), valid(img2)
    sigma1_sq = valid(img1 ** 2) - mu1 ** 2
    sigma2_sq = valid(img2 ** 2) - mu2 ** 2
    sigma12 = valid(img1 * img2) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / \
        ((mu1 ** 2 + mu2 ** 2 + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


def reference_ssim(img1, img2):
    if img1.ndim == 2:
        return reference_ssim_channel(img1, img2)
    return np.mean([reference_ssim_channel(img1[..., c], img2[..., c]) for c in range(3)])


def noisy_pair(shape, seed=0, noise=12.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = 128 + 60 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    if len(shape) == 3:
        base = base[..., None] + np.array([0.0, 20.0, -25.0])
    hr = np.clip(base + rng.normal(0, 10, shape), 0, 255).round().astype(np.uint8)
    sr = np.clip(hr + rng.normal(0, noise, shape), 0, 255).round().astype(np.uint8)
    return sr, hr


def test_psnr_matches_hand_computation():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[1, 2] = 10                                   # MSE = 100 / 16
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 6.25), abs=1e-12)
    # with border 1 only the 2x2 centre counts: MSE = 100 / 4
    assert psnr(a, b, border=1) == pytest.approx(10 * math.log10(255 ** 2 / 25.0), abs=1e-12)
    assert isinstance(psnr(a, b), float)


def test_psnr_is_inf_for_identical_images():
    img = np.random.default_rng(1).integers(0, 256, (19, 17, 3), dtype=np.uint8)
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_psnr_uint8_does_not_wrap_around():
    a = np.full((3, 3), 0, np.uint8)
    b = np.full((3, 3), 255, np.uint8)
    assert psnr(a, b) == pytest.approx(0.0)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(MetricError, match=r"\(8, 8, 3\).*\(8, 6, 3\)"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 6, 3)))
    with pytest.raises(MetricError, match=r"\(20, 20\).*\(20, 21\)"):
        ssim(np.zeros((20, 20)), np.zeros((20, 21)))


def test_crop_too_large_names_crop_and_size():
    img = np.zeros((6, 10))
    with pytest.raises(MetricError, match=r"crop_border 3 .*6x10"):
        crop_border(img, 3)
    with pytest.raises(MetricError, match=r"crop_border 5 .*6x10"):
        psnr(img, img, border=5)
    assert crop_border(img, 2).shape == (2, 6)
    assert crop_border(img, 0) is img


def test_y_of_known_colours():
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]],
                       np.uint8)
    y = rgb_to_y(colours)
    assert y.dtype == np.float64 and y.shape == (1, 5)
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966],
                               atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(colours.astype(np.float32)), y, atol=1e-4)
    with pytest.raises(MetricError, match="RGB"):
        rgb_to_y(np.zeros((4, 4)))


def test_the_sampler_texture_luma_is_the_metric_luma_at_full_range():
    """One BT.601 formula: the training sampler's luma (0-255) maps onto the metrics' Y
    (16-235) by Y = 16 + 219/255 * luma."""
    from src.data.dataset import lr_grid_luma
    rgb = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb), 16 + 219 / 255 * lr_grid_luma(rgb, 1), atol=1e-3)


@pytest.mark.parametrize("shape,border", [((40, 33), 0), ((40, 33), 2), ((37, 45, 3), 0),
                                          ((37, 45, 3), 3), ((11, 11), 0)])
def test_ssim_equals_matlab_style_valid_region_reference(shape, border):
    sr, hr = noisy_pair(shape, seed=sum(shape))
    expected = reference_ssim(crop_border(sr, border), crop_border(hr, border))
    assert abs(ssim(sr, hr, border) - expected) < 1e-6
    assert 0.2 < expected < 0.99      # a non-trivial value, so the check means something


def test_ssim_on_float_y_equals_reference():
    sr, hr = noisy_pair((30, 26, 3), seed=5)
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    assert abs(ssim(sr_y, hr_y, 2) - reference_ssim(sr_y[2:-2, 2:-2], hr_y[2:-2, 2:-2])) < 1e-6


def test_ssim_refuses_images_smaller_than_the_window():
    with pytest.raises(MetricError, match="11x11"):
        ssim(np.zeros((14, 20)), np.zeros((14, 20)), border=2)


def test_image_metrics_keys_and_values():
    sr, hr = noisy_pair((24, 28, 3), seed=3)
    got = image_metrics(sr, hr, 2)
    assert set(got) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}
    assert got["psnr_rgb"] == psnr(sr, hr, 2)
    assert got["psnr_y"] == psnr(rgb_to_y(sr), rgb_to_y(hr), 2)
    assert got["ssim_y"] == ssim(rgb_to_y(sr), rgb_to_y(hr), 2)


def test_ntire_score_formula_and_zero_case():
    # 2 * 2^1 / (0.1 * sqrt(100)) = 4 / 1
    assert ntire_score(31.0, 30.0, 100.0) == pytest.approx(4.0)
    # 2 * 2^2 / (0.1 * sqrt(25)) = 8 / 0.5
    assert ntire_score(32.5, 30.5, 25.0) == pytest.approx(16.0)
    assert ntire_score(30.25, 30.0, 4.0) == pytest.approx(2 * 2 ** 0.25 / 0.2)
    assert ntire_score(30.0, 30.0, 10.0) == 0.0
    assert ntire_score(29.0, 30.0, 10.0) == 0.0
    with pytest.raises(ValueError, match="runtime_ms"):
        ntire_score(31.0, 30.0, 0.0)
