"""Data tests: MATLAB bicubic facts, robust image reading, the deterministic patch
pipeline (resume, ranks, LR crops == crops of the whole-image LR), bad-data behaviour.

Synthetic images in tmp_path only; nothing here needs scripts/prepare_data.sh.
"""
import logging
import os

import cv2
import numpy as np
import pytest

from src.data.dataset import (BackgroundBatches, PatchSampler, create_train_batches,
                              create_train_dataset, load_eval_pairs,
                              load_training_images, luma_texture, mod_crop, patch_texture,
                              resolve_num_workers, stack_nchw_float)
from src.images import (ImageError, list_images, pad_to_multiple, read_rgb, to_uint8,
                        write_png)
from src.data.imresize import (contributions, cubic, imresize, imresize_uint8,
                               round_to_uint8_range)

X2_DOWN_TAPS = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]


def smooth_image(rng, h, w):
    """A photo-like uint8 RGB image: blurred noise (full range, smooth, textured)."""
    noise = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


# ---------------------------------------------------------------- imresize facts

def test_x2_downscale_interior_taps_are_the_antialiased_cubic():
    weights, indices = contributions(40, 20, 0.5)
    expected = X2_DOWN_TAPS + X2_DOWN_TAPS[::-1]
    for row in range(3, 17):
        np.testing.assert_array_equal(weights[row], expected)
        np.testing.assert_array_equal(indices[row], np.arange(2 * row - 3, 2 * row + 5))
    # half-pixel distances 0.5..3.5 of the kernel stretched x2: 0.5 * cubic(d / 2)
    np.testing.assert_allclose(0.5 * cubic(np.array([3.5, 2.5, 1.5, 0.5]) / 2), X2_DOWN_TAPS)


def test_x3_downscale_taps_are_ninths_of_ninths():
    weights, _ = contributions(60, 20, 1 / 3)
    np.testing.assert_allclose(weights[5] * 81, [-1, -2, 9, 21, 27, 21, 9, -2, -1], atol=1e-12)


def test_hand_derived_1x4_example_with_symmetric_borders():
    # [1 2 3 4] * 0.5: output 1 sits at u = 1.5; the 8 taps reach positions -2..5,
    # which symmetric padding folds onto values 3 2 1 1 2 3 4 4. MATLAB prints 1.4609 3.5391.
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5)
    np.testing.assert_array_equal(out, [[1.4609375, 3.5390625]])


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 0.7])
def test_constant_image_stays_constant(scale):
    image = np.full((23, 31, 3), 77, np.uint8)
    np.testing.assert_allclose(imresize(image, scale), 77.0, atol=1e-12)
    assert (imresize_uint8(image, scale) == 77).all()


@pytest.mark.parametrize("scale", [2, 3, 1 / 2, 1 / 3, 1 / 4, 0.7, 1.5])
def test_output_size_is_ceil_of_scaled_size(scale):
    out = imresize(np.zeros((37, 41)), scale)
    assert out.shape == (int(np.ceil(37 * scale - 1e-9)), int(np.ceil(41 * scale - 1e-9)))
    assert imresize(np.zeros((30, 33, 3)), 1 / 3).shape == (10, 11, 3)


def test_x2_upscale_interior_matches_hand_computation():
    row = np.random.default_rng(0).random(12) * 255
    out = imresize(row[None, :], 2)[0]
    # output 2k (1-based) sits at u = k + 0.25: taps k-1..k+2 at distances
    # 1.25, 0.25, -0.75, -1.75 -> cubic = -0.0703125, 0.8671875, 0.2265625, -0.0234375
    taps = np.array([-0.0703125, 0.8671875, 0.2265625, -0.0234375])
    # output 2k - 1 sits at u = k - 0.25: taps k-2..k+1, the same weights reversed
    for k in range(3, 10):                      # 1-based k; 0-based input index k-1
        even = taps @ row[k - 2:k + 2]
        odd = taps[::-1] @ row[k - 3:k + 1]
        assert out[2 * k - 1] == pytest.approx(even, abs=1e-9)
        assert out[2 * k - 2] == pytest.approx(odd, abs=1e-9)


def test_border_is_matlab_symmetric_padding():
    image = np.random.default_rng(1).random((20, 26, 3))
    padded = np.pad(image, ((8, 8), (8, 8), (0, 0)), mode="symmetric")
    np.testing.assert_allclose(imresize(padded, 0.5)[4:-4, 4:-4], imresize(image, 0.5),
                               atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3])
def test_interior_matches_pillow_bicubic(scale):
    """Pillow's float bicubic is an independent a=-0.5 antialiased implementation; it
    truncates the kernel at borders instead of mirroring, so compare the interior."""
    from PIL import Image
    image = np.random.default_rng(2).random((96, 120)) * 255
    ours = imresize(image, scale)
    pil = Image.fromarray(image.astype(np.float32), mode="F").resize(
        ours.shape[::-1], Image.BICUBIC)
    border = 3 if scale < 1 else 6
    inner = (slice(border, -border),) * 2
    np.testing.assert_allclose(ours[inner], np.asarray(pil, np.float64)[inner], atol=1e-4)


def test_uint8_rounding_half_away_from_zero_and_saturation():
    values = np.array([0.5, 1.5, 2.5, 2.4999, -3.0, 300.0])
    np.testing.assert_array_equal(round_to_uint8_range(values), [1, 2, 3, 2, 0, 255])


def dense_resize_matrix(in_len, out_len, scale):
    """The (out_len, in_len) matrix of one separable pass, from the tap tables."""
    weights, indices = contributions(in_len, out_len, scale)
    matrix = np.zeros((out_len, in_len))
    for row in range(out_len):
        np.add.at(matrix[row], indices[row], weights[row])
    return matrix


def test_uint8_rounds_and_saturates_after_each_pass_like_matlab():
    image = smooth_image(np.random.default_rng(3), 40, 50)
    rows = dense_resize_matrix(40, 20, 0.5)
    cols = dense_resize_matrix(50, 25, 0.5)
    matlab_round = lambda v: np.floor(np.clip(v, 0, 255) + 0.5)
    first = matlab_round(np.einsum("oh,hwc->owc", rows, image.astype(np.float64)))
    expected = matlab_round(np.einsum("ow,hwc->hoc", cols, first))
    np.testing.assert_array_equal(imresize_uint8(image, 0.5), expected)
    once = imresize_uint8(image, 0.5, round_each_pass=False)
    np.testing.assert_array_equal(once, matlab_round(imresize(image, 0.5)))
    assert once.dtype == np.uint8 and np.abs(once.astype(int) - expected).max() <= 2


def test_cv2_inter_cubic_is_clearly_not_matlab_bicubic():
    """cv2 INTER_CUBIC (a = -0.75, no antialiasing) vs MATLAB bicubic, x2 down of
    skimage's astronaut photo: mean |diff| 2.22 grey levels, PSNR 34.7 dB (x3: 5.60,
    26.8 dB). Documented in docs/data.md."""
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.astronaut()
    ours = imresize_uint8(photo, 0.5)
    theirs = cv2.resize(photo, ours.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    diff = np.abs(ours.astype(np.float64) - theirs)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean(diff ** 2))
    print(f"cv2 INTER_CUBIC vs MATLAB bicubic x2 down: mean |diff| {diff.mean():.2f}, "
          f"PSNR {psnr:.1f} dB")
    assert diff.mean() > 1.0 and psnr < 40.0


# ---------------------------------------------------------------- image files

def write_raw(path, array):
    """Write with OpenCV as-is (BGR order, any depth/channels)."""
    assert cv2.imwrite(str(path), array)
    return str(path)


def truncated_copy(source, target, keep=0.6):
    data = open(source, "rb").read()
    with open(target, "wb") as out:
        out.write(data[:int(len(data) * keep)])
    return str(target)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_file_raises_image_error_naming_it(tmp_path, ext):
    image = smooth_image(np.random.default_rng(4), 60, 70)
    whole = write_raw(tmp_path / f"whole.{ext}", image)
    cut = truncated_copy(whole, tmp_path / f"cut.{ext}")
    with pytest.raises(ImageError) as err:
        read_rgb(cut)
    message = str(err.value)
    assert cut in message and "truncated" in message and "\n" not in message
    assert isinstance(err.value, ValueError)


def test_jpeg_with_trailing_bytes_after_its_end_marker_is_still_read(tmp_path):
    image = smooth_image(np.random.default_rng(4), 60, 70)
    path = write_raw(tmp_path / "trailer.jpg", image)
    with open(path, "ab") as out:
        out.write(b"vendor trailer" * 50)
    assert read_rgb(path).shape == (60, 70, 3)


def test_non_image_and_missing_file_raise_image_error(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(ImageError, match="notes.png"):
        read_rgb(str(fake))
    with pytest.raises(ImageError, match="file not found"):
        read_rgb(str(tmp_path / "missing.png"))


def test_conversions_return_rgb_uint8_and_warn_naming_the_file(tmp_path, caplog):
    rgb = smooth_image(np.random.default_rng(5), 20, 30)
    bgr = rgb[:, :, ::-1]
    cases = {
        "colour.png": (bgr, rgb, None),
        "grey.png": (rgb[:, :, 0], np.repeat(rgb[:, :, :1], 3, 2), "greyscale"),
        "rgba.png": (np.dstack([bgr, rgb[:, :, :1]]), rgb, "alpha channel dropped"),
        "deep.png": (bgr.astype(np.uint16) * 257, rgb, "16-bit"),
    }
    for name, (stored, expected, warning) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="src.data"):
            out = read_rgb(write_raw(tmp_path / name, stored))
        assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
        np.testing.assert_array_equal(out, expected)
        if warning:
            assert len(caplog.records) == 1
            assert warning in caplog.text and name in caplog.text
        else:
            assert not caplog.records


def test_list_images_sorted_case_insensitive_and_clear_errors(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.JpEg", "d.tif", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    names = [os.path.basename(p) for p in list_images(str(tmp_path))]
    assert names == ["a.jpg", "b.PNG", "c.JpEg", "d.tif"]
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError) as err:
        list_images(missing)
    assert str(err.value) == (f"data folder '{missing}' does not exist; run "
                              f"scripts/prepare_data.sh or pass --data_dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has no image files"):
        list_images(str(empty))


def test_write_png_round_trips_and_leaves_no_temporary_file(tmp_path):
    image = smooth_image(np.random.default_rng(6), 17, 23)
    target = tmp_path / "sub" / "out.png"
    write_png(str(target), image)
    np.testing.assert_array_equal(read_rgb(str(target)), image)
    assert os.listdir(tmp_path / "sub") == ["out.png"]
    with pytest.raises(ValueError, match="uint8"):
        write_png(str(target), image.astype(np.float32))


# ---------------------------------------------------------------- training pipeline

SIZES = [(61, 75), (70, 66), (53, 90)]          # not multiples of 2 or 3 on purpose


@pytest.fixture
def hr_dir(tmp_path):
    folder = tmp_path / "hr"
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate(SIZES):
        write_png(str(folder / f"{i + 1:04d}.png"), smooth_image(rng, h, w))
    return str(folder)


def threads_dataset(*args, **kwargs):
    """create_train_dataset with thread workers (quick to start); the determinism
    test covers worker processes."""
    kwargs.setdefault("python_multiprocessing", False)
    return create_train_dataset(*args, **kwargs)


def take(dataset, count):
    """The first ``count`` (lr, hr) batches as numpy arrays."""
    batches = dataset.create_tuple_iterator(num_epochs=1, output_numpy=True)
    return [tuple(next(batches)) for _ in range(count)]


def test_batches_are_float32_nchw_in_unit_range(hr_dir):
    for scale in (2, 3):
        dataset = threads_dataset(hr_dir, scale, lr_patch_size=8, batch_size=3)
        for lr, hr in take(dataset, 2):
            assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, 8 * scale, 8 * scale)
            assert lr.dtype == hr.dtype == np.float32
            assert 0.0 <= lr.min() and lr.max() <= 1.0 and 0.0 <= hr.min() and hr.max() <= 1.0
            assert np.allclose(hr * 255, np.round(hr * 255), atol=1e-4)   # from uint8


def test_same_seed_same_batches_other_seed_other_batches(hr_dir):
    """Also across worker kinds and counts: 2 processes vs 1 thread."""
    first = take(create_train_dataset(hr_dir, 2, 8, 2, seed=5, num_workers=2,
                                      python_multiprocessing=True), 4)
    again = take(create_train_dataset(hr_dir, 2, 8, 2, seed=5, num_workers=1,
                                      python_multiprocessing=False), 4)
    other = take(threads_dataset(hr_dir, 2, 8, 2, seed=6), 1)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first, again):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)
    assert not np.array_equal(first[0][1], other[0][1])


def test_resume_at_iteration_t_continues_the_uninterrupted_stream(hr_dir):
    full = take(threads_dataset(hr_dir, 2, 8, 2, seed=1), 5)
    resumed = take(threads_dataset(hr_dir, 2, 8, 2, seed=1, start_iteration=3), 2)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(full[3:], resumed):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)


def test_two_ranks_of_batch_b_equal_one_process_of_batch_2b(hr_dir):
    single = take(threads_dataset(hr_dir, 2, 8, 4, seed=2), 3)
    ranks = [take(threads_dataset(hr_dir, 2, 8, 2, seed=2, rank=r, group_size=2), 3)
             for r in (0, 1)]
    for t, (lr, hr) in enumerate(single):
        np.testing.assert_array_equal(lr, np.concatenate([ranks[0][t][0], ranks[1][t][0]]))
        np.testing.assert_array_equal(hr, np.concatenate([ranks[0][t][1], ranks[1][t][1]]))


def test_in_process_batches_equal_dataset_batches(hr_dir):
    """num_workers 0 (a thread of this process, the CPU default) streams exactly the
    dataset's batches, for a resumed start and a second rank too."""
    for kwargs in ({}, {"start_iteration": 2}, {"rank": 1, "group_size": 2},
                   {"min_texture": 3.0}):
        expected = take(threads_dataset(hr_dir, 2, 8, 3, seed=4, **kwargs), 3)
        stream = create_train_batches(hr_dir, 2, 8, 3, seed=4, num_workers=0, **kwargs)
        for lr_expected, hr_expected in expected:
            lr, hr = next(stream)
            np.testing.assert_array_equal(lr.asnumpy(), lr_expected)
            np.testing.assert_array_equal(hr.asnumpy(), hr_expected)
        stream.close()
        assert not stream.thread.is_alive()


def test_in_process_batches_raise_the_makers_error_in_the_training_loop():
    def broken_maker(i):
        if i == 1:
            raise ValueError("image 7 is gone")
        return np.zeros((1, 3, 2, 2), np.float32), np.zeros((1, 3, 4, 4), np.float32)
    stream = BackgroundBatches(broken_maker)
    lr, _ = next(stream)
    assert lr.shape == (1, 3, 2, 2)
    with pytest.raises(RuntimeError, match="making a training batch failed: ValueError: "
                                           "image 7 is gone"):
        next(stream)
    stream.close()


def test_in_process_batch_thread_stops_when_the_stream_is_dropped():
    """A finished train() drops its stream: the thread must not run on."""
    made = []

    def maker(i):
        made.append(i)
        return np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32)
    stream = BackgroundBatches(maker, depth=2)
    next(stream)
    thread = stream.thread
    del stream
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(made) <= 4                       # stopped at the full queue, not later


def test_num_workers_auto_is_the_thread_on_cpu_and_workers_elsewhere():
    assert resolve_num_workers(-1, "CPU") == 0
    assert resolve_num_workers(-1, "GPU") == min(4, os.cpu_count() or 1)
    assert resolve_num_workers(3, "CPU") == 3 and resolve_num_workers(0, "GPU") == 0
    with pytest.raises(ValueError, match="num_workers must be -1"):
        resolve_num_workers(-2)


def test_batch_stacking_equals_per_patch_conversion_on_strided_views():
    image = smooth_image(np.random.default_rng(2), 40, 50)
    patches = [image[3:19, 5:21], image[10:26, 30:46][::-1], image[0:16, 0:16].transpose(1, 0, 2)]
    expected = np.stack([np.ascontiguousarray(p.transpose(2, 0, 1), dtype=np.float32) / 255.0
                         for p in patches])
    batch = stack_nchw_float(patches)
    assert batch.dtype == np.float32 and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, expected)


@pytest.mark.parametrize("scale", [2, 3])
def test_texture_read_from_the_image_luma_equals_patch_texture(scale):
    """The sampler's redraw test crops a per-image luma; it must give patch_texture's
    numbers exactly, or the data stream would depend on the implementation."""
    images = [mod_crop(smooth_image(np.random.default_rng(scale), 90, 130), scale)]
    sampler = PatchSampler(images, None, scale, 12, seed=0, min_texture=1.0)
    rng = np.random.default_rng(5)
    for _ in range(200):
        index, top, left = sampler.locate(rng.integers(sampler.first_position[-1]))
        hr = images[index][top * scale:(top + 12) * scale, left * scale:(left + 12) * scale]
        assert luma_texture(sampler.luma[index][top:top + 12, left:left + 12]) == \
            patch_texture(hr, scale)


def test_sampler_pairs_lr_and_hr_crops_and_augments_both_alike(hr_dir):
    hr_images, _, _ = load_training_images(hr_dir, 2, 8)
    plain = PatchSampler(hr_images, None, 2, 8, seed=3, augment=False)
    augmented = PatchSampler(hr_images, None, 2, 8, seed=3, augment=True)
    wholes = [imresize_uint8(hr, 0.5) for hr in hr_images]
    transforms = [lambda a, f=f, v=v, t=t: dihedral(a, f, v, t)
                  for f in (0, 1) for v in (0, 1) for t in (0, 1)]
    seen = set()
    for k in range(40):
        lr, hr = plain(k)
        matches = [(i, y, x) for i, whole in enumerate(wholes)
                   for y in range(whole.shape[0] - 7) for x in range(whole.shape[1] - 7)
                   if np.array_equal(whole[y:y + 8, x:x + 8], lr)]
        i, y, x = matches[0]
        np.testing.assert_array_equal(hr, hr_images[i][2 * y:2 * y + 16, 2 * x:2 * x + 16])
        lr_aug, hr_aug = augmented(k)
        which = [n for n, f in enumerate(transforms)
                 if np.array_equal(f(lr), lr_aug) and np.array_equal(f(hr), hr_aug)]
        assert which, f"sample {k}: LR and HR were not transformed alike"
        seen.add(which[0])
    assert len(seen) >= 6                       # flips and transposes really happen


def test_every_patch_position_is_one_global_position(hr_dir):
    """Sampling is uniform over all (image, top, left): positions enumerate them once."""
    hr_images, _, _ = load_training_images(hr_dir, 3, 8)
    sampler = PatchSampler(hr_images, None, 3, 8, seed=0)
    expected = [(i, y, x) for i, hr in enumerate(hr_images)
                for y in range(hr.shape[0] // 3 - 7) for x in range(hr.shape[1] // 3 - 7)]
    assert sampler.first_position[-1] == len(expected)
    assert [sampler.locate(n) for n in range(len(expected))] == expected


def test_patch_texture_is_zero_when_flat_and_counts_neighbour_steps_at_lr_stride():
    flat = np.full((16, 16, 3), 77, np.uint8)
    assert patch_texture(flat, 2) == 0.0
    # Columns alternate 0/255 every 2 HR pixels: at stride 2 each horizontal neighbour
    # differs by 255 in luma, vertical neighbours not at all: mean (255 + 0) / 2.
    stripes = np.zeros((16, 16, 3), np.uint8)
    stripes[:, 2::4] = stripes[:, 3::4] = 255
    assert patch_texture(stripes, 2) == pytest.approx(127.5, rel=1e-4)
    # At stride 1 (0,0,255,255,...) 7 of a row's 15 horizontal steps are 255.
    assert patch_texture(stripes, 1) == pytest.approx(255 * 7 / 15 / 2, rel=1e-4)


def test_min_texture_redraws_flat_patches_and_stays_a_pure_function_of_k():
    """Left half of the image flat, right half textured: uniform sampling lands on
    the flat half about half the time; with min_texture it (almost) never does."""
    rng = np.random.default_rng(0)
    image = np.full((64, 128, 3), 128, np.uint8)
    image[:, 64:] = smooth_image(rng, 64, 64)
    def flat_share(sampler):
        flat = [patch_texture(sampler(k)[1], 2) == 0.0 for k in range(200)]
        return float(np.mean(flat))
    uniform = PatchSampler([image], None, 2, 8, seed=1, augment=False)
    redrawn = PatchSampler([image], None, 2, 8, seed=1, augment=False, min_texture=2.0)
    assert 0.3 < flat_share(uniform) < 0.6
    assert flat_share(redrawn) < 0.02
    for k in (0, 5, 17):
        for a, b in zip(redrawn(k), redrawn(k)):
            np.testing.assert_array_equal(a, b)
    # min_texture 0 draws exactly what the sampler drew before the option existed:
    off = PatchSampler([image], None, 2, 8, seed=1, augment=False, min_texture=0.0)
    for k in range(20):
        draws = np.random.default_rng([1, k])
        _, top, left = uniform.locate(draws.integers(uniform.first_position[-1]))
        expected_hr = image[2 * top:2 * top + 16, 2 * left:2 * left + 16]
        np.testing.assert_array_equal(off(k)[1], expected_hr)


def dihedral(array, hflip, vflip, transpose):
    array = array[:, ::-1] if hflip else array
    array = array[::-1] if vflip else array
    return array.transpose(1, 0, 2) if transpose else array


# ---------------------------------------------------------------- LR folders

def make_div2k_lr(hr_dir, scale, parent):
    from src.data.prepare import make_lr_folder
    written, kept, skipped = make_lr_folder(hr_dir, [scale], parent)
    assert (written, kept, skipped) == (len(SIZES), 0, [])
    return os.path.join(parent, f"X{scale}")


@pytest.mark.parametrize("point_at", ["parent", "X2"])
def test_lr_dir_pairs_give_the_same_batches_as_on_the_fly(hr_dir, tmp_path, point_at):
    x2 = make_div2k_lr(hr_dir, 2, str(tmp_path / "hr_LR_bicubic"))
    assert sorted(os.listdir(x2)) == ["0001x2.png", "0002x2.png", "0003x2.png"]
    lr_dir = x2 if point_at == "X2" else os.path.dirname(x2)
    from_files = take(threads_dataset(hr_dir, 2, 8, 3, lr_dir=lr_dir, seed=4), 3)
    on_the_fly = take(threads_dataset(hr_dir, 2, 8, 3, seed=4), 3)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(from_files, on_the_fly):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)


def test_make_lr_is_idempotent(hr_dir, tmp_path):
    from src.data.prepare import make_lr_folder
    make_div2k_lr(hr_dir, 3, str(tmp_path / "lr"))
    assert make_lr_folder(hr_dir, [3], str(tmp_path / "lr")) == (0, len(SIZES), [])


def test_lr_of_the_wrong_size_is_a_clear_error(hr_dir, tmp_path):
    x2 = make_div2k_lr(hr_dir, 2, str(tmp_path / "lr"))
    write_png(os.path.join(x2, "0002x2.png"), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError) as err:
        create_train_dataset(hr_dir, 2, 8, 2, lr_dir=x2)
    message = str(err.value)
    assert "0002x2.png" in message and "0002.png" in message and "--scale" in message


def test_missing_lr_partner_skips_that_image_with_a_warning(hr_dir, tmp_path, caplog):
    x2 = make_div2k_lr(hr_dir, 2, str(tmp_path / "lr"))
    os.remove(os.path.join(x2, "0003x2.png"))
    with caplog.at_level(logging.WARNING, logger="src.data"):
        _, lr_images, names = load_training_images(hr_dir, 2, 8, lr_dir=x2)
    assert names == ["0001.png", "0002.png"] and len(lr_images) == 2
    assert "0003x2.png" in caplog.text


def test_missing_lr_folder_is_a_clear_error(hr_dir, tmp_path):
    with pytest.raises(ValueError, match="LR folder .* does not exist"):
        create_train_dataset(hr_dir, 2, 8, 2, lr_dir=str(tmp_path / "nope"))


def test_multiscale_folder_holds_the_originals_and_bicubic_copies(hr_dir, tmp_path):
    from src.data.prepare import make_multiscale_folder
    out = str(tmp_path / "ms")
    assert make_multiscale_folder(hr_dir, [0.75, 0.5], out) == (3 * len(SIZES), 0, [])
    names = [os.path.basename(p) for p in list_images(out)]
    assert names == [f"000{i}{suffix}.png" for i in (1, 2, 3) for suffix in ("", "_s50", "_s75")]
    for i, (h, w) in enumerate(SIZES):
        hr = read_rgb(os.path.join(hr_dir, f"000{i + 1}.png"))
        np.testing.assert_array_equal(read_rgb(os.path.join(out, f"000{i + 1}.png")), hr)
        half = read_rgb(os.path.join(out, f"000{i + 1}_s50.png"))
        assert half.shape == (-(-h // 2), -(-w // 2), 3)
        np.testing.assert_array_equal(half, imresize_uint8(hr, 0.5))
    assert make_multiscale_folder(hr_dir, [0.75, 0.5], out) == (0, 3 * len(SIZES), [])


def test_multiscale_copies_only_leaves_the_originals_out(hr_dir, tmp_path):
    from src.data.prepare import make_multiscale_folder
    out = str(tmp_path / "half")
    assert make_multiscale_folder(hr_dir, [0.5], out, keep_original=False) == (len(SIZES), 0, [])
    names = [os.path.basename(p) for p in list_images(out)]
    assert names == [f"000{i}_s50.png" for i in (1, 2, 3)]
    hr = read_rgb(os.path.join(hr_dir, "0002.png"))
    np.testing.assert_array_equal(read_rgb(os.path.join(out, "0002_s50.png")),
                                  imresize_uint8(hr, 0.5))


@pytest.mark.parametrize("factors", [[1.0], [0.5, 1.5], [0.5, 0.501]])
def test_multiscale_factors_outside_0_1_or_repeated_are_refused(hr_dir, tmp_path, factors):
    from src.data.prepare import make_multiscale_folder
    with pytest.raises(ValueError, match="--factors"):
        make_multiscale_folder(hr_dir, factors, str(tmp_path / "ms"))


# ---------------------------------------------------------------- bad data

def test_bad_files_are_skipped_or_converted_with_warnings(tmp_path, caplog):
    folder = tmp_path / "mixed"
    rng = np.random.default_rng(9)
    good = smooth_image(rng, 40, 40)
    write_png(str(folder / "a_good.png"), good)
    write_raw(folder / "b_grey.png", good[:, :, 0])
    write_raw(folder / "c_rgba.png", np.dstack([good, good[:, :, :1]]))
    write_raw(folder / "d_deep.png", good.astype(np.uint16) * 257)
    write_raw(folder / "e_tiny.png", good[:15, :30])
    truncated_copy(write_raw(tmp_path / "whole.jpg", good), folder / "f_cut.jpg")
    (folder / "g_text.png").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="src.data"):
        dataset = threads_dataset(str(folder), 2, lr_patch_size=8, batch_size=2)
        lr, hr = take(dataset, 1)[0]
    assert lr.shape == (2, 3, 8, 8) and hr.shape == (2, 3, 16, 16)
    lines = caplog.text.splitlines()
    expectations = {"b_grey.png": "greyscale", "c_rgba.png": "alpha", "d_deep.png": "16-bit",
                    "e_tiny.png": "30x14 (after mod-crop to scale 2) is smaller than the HR "
                                  "patch 16x16",
                    "f_cut.jpg": "truncated", "g_text.png": "not an image"}
    for name, phrase in expectations.items():
        assert any(name in line and phrase in line for line in lines), (name, caplog.text)
    _, _, names = load_training_images(str(folder), 2, 8)
    assert names == ["a_good.png", "b_grey.png", "c_rgba.png", "d_deep.png"]


def test_folder_without_usable_images_fails_at_construction(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_raw(folder / "tiny.png", np.zeros((5, 5, 3), np.uint8))
    (folder / "text.jpg").write_text("nope")
    with pytest.raises(ValueError) as err:
        create_train_dataset(str(folder), 2, 8, 2)
    assert str(err.value).startswith(f"no usable training image in '{folder}': all 2 files")


def test_empty_and_missing_folders_fail_at_construction(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no image files"):
        create_train_dataset(str(tmp_path / "empty"), 2, 8, 2)
    with pytest.raises(ValueError, match="does not exist; run scripts/prepare_data.sh"):
        create_train_dataset(str(tmp_path / "missing"), 2, 8, 2)


def test_bad_arguments_fail_with_one_line_messages(hr_dir):
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        create_train_dataset(hr_dir, 2.5, 8, 2)
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, group_size=2\)"):
        create_train_dataset(hr_dir, 2, 8, 2, rank=2, group_size=2)


# ---------------------------------------------------------------- evaluation pairs

def test_eval_pairs_are_mod_cropped_with_matlab_lr_and_skip_bad_files(hr_dir, caplog):
    truncated_copy(os.path.join(hr_dir, "0001.png"), os.path.join(hr_dir, "0000_cut.png"))
    with caplog.at_level(logging.WARNING, logger="src.data"):
        pairs, skipped = load_eval_pairs(hr_dir, 3)
    assert skipped == ["0000_cut"] and "0000_cut.png" in caplog.text
    assert [name for name, _, _ in pairs] == ["0001", "0002", "0003"]
    for (name, lr, hr), (h, w) in zip(pairs, SIZES):
        assert hr.shape == (h - h % 3, w - w % 3, 3) and hr.dtype == np.uint8
        np.testing.assert_array_equal(lr, imresize_uint8(hr, 1 / 3))


def test_eval_pairs_read_lr_dir(hr_dir, tmp_path):
    x2 = make_div2k_lr(hr_dir, 2, str(tmp_path / "lr"))
    from_files, _ = load_eval_pairs(hr_dir, 2, lr_dir=x2)
    computed, _ = load_eval_pairs(hr_dir, 2)
    for (_, lr_a, hr_a), (_, lr_b, hr_b) in zip(from_files, computed):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)


def test_worker_processes_fall_back_to_threads_when_dev_shm_is_small(monkeypatch, caplog):
    import collections
    import shutil
    from src.data import dataset as dataset_module
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(64 << 20, 0, 64 << 20))
    with caplog.at_level(logging.WARNING, logger="src.data"):
        assert dataset_module.use_processes(None, 2, 3.75, 1) is False
    assert "/dev/shm has 64 MB free" in caplog.text
    assert dataset_module.use_processes(True, 2, 3.75, 1) is True
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(8 << 30, 0, 8 << 30))
    assert dataset_module.use_processes(None, 2, 3.75, 1) is True


# ---------------------------------------------------------------- prepare_data

def test_manifest_lists_unique_checksummed_sources():
    from src.data.prepare import load_manifest
    manifest = load_manifest()
    names = [e["name"] for split in ("train", "val") for e in manifest[split]]
    assert len(names) == len(set(names)) and all(n.endswith(".png") for n in names)
    assert len(manifest["train"]) == 55 and len(manifest["val"]) == 10
    for entry in manifest["train"] + manifest["val"]:
        assert len(entry["sha256"]) == 64 and entry["licence"]
        assert ("package" in entry and entry["package"] in manifest["packages"]) or "pip" in entry
    assert all("baboon" not in e["path"] for e in manifest["train"])


def test_train_photos_are_shrunk_to_the_longer_side_limit():
    from src.data.prepare import shrink_to_max_side
    wide = np.zeros((1000, 3000, 3), np.uint8)
    assert shrink_to_max_side(wide, 2040).shape == (680, 2040, 3)
    small = np.zeros((300, 400, 3), np.uint8)
    assert shrink_to_max_side(small, 2040) is small


def test_make_multiscale_script_bad_factor_is_one_line(hr_dir, tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "scripts", "make_multiscale.py"),
                          "--hr_dir", hr_dir, "--factors", "1.5", "--out_dir",
                          str(tmp_path / "ms")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "[make_multiscale] error: --factors must be distinct downscale factors in (0, 1) "
        "(the original is 1: kept unless --copies_only), got [1.5]"]


def test_to_uint8_clips_and_rounds():
    got = to_uint8(np.array([-0.2, 0.0, 0.5 / 255, 0.7 / 255, 1.0, 1.3]))
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 255, 255])


def test_pad_to_multiple_replicates_the_edge_in_both_layouts():
    """One pad for evaluation's (H, W, C) and tiling's (B, C, H, W) arrays."""
    hwc = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    padded = pad_to_multiple(hwc, 4)
    assert padded.shape == (8, 8, 3)
    np.testing.assert_array_equal(padded[:5, :7], hwc)
    np.testing.assert_array_equal(padded[7, 7], hwc[4, 6])          # bottom-right corner
    nchw = pad_to_multiple(hwc.transpose(2, 0, 1)[None], 4, axes=(2, 3))
    np.testing.assert_array_equal(nchw[0].transpose(1, 2, 0), padded)
    assert pad_to_multiple(padded, 4) is padded                     # already a multiple
