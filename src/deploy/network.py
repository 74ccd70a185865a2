"""Deployable AsConvSR: the training network's own stages, wired for export and tiling.

Three thin Cells around one trained :class:`AsConvSR` (its Cells and Parameters, not
copies: ``auto_prefix=False`` keeps the Parameter names, so ``blocks.0.convs.1.basis``
is the same name in a training checkpoint and in an exported graph):

    WholeImageNet  x -> sr                          the whole network, any H x W
    StatsNet       (x, interior, pooled) -> sums     tiling pass 1: the control inputs
    TileNet        (x, pooled) -> sr                 tiling pass 2: one tile, given them

Why three: the control module of each block pools its input over the *whole* image, so
a tile cannot compute its own coefficients. The pooled features are a mean, so StatsNet
returns, per block, the sum of that block's input features over the tile's interior
(``interior`` is a 0/1 mask at the unshuffled resolution); the host adds the tiles' sums
and divides by the pixel count. Block b's input depends on blocks < b, so with several
blocks the host runs one StatsNet pass per block, each with the means found so far
(entries for later blocks are ignored: set them to anything). TileNet then runs the
whole network on a tile with the whole-image means. See src/deploy/tiling.py.

What differs from training is only the pixel (un)shuffles' form (src/model/layers.py:
one-hot convolutions for MindSpore/MINDIR, Gather + DepthToSpace for ONNX, because
MindSpore 2.10 bakes H x W into exported PixelShuffle Reshapes). Batch 1 (the default)
runs the assembled kernel as an ordinary convolution (per_sample_conv); batch > 1 keeps
the grouped convolution, whose batch-folding Reshape exports for a fixed size only.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Tensor

from src.config import ConfigError
from src.model.asconvsr import AsConvSR, AsConvSRConfig, pixel_rows


class DeployError(ConfigError):
    """A model or request the deploy path cannot serve; the message says what to do."""


def receptive_halo(cfg: AsConvSRConfig):
    """LR pixels a tile needs around its core so the core's output equals the whole
    image's: every convolution reaches k//2 pixels at the unshuffled resolution (u LR
    pixels each), the bicubic residual and colour luma's bicubic Cb, Cr 2 LR pixels. A
    multiple of u, so tiles cut at multiples of u keep the unshuffle grid of the whole image."""
    convs = 2 + cfg.convs_per_block * cfg.num_blocks             # conv_first, blocks, conv_last
    halo = cfg.unshuffle * (cfg.kernel_size // 2) * convs
    if cfg.residual == "bicubic" or cfg.colour == "luma":
        halo = max(halo, 2)
    return -(-halo // cfg.unshuffle) * cfg.unshuffle


def uses_global_pooling(cfg: AsConvSRConfig):
    """True when the output of a pixel depends on the whole image (a control module)."""
    return cfg.block_type != "plain" and cfg.num_blocks > 0


class DeployCell(nn.Cell):
    """Holds the trained network without renaming its Parameters; ``form``: the pixel
    shuffles' exportable operators (conv_transpose or depth_to_space)."""

    def __init__(self, net: AsConvSR, form):
        super().__init__(auto_prefix=False)
        self.net = net
        self.form = form


class WholeImageNet(DeployCell):
    """x (B, 3, H, W) -> sr (B, 3, sH, sW): the training network, exportable for any size."""

    def construct(self, x):
        feat = self.net.features(x, self.form)
        for block in self.net.blocks:
            feat = block(feat, self.form)
        return self.net.head(feat, x, self.form)


class TileNet(DeployCell):
    """(tile (1, 3, Ht, Wt), pooled (num_blocks, C)) -> sr tile: the network with the
    control modules fed the whole image's pooled block inputs instead of the tile's."""

    def construct(self, x, pooled):
        feat = self.net.features(x, self.form)
        for b, block in enumerate(self.net.blocks):
            feat = block.given_pooled(feat, pooled[b:b + 1], self.form)
        return self.net.head(feat, x, self.form)


class StatsNet(DeployCell):
    """(tile, interior (1, 1, ht, wt) 0/1 at the unshuffled resolution, pooled
    (num_blocks, C)) -> sums (num_blocks, C): row b is block b's input summed over the
    interior. Valid for block b when ``pooled`` holds the true means of blocks < b."""

    def construct(self, x, interior, pooled):
        feat = self.net.features(x, self.form)
        sums = []
        for b, block in enumerate(self.net.blocks):
            sums.append(pixel_rows(feat * interior).sum(axis=1).reshape(1, -1))  # (1, C)
            if b + 1 < len(self.net.blocks):
                feat = block.given_pooled(feat, pooled[b:b + 1], self.form)
        return ops.concat(sums, axis=0)


def deploy_from_training(net: AsConvSR, kind="full", batch_size=1, shuffle="conv_transpose"):
    """A fresh deploy Cell (``kind``: full, tile or stats) around ``net`` itself (put in
    eval mode). Fresh each call: MindSpore cannot export one Cell instance twice.
    ``shuffle``: the PixelShuffle form (src/model/layers.py ChannelsToSpace):
    conv_transpose for MindSpore and MINDIR, depth_to_space for ONNX. ``batch_size``:
    what the graph will be fed (tile/stats graphs: 1 only)."""
    classes = {"full": WholeImageNet, "tile": TileNet, "stats": StatsNet}
    if kind not in classes:
        raise DeployError(f"deploy kind must be one of {sorted(classes)}, got '{kind}'")
    if shuffle not in ("conv_transpose", "depth_to_space"):
        raise DeployError(f"shuffle must be conv_transpose or depth_to_space, got '{shuffle}'")
    if kind != "full" and batch_size != 1:
        raise DeployError("tile/stats graphs are batch 1 only")
    if kind != "full" and net.cfg.control_pool != "mean":
        raise DeployError(f"control_pool {net.cfg.control_pool} (an issue-17 experiment) has "
                          f"no tiled form: its pooled std is not a sum over tiles; run it "
                          f"whole (infer.py without --tile) or use control_pool mean")
    if kind == "stats" and not uses_global_pooling(net.cfg):
        raise DeployError("a model without control modules (block_type plain) needs no "
                          "stats graph: any tile of it is computed independently")
    net.set_train(False)
    cell = classes[kind](net, shuffle)
    cell.set_train(False)
    return cell


def pooled_shape(cfg: AsConvSRConfig):
    """Shape of the pooled-means input of TileNet / StatsNet: (num_blocks, C)."""
    return (cfg.num_blocks, cfg.channels)


def as_tensor(array):
    return Tensor(np.ascontiguousarray(array, dtype=np.float32), ms.float32)
