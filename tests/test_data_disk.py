"""DF2K-scale data (issue 20 item 4): patches read from disk per sample with a bounded
cache give the in-memory path's batches; several training folders; LR partners by a
name template (DIV2K, BasicSR sub-images); SelfExSR benchmark folders in eval."""
import os

import cv2
import numpy as np
import pytest

from src.config import ConfigError
from src.data.dataset import (BackgroundBatches, ImageCache, PatchSampler, TrainingFiles,
                              build_batch_maker, load_eval_pairs, load_training_images, lr_stem)
from src.data.imresize import imresize_uint8
from src.images import read_rgb


def write_rgb(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def photo(seed, h, w):
    """A smooth random uint8 RGB image (texture everywhere, like a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.random((h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    return (cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


@pytest.fixture
def folders(tmp_path):
    """Two HR folders of mixed sizes (one odd size, one too small) and their x2 LR."""
    sizes = {"a": [(40, 48), (33, 50), (10, 10)], "b": [(64, 36), (36, 36)]}
    lr_dirs = []
    for number, (folder, shapes) in enumerate(sizes.items()):
        for i, (h, w) in enumerate(shapes):
            hr = photo(10 * number + i, h, w)
            write_rgb(str(tmp_path / folder / f"{i:04d}.png"), hr)
            lr = imresize_uint8(hr[:h - h % 2, :w - w % 2], 0.5)
            write_rgb(str(tmp_path / f"{folder}_lr" / f"{i:04d}x2.png"), lr)
        lr_dirs.append(str(tmp_path / f"{folder}_lr"))
    return f"{tmp_path / 'a'},{tmp_path / 'b'}", ",".join(lr_dirs)


def batches(maker, count=12):
    return [maker(i) for i in range(count)]


@pytest.mark.parametrize("with_lr, min_texture", [(False, 0.0), (True, 0.0), (False, 3.0)])
def test_disk_reading_gives_the_in_memory_batches(folders, with_lr, min_texture):
    hr_dirs, lr_dirs = folders
    kwargs = dict(lr_dir=lr_dirs if with_lr else None, seed=7, min_texture=min_texture)
    in_memory = build_batch_maker(hr_dirs, 2, 8, 4, **kwargs)
    # a 0.01 MB cache holds one image: nearly every sample decodes its file again
    from_disk = build_batch_maker(hr_dirs, 2, 8, 4, cache_mb=0.01, **kwargs)
    assert from_disk.sampler.files is not None and in_memory.sampler.files is None
    for (lr_a, hr_a), (lr_b, hr_b) in zip(batches(in_memory), batches(from_disk)):
        assert np.array_equal(lr_a, lr_b) and np.array_equal(hr_a, hr_b)
    assert from_disk.sampler.cache.loads > len(from_disk.sampler.files.paths)


def test_the_cache_stays_within_its_bound_and_every_file_is_reachable(folders):
    hr_dirs, _ = folders
    files = TrainingFiles(hr_dirs, 2, 8)
    # the 10x10 image is too small for an HR patch of 16: skipped, as in memory
    assert len(files.paths) == 4 == len(load_training_images(hr_dirs, 2, 8)[0])
    cache = ImageCache(0.012)                    # ~2 of these images (HR + LR)
    sampler = PatchSampler.from_files(files, cache, 2, 8, seed=0)
    seen = set()
    for k in range(200):
        sampler(k)
        seen.add(sampler.locate(np.random.default_rng([0, k]).integers(
            sampler.first_position[-1]))[0])
        assert cache.bytes <= cache.max_bytes or len(cache.items) == 1
    assert seen == set(range(len(files.paths)))
    assert 0 < len(cache.items) < len(files.paths)


def test_several_folders_are_one_set_in_folder_order(folders):
    hr_dirs, lr_dirs = folders
    files = TrainingFiles(hr_dirs, 2, 8, lr_dirs)
    names = [os.path.relpath(hr, os.path.dirname(hr_dirs.split(",")[0])) for hr, _ in files.paths]
    assert names == ["a/0000.png", "a/0001.png", "b/0000.png", "b/0001.png"]
    assert [os.path.basename(lr) for _, lr in files.paths] == ["0000x2.png", "0001x2.png"] * 2
    assert files.shapes[1] == (32, 50)             # mod-cropped from 33x50
    with pytest.raises(ConfigError, match="one LR folder per HR folder"):
        TrainingFiles(hr_dirs, 2, 8, lr_dirs.split(",")[0])


def test_lr_names_pair_div2k_and_basicsr_sub_images():
    assert lr_stem("0001", 2) == "0001x2"
    assert lr_stem("0001_s001", 2) == "0001x2_s001"
    assert lr_stem("0001", 3, "{stem}_LR{scale}") == "0001_LR3"
    with pytest.raises(ConfigError, match="lr_name_template"):
        lr_stem("0001", 2, "{name}x{scale}")


def test_basicsr_sub_images_pair_with_their_lr(tmp_path):
    hr = photo(1, 32, 32)
    write_rgb(str(tmp_path / "hr" / "0001_s001.png"), hr)
    write_rgb(str(tmp_path / "hr" / "0001_s002.png"), hr[::-1].copy())
    for sub, img in (("s001", hr), ("s002", hr[::-1].copy())):
        write_rgb(str(tmp_path / "lr" / "X2" / f"0001x2_{sub}.png"), imresize_uint8(img, 0.5))
    hr_images, lr_images, names = load_training_images(str(tmp_path / "hr"), 2, 8,
                                                       str(tmp_path / "lr"))
    assert names == ["0001_s001.png", "0001_s002.png"]
    assert np.array_equal(lr_images[1], imresize_uint8(hr[::-1].copy(), 0.5))


def test_selfexsr_folders_pair_each_hr_with_its_lr(tmp_path):
    folder = tmp_path / "Set5"
    for name, seed in (("baby", 1), ("bird", 2)):
        hr = photo(seed, 24, 36)
        write_rgb(str(folder / f"img_{name}_SRF_2_HR.png"), hr)
        # an LR that bicubic would not give: the file's pixels must be the ones used
        write_rgb(str(folder / f"img_{name}_SRF_2_LR.png"), 255 - imresize_uint8(hr, 0.5))
        write_rgb(str(folder / f"img_{name}_SRF_3_HR.png"), hr)
        write_rgb(str(folder / f"img_{name}_SRF_3_LR.png"), imresize_uint8(hr, 1 / 3))
    pairs, skipped = load_eval_pairs(str(folder), 2)
    assert [name for name, _, _ in pairs] == ["img_baby_SRF_2_HR", "img_bird_SRF_2_HR"]
    assert not skipped
    for name, lr, hr in pairs:
        assert np.array_equal(lr, read_rgb(str(folder / name.replace("_HR", "_LR")) + ".png"))
        assert hr.shape == (24, 36, 3)
    assert len(load_eval_pairs(str(folder), 3)[0]) == 2
    with pytest.raises(ConfigError, match=r"scale\(s\) \[2, 3\] but none for x4"):
        load_eval_pairs(str(folder), 4)


def test_the_batch_thread_reports_its_own_rate(folders):
    hr_dirs, _ = folders
    stream = BackgroundBatches(build_batch_maker(hr_dirs, 2, 8, 2, cache_mb=1))
    next(stream)
    rate = stream.samples_per_second()
    stream.close()
    assert rate is not None and rate > 0


def test_train_py_reads_two_folders_from_disk(folders, tmp_path):
    from tests.test_train import run_train
    hr_dirs, lr_dirs = folders
    out = tmp_path / "run"
    run_train((hr_dirs, ""), out, "--train_lr_dir", lr_dirs, "--train_cache_mb", "1",
              "--lr_patch_size", "8", "--total_iters", "2", "--log_every", "2",
              "--num_workers", "0")
    log = (out / "train.log").read_text()
    assert "iter 2/2" in log and "samples/s/rank, wait" in log
