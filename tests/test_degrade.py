"""Training degradations (src/data/degrade.py): the NTIRE 2023 kit's LR, and mixed
per-patch degradations that stay a pure function of (seed, sample index)."""
import numpy as np
import pytest
from PIL import Image

from src.config import ConfigError, load_config
from src.data.dataset import PatchSampler, build_batch_maker
from src.data.degrade import Degradation, challenge_lr, jpeg_round_trip
from src.data.imresize import imresize_uint8
from tests.synthetic import structured_images


def photo(size=48, seed=0):
    """A structured uint8 RGB image (H x W x 3)."""
    return np.ascontiguousarray(
        (structured_images(1, size, seed)[0].transpose(1, 2, 0) * 255).round().astype(np.uint8))


def test_challenge_lr_is_pillow_bicubic_then_a_quality_90_jpeg_file(tmp_path):
    hr = photo(64)[:, :60]                     # 64 x 60: the kit's W // s, H // s
    path = tmp_path / "lr.jpg"
    Image.fromarray(hr).resize((30, 32), Image.BICUBIC).save(path, quality=90)
    expected = np.asarray(Image.open(path).convert("RGB"))
    got = challenge_lr(hr, 2)
    assert got.shape == (32, 30, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    # and it is not the clean MATLAB-bicubic LR
    assert np.abs(got.astype(int) - imresize_uint8(hr, 0.5).astype(int)).max() > 0


def mixed(**ranges):
    cfg = load_config(overrides={"degradation": "mixed", **ranges})
    return Degradation.from_config(cfg)


def samples(degradation, seed, count=6, augment=True):
    images = [photo(64, 0), photo(48, 1)]
    sampler = PatchSampler(images, None, 2, 16, seed=seed, augment=augment,
                           degradation=degradation)
    return [sampler(k) for k in range(count)]


def test_mixed_patches_are_reproducible_from_the_seed_and_differ_across_seeds():
    degradation = mixed(mixed_jpeg_quality=[20, 60], mixed_blur_sigma=[0.0, 1.5],
                        mixed_noise_sigma=[0.0, 5.0])
    first, again, other = (samples(degradation, 3), samples(degradation, 3),
                           samples(degradation, 4))
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first, again):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_mixed_changes_only_the_lr_and_keeps_crops_and_hr():
    clean = samples(Degradation(), 5, augment=False)
    degraded = samples(mixed(mixed_jpeg_quality=[10, 10]), 5, augment=False)
    for (lr_c, hr_c), (lr_d, hr_d) in zip(clean, degraded):
        np.testing.assert_array_equal(hr_c, hr_d)           # same crop, same flips
        assert lr_c.shape == lr_d.shape and lr_d.dtype == np.uint8
        assert np.abs(lr_c.astype(int) - lr_d.astype(int)).mean() > 0.5   # quality 10 shows
        # exactly the clean patch's JPEG round trip: the same crop, then compressed
        np.testing.assert_array_equal(lr_d, jpeg_round_trip(np.ascontiguousarray(lr_c), 10))


def test_bicubic_default_keeps_the_sample_stream_of_a_sampler_without_degradation():
    images = [photo(64, 0)]
    plain = PatchSampler(images, None, 2, 16, seed=1)
    explicit = PatchSampler(images, None, 2, 16, seed=1, degradation=Degradation())
    for k in range(4):
        for a, b in zip(plain(k), explicit(k)):
            np.testing.assert_array_equal(a, b)


def test_challenge_sampler_cuts_patches_from_the_challenge_lr():
    hr = photo(64)
    sampler = PatchSampler([hr], None, 2, 32, seed=0, augment=False,
                           degradation=Degradation("challenge"))
    np.testing.assert_array_equal(sampler.lr_images[0], challenge_lr(hr, 2))


@pytest.mark.parametrize("key, value", [
    ("mixed_jpeg_quality", [50, 20]), ("mixed_jpeg_quality", [0, 90]),
    ("mixed_blur_sigma", [-1.0, 1.0]), ("mixed_noise_sigma", [1.0])])
def test_bad_ranges_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        mixed(**{key: value})


def test_challenge_with_an_lr_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="train_lr_dir"):
        build_batch_maker(str(tmp_path), 2, 16, 2, lr_dir=str(tmp_path),
                          degradation=Degradation("challenge"))


def test_eval_pairs_can_use_the_challenge_lr(tmp_path):
    from src.data.dataset import load_eval_pairs
    hr = photo(64)
    Image.fromarray(hr).save(tmp_path / "a.png")
    (name, lr, hr_read), = load_eval_pairs(str(tmp_path), 2, make_lr=challenge_lr)[0]
    assert name == "a"
    np.testing.assert_array_equal(hr_read, hr)
    np.testing.assert_array_equal(lr, challenge_lr(hr, 2))
