"""Training degradations (src/data/degrade.py): the NTIRE 2023 kit's LR, and mixed
per-patch degradations that stay a pure function of (seed, sample index)."""
import numpy as np
import pytest
from PIL import Image

from src.config import ConfigError, load_config
from src.data.dataset import PatchSampler, augment_pair, build_batch_maker
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


# ---- clean_prob: clean LR patches mixed into a degraded run ----

def sampler_for(degradation, seed=3, augment=True, images=None):
    images = images or [photo(64, 0), photo(48, 1)]
    return PatchSampler(images, None, 2, 16, seed=seed, augment=augment,
                        degradation=degradation)


def same_samples(first, second, count=12):
    """True when two samplers give bit-identical (lr, hr) for samples 0 .. count - 1."""
    return all(np.array_equal(a, b) for k in range(count) for a, b in zip(first(k), second(k)))


def sample_before_clean_prob(sampler, k):
    """Sample k as PatchSampler made it before clean_prob existed: position, flips,
    crop, then the degradation's per-patch draws (written out as the reference)."""
    rng = np.random.default_rng([sampler.seed, k])
    index, top, left, hr = sampler.draw_position(rng)
    hflip, vflip, transpose = (rng.random(3) < 0.5).tolist()
    p = sampler.patch
    lr = sampler.degradation.patch(sampler.image(index)[1][top:top + p, left:left + p], rng)
    return augment_pair(lr, hr, hflip, vflip, transpose)


@pytest.mark.parametrize("kind", ["challenge", "mixed"])
def test_clean_prob_0_keeps_every_existing_sample_stream(kind):
    overrides = {"degradation": kind, "mixed_blur_sigma": [0.0, 1.0],
                 "mixed_noise_sigma": [0.0, 3.0]}
    without_key = Degradation.from_config(load_config(overrides=overrides))
    explicit_zero = Degradation.from_config(load_config(overrides={**overrides,
                                                                   "clean_prob": 0.0}))
    assert without_key == explicit_zero and explicit_zero.clean_prob == 0.0
    sampler = sampler_for(explicit_zero)
    assert sampler.clean_lr_images is None                # no second LR held
    for k in range(12):
        for got, expected in zip(sampler(k), sample_before_clean_prob(sampler, k)):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["challenge", "mixed"])
def test_clean_prob_1_gives_the_bicubic_runs_samples(kind):
    """The choice is drawn after the crop and the flips, so an all-clean run has the
    bicubic run's crops and flips, and its LR is MATLAB bicubic of that HR crop."""
    images = [photo(64, 0), photo(48, 1)]
    clean = sampler_for(Degradation(kind, clean_prob=1.0), images=images)
    bicubic = sampler_for(Degradation(), images=images)
    assert same_samples(clean, bicubic, 20)
    unflipped = sampler_for(Degradation(kind, clean_prob=1.0), augment=False, images=images)
    for k in range(20):
        rng = np.random.default_rng([unflipped.seed, k])
        index, top, left, hr = unflipped.draw_position(rng)
        lr, hr_got = unflipped(k)
        np.testing.assert_array_equal(hr_got, hr)
        np.testing.assert_array_equal(lr, imresize_uint8(images[index], 0.5)[top:top + 16,
                                                                              left:left + 16])


def classify(sampler, clean, degraded, count=40):
    """'clean' or 'degraded' per sample of ``sampler``, whose HR must be both's and whose
    LR must be one of theirs (same sample index)."""
    kinds = []
    for k in range(count):
        lr, hr = sampler(k)
        (lr_c, hr_c), (lr_d, _) = clean(k), degraded(k)
        np.testing.assert_array_equal(hr, hr_c)
        assert not np.array_equal(lr_c, lr_d)
        kinds.append("clean" if np.array_equal(lr, lr_c) else "degraded")
        if kinds[-1] == "degraded":
            np.testing.assert_array_equal(lr, lr_d)
    return kinds


def test_clean_prob_half_mixes_clean_and_challenge_patches_from_the_seed():
    half = Degradation("challenge", clean_prob=0.5)
    kinds = classify(sampler_for(half), sampler_for(Degradation()),
                     sampler_for(Degradation("challenge")))
    assert 5 <= kinds.count("clean") <= 35, kinds
    assert kinds == classify(sampler_for(half), sampler_for(Degradation()),
                             sampler_for(Degradation("challenge")))      # same seed, same
    assert kinds != classify(sampler_for(half, seed=4), sampler_for(Degradation(), seed=4),
                             sampler_for(Degradation("challenge"), seed=4))


def test_clean_prob_with_mixed_skips_the_per_patch_degradation_of_a_clean_patch():
    # quality 10 and no blur/noise: a degraded patch is exactly the clean patch's JPEG,
    # whatever the per-patch draws were
    half = mixed(mixed_jpeg_quality=[10, 10], clean_prob=0.5)
    bicubic, sampler = sampler_for(Degradation(), augment=False), sampler_for(half,
                                                                              augment=False)
    kinds = []
    for k in range(40):
        (lr, hr), (lr_c, hr_c) = sampler(k), bicubic(k)
        np.testing.assert_array_equal(hr, hr_c)
        kinds.append("clean" if np.array_equal(lr, lr_c) else "degraded")
        if kinds[-1] == "degraded":
            np.testing.assert_array_equal(lr, jpeg_round_trip(np.ascontiguousarray(lr_c), 10))
    assert 5 <= kinds.count("clean") <= 35, kinds


def test_clean_prob_with_mixed_and_an_lr_folder_keeps_the_folders_lr(tmp_path):
    hr = photo(64, 0)
    folder_lr = np.clip(imresize_uint8(hr, 0.5).astype(int) + 7, 0, 255).astype(np.uint8)
    Image.fromarray(hr).save(tmp_path / "0001.png")
    (tmp_path / "lr").mkdir()
    Image.fromarray(folder_lr).save(tmp_path / "lr" / "0001x2.png")
    maker = build_batch_maker(str(tmp_path), 2, 16, 4, lr_dir=str(tmp_path / "lr"),
                              augment=False, degradation=Degradation("mixed", clean_prob=1.0))
    assert maker.sampler.clean_lr_images is None          # the folder's LR is the clean one
    for k in range(4):
        lr, _ = maker.sampler(k)
        rng = np.random.default_rng([0, k])
        _, top, left, _ = maker.sampler.draw_position(rng)
        np.testing.assert_array_equal(lr, folder_lr[top:top + 16, left:left + 16])


@pytest.mark.parametrize("clean_prob", [0.0, 0.5])
def test_clean_prob_patches_read_from_disk_are_the_in_memory_ones(tmp_path, clean_prob):
    for i, size in enumerate((64, 48, 56)):
        Image.fromarray(photo(size, i)).save(tmp_path / f"{i:04d}.png")
    degradation = Degradation("challenge", clean_prob=clean_prob)
    in_memory = build_batch_maker(str(tmp_path), 2, 16, 4, seed=5, degradation=degradation)
    # a 0.01 MB cache holds one image: most samples decode their file again
    from_disk = build_batch_maker(str(tmp_path), 2, 16, 4, seed=5, degradation=degradation,
                                  cache_mb=0.01)
    for i in range(10):
        for a, b in zip(in_memory(i), from_disk(i)):
            np.testing.assert_array_equal(a, b)
    assert from_disk.sampler.cache.loads > 3
    # the clean LR is held (in memory and in the cache's tuples) only when it is used
    cached = next(iter(from_disk.sampler.cache.items.values()))
    if clean_prob > 0:
        np.testing.assert_array_equal(cached[3], imresize_uint8(cached[0], 0.5))
        assert len(in_memory.sampler.clean_lr_images) == 3
    else:
        assert cached[3] is None and in_memory.sampler.clean_lr_images is None


def test_clean_prob_with_bicubic_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="'clean_prob'.*degradation challenge or mixed") as err:
        Degradation.from_config(load_config(overrides={"clean_prob": 0.5}))
    assert "\n" not in str(err.value)
    assert Degradation.from_config(load_config(overrides={"clean_prob": 0.0})).clean_prob == 0


@pytest.mark.parametrize("value", [-0.1, 1.5, "half", None, True])
def test_clean_prob_outside_0_1_or_not_a_number_names_the_key(value):
    base = load_config(overrides={"degradation": "challenge"})
    with pytest.raises(ConfigError, match="clean_prob"):
        Degradation.from_config({**base, "clean_prob": value})
    if isinstance(value, float):                            # the config loader refuses too
        with pytest.raises(ConfigError, match="clean_prob"):
            load_config(overrides={"degradation": "challenge", "clean_prob": value})


def test_clean_prob_is_a_flag_and_the_run_config_records_it(tmp_path):
    from src.config import parse_config, save_config
    cfg, _ = parse_config(["--degradation", "mixed", "--clean_prob", "0.25"])
    assert cfg.clean_prob == 0.25 and Degradation.from_config(cfg).clean_prob == 0.25
    save_config(cfg, str(tmp_path / "config.yaml"))          # what train.py writes
    assert load_config(str(tmp_path / "config.yaml")).clean_prob == 0.25
    with pytest.raises(ConfigError, match="clean_prob"):
        parse_config(["--degradation", "mixed", "--clean_prob", "2"])
