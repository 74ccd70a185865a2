"""research/chroma_guided.py: the window mean against a naive loop, and the guided filter
against what its local linear model must give."""
import numpy as np

from research.chroma_guided import box_mean, guided_filter


def naive_box_mean(image, radius):
    padded = np.pad(image.astype(np.float64), radius, mode="edge")
    side = 2 * radius + 1
    return np.array([[padded[i:i + side, j:j + side].mean() for j in range(image.shape[1])]
                     for i in range(image.shape[0])])


def test_box_mean_is_the_window_mean_with_edge_replicated_borders():
    image = np.random.default_rng(0).uniform(0, 255, (7, 9))
    for radius in (1, 2, 4):
        np.testing.assert_allclose(box_mean(image, radius), naive_box_mean(image, radius),
                                   atol=1e-9)


def test_guided_filter_keeps_a_colour_that_is_linear_in_its_guide():
    guide = np.random.default_rng(1).uniform(16, 235, (12, 10))
    colour = 0.3 * guide + 40.0                      # exactly a * guide + b everywhere
    np.testing.assert_allclose(guided_filter(guide, colour, 2, eps=1e-6), colour, atol=1e-3)


def test_guided_filter_with_a_flat_guide_is_a_double_window_mean():
    colour = np.random.default_rng(2).uniform(16, 240, (8, 8))
    flat = np.full_like(colour, 100.0)               # no variance: a = 0, b = window mean
    np.testing.assert_allclose(guided_filter(flat, colour, 1, eps=4.0),
                               box_mean(box_mean(colour, 1), 1), atol=1e-9)
