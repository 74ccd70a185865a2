"""A fixed synthetic super-resolution task for tests: structured images, box-downscaled.

Images mix smooth gradients, sharp-edged rectangles and oriented sinusoid textures, so
an SR network has edges and textures to recover; LR = 2x2 (or s x s) block average.
Deterministic for a given seed."""
import os

import numpy as np


def structured_images(count, size, seed):
    """(count, 3, size, size) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.zeros((count, 3, size, size), np.float32)
    for n in range(count):
        img = rng.random((3, 1, 1)) * 0.5 + 0.25 * (xx * rng.random() + yy * rng.random())
        for _ in range(rng.integers(2, 5)):
            y0, x0 = rng.integers(0, size - 4, 2)
            h, w = rng.integers(3, size // 2, 2)
            img[:, y0:y0 + h, x0:x0 + w] = rng.random((3, 1, 1))
        freq, angle = rng.uniform(4, 10), rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        img = img + 0.15 * wave * rng.random((3, 1, 1))
        images[n] = np.clip(img, 0, 1)
    return images


def write_images(folder, count, size, seed):
    """``structured_images`` as PNGs 0000.png, 0001.png, ... in ``folder``; returns it."""
    import cv2
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(structured_images(count, size, seed)):
        bgr = (img.transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
        cv2.imwrite(os.path.join(folder, f"{i:04d}.png"), bgr)
    return folder


def box_downscale(images, scale):
    count, channels, height, width = images.shape
    blocks = images.reshape(count, channels, height // scale, scale, width // scale, scale)
    return blocks.mean(axis=(3, 5))


def sr_task(count, hr_size, scale, seed):
    """(lr, hr) float32 pairs of the synthetic task."""
    hr = structured_images(count, hr_size, seed)
    return box_downscale(hr, scale), hr


def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def random_photo_folder(folder, count, size):
    """``folder`` with ``count`` random uint8 RGB PNGs of size x size, v0.png, v1.png ..."""
    from PIL import Image
    folder.mkdir()
    for k in range(count):
        pixels = np.random.default_rng(k).integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"v{k}.png")
    return folder


def randomised(net, seed=0):
    """Random values in every trained Parameter (biases, zero-initialised branches and
    all), so an equality between two forms of the network means something; eval mode."""
    from mindspore import Tensor
    rng = np.random.default_rng(seed)
    for param in net.trainable_params():     # not the fixed bicubic kernels or temperature
        param.set_data(Tensor((0.3 * rng.standard_normal(param.shape)).astype(np.float32)))
    net.set_train(False)
    return net


def rand(*shape, seed=0):
    """A float32 array of ``shape``, uniform in [0, 1), the same for the same seed."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)
