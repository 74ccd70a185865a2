"""Deployable AsConvSR: the training network's function, in operators that export for any size.

Three Cells share one body (the layers, named exactly like the training network's, so
``blocks.0.convs.1.basis`` is the same Parameter name in both and a training checkpoint
loads into either):

    DeployAsConvSR  x -> sr                          the whole network, any H x W
    StatsNet        (x, interior, pooled) -> sums     tiling pass 1: the control inputs
    TileNet         (x, pooled) -> sr                 tiling pass 2: one tile, given them

Why three: the control module of each block pools its input over the *whole* image, so
a tile cannot compute its own coefficients. The pooled features are a mean, so StatsNet
returns, per block, the sum of that block's input features over the tile's interior
(``interior`` is a 0/1 mask at the unshuffled resolution); the host adds the tiles' sums
and divides by the pixel count. Block b's input depends on blocks < b, so with several
blocks the host runs one StatsNet pass per block, each with the means found so far
(entries for later blocks are ignored: set them to anything). TileNet then runs the
whole network on a tile with the whole-image means. See src/deploy/tiling.py.

Differences from src/model/asconvsr.py, all numerically neutral (tested):
    PixelUnshuffle / PixelShuffle / repeat_interleave / replicate padding ->
    the src/deploy/layers.py forms (PixelShuffle: a one-hot transposed convolution for
    MindSpore/MINDIR, DepthToSpace for ONNX: each is the fast one where it runs);
    batch 1 (the default): the assembled kernel feeds an ordinary groups = 1 convolution
    (the training net folds the batch into channels, whose Reshape bakes in H x W);
    basis_first and kernel_first are the same function, so both deploy as kernel_first.
Batch > 1 keeps the training net's grouped convolution and exports for a fixed size only.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter, Tensor

from src.config import ConfigError
from src.deploy.layers import ChannelsToSpace, RepeatChannels, SpaceToChannels, replicate_pad
from src.model.asconvsr import (AsConvSR, AsConvSRConfig, bicubic_phase_kernels,
                                per_sample_conv, pixel_rows, spatial_mean)


class DeployError(ConfigError):
    """A model or request the deploy path cannot serve; the message says what to do."""


def receptive_halo(cfg: AsConvSRConfig):
    """LR pixels a tile needs around its core so the core's output equals the whole
    image's: every convolution reaches k//2 pixels at the unshuffled resolution (u LR
    pixels each), the bicubic residual 2 LR pixels. A multiple of u, so tiles cut at
    multiples of u keep the unshuffle grid of the whole image."""
    convs = 2 + cfg.convs_per_block * cfg.num_blocks             # conv_first, blocks, conv_last
    halo = cfg.unshuffle * (cfg.kernel_size // 2) * convs
    if cfg.residual == "bicubic":
        halo = max(halo, 2)
    return -(-halo // cfg.unshuffle) * cfg.unshuffle


def uses_global_pooling(cfg: AsConvSRConfig):
    """True when the output of a pixel depends on the whole image (a control module)."""
    return cfg.block_type != "plain" and cfg.num_blocks > 0


def same_conv(in_channels, out_channels, kernel_size, bias):
    """nn.Conv2d laid out like the training net's conv3x3 (same Parameter names/shapes)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, pad_mode="pad",
                     padding=kernel_size // 2, has_bias=bias, weight_init="zeros",
                     bias_init="zeros")


def zeros_parameter(shape, name):
    return Parameter(Tensor(np.zeros(shape, np.float32)), name=name)


class DeployControl(nn.Cell):
    """The training ControlModule after its pooling: pooled (B, C) -> coefficients
    (B, n, rows, E) = softmax_E(fc2(relu(fc1(pooled))) / T)."""

    def __init__(self, cfg: AsConvSRConfig):
        super().__init__()
        channels, hidden = cfg.channels, max(1, cfg.channels // cfg.reduction)
        if cfg.block_type == "assembled":
            rows, num_kernels = channels, cfg.num_kernels
        else:
            rows, num_kernels = 1, cfg.dynamic_kernels
        self.shape = (cfg.convs_per_block, rows, num_kernels)
        # A Parameter, as in ControlModule: copy_parameters brings the T the weights were
        # trained for (a checkpoint taken while annealing holds its own), and dividing by
        # a Parameter rounds as the training graph does (a constant may be folded into a
        # multiplication by 1/T).
        self.temperature = Parameter(Tensor(float(cfg.temperature), ms.float32),
                                     name="temperature", requires_grad=False)
        self.fc1 = nn.Dense(channels, hidden)
        self.fc2 = nn.Dense(hidden, cfg.convs_per_block * rows * num_kernels)
        self.relu = nn.ReLU()

    def construct(self, pooled):
        logits = self.fc2(self.relu(self.fc1(pooled)))
        logits = logits.reshape((pooled.shape[0],) + self.shape)
        return ops.softmax(logits / self.temperature, axis=-1)


class DeployAssembledConv(nn.Cell):
    """Assembled convolution, kernel first: K = coeff @ basis, then one convolution.

    x: (B, Ci, H, W); coeff: (B, Co, E). Batch 1 runs an ordinary convolution with the
    (Co, Ci, k, k) kernel; batch B the training net's grouped convolution (groups = B).
    """

    def __init__(self, cfg: AsConvSRConfig, batch_size):
        super().__init__()
        c, e, k = cfg.channels, cfg.num_kernels, cfg.kernel_size
        self.batch_size = batch_size
        self.padding = k // 2
        self.basis = zeros_parameter((e, c, k, k), "basis")
        self.bias = zeros_parameter((1, c, 1, 1), "bias") if cfg.bias else None

    def construct(self, x, coeff):
        num_kernels = self.basis.shape[0]
        out_channels = coeff.shape[1]
        basis = self.basis.reshape(num_kernels, -1)                        # (E, Ci*k*k)
        kernels = ops.matmul(coeff.reshape(-1, num_kernels), basis)        # (B*Co, Ci*k*k)
        kernels = kernels.reshape((self.batch_size * out_channels,) + self.basis.shape[1:])
        if self.batch_size == 1:
            y = ops.conv2d(x, kernels, pad_mode="pad", padding=self.padding)
        else:
            y = per_sample_conv(x, kernels, self.padding)
        if self.bias is not None:
            y = y + self.bias
        return y


class DeployDynamicConv(nn.Cell):
    """Dynamic convolution (whole-kernel candidates), same two paths as above."""

    def __init__(self, cfg: AsConvSRConfig, batch_size):
        super().__init__()
        c, e, k = cfg.channels, cfg.dynamic_kernels, cfg.kernel_size
        self.batch_size = batch_size
        self.padding = k // 2
        self.candidates = zeros_parameter((e, c, c, k, k), "candidates")
        self.bias = zeros_parameter((1, c, 1, 1), "bias") if cfg.bias else None

    def construct(self, x, coeff):
        num_kernels = self.candidates.shape[0]
        kernels = ops.matmul(coeff.reshape(-1, num_kernels),
                             self.candidates.reshape(num_kernels, -1))     # (B, Co*Ci*k*k)
        kernels = kernels.reshape((-1,) + self.candidates.shape[2:])       # (B*Co, Ci, k, k)
        if self.batch_size == 1:
            y = ops.conv2d(x, kernels, pad_mode="pad", padding=self.padding)
        else:
            y = per_sample_conv(x, kernels, self.padding)
        if self.bias is not None:
            y = y + self.bias
        return y


class DeployBlock(nn.Cell):
    """One block. ``construct(x, pooled)``: pooled (B, C) is the mean of x over the whole
    image (ignored by plain blocks), so the caller decides where it comes from."""

    def __init__(self, cfg: AsConvSRConfig, batch_size):
        super().__init__()
        n = cfg.convs_per_block
        self.adaptive = cfg.block_type != "plain"
        if cfg.block_type == "assembled":
            convs = [DeployAssembledConv(cfg, batch_size) for _ in range(n)]
        elif cfg.block_type == "dynamic":
            convs = [DeployDynamicConv(cfg, batch_size) for _ in range(n)]
        else:
            convs = [same_conv(cfg.channels, cfg.channels, cfg.kernel_size, cfg.bias)
                     for _ in range(n)]
        if self.adaptive:
            self.control = DeployControl(cfg)
        self.convs = nn.CellList(convs)
        self.relu_flags = [cfg.relu == "all" or (cfg.relu == "block_end" and i == n - 1)
                           for i in range(n)]
        self.relu = nn.ReLU()

    def construct(self, x, pooled):
        if self.adaptive:
            coeffs = self.control(pooled)                    # (B, n, rows, E)
            for i, conv in enumerate(self.convs):
                x = conv(x, coeffs[:, i])
                if self.relu_flags[i]:
                    x = self.relu(x)
        else:
            for i, conv in enumerate(self.convs):
                x = conv(x)
                if self.relu_flags[i]:
                    x = self.relu(x)
        return x


class DeployBody(nn.Cell):
    """The layers and the three stages every deploy Cell is made of:
    ``features`` (unshuffle, conv_first), ``blocks[b]``, ``head`` (conv_last, shuffles,
    residual). Subclasses wire them in ``construct``."""

    def __init__(self, cfg: AsConvSRConfig, batch_size=1, shuffle="conv_transpose"):
        super().__init__()
        u, s = cfg.unshuffle, cfg.scale
        self.cfg = cfg
        self.space_to_channels = SpaceToChannels(3, u) if u > 1 else None
        self.conv_first = same_conv(3 * u * u, cfg.channels, cfg.kernel_size, cfg.bias)
        self.relu_first = cfg.relu != "none"
        self.blocks = nn.CellList([DeployBlock(cfg, batch_size) for _ in range(cfg.num_blocks)])
        self.conv_last = same_conv(cfg.channels, cfg.out_channels, cfg.kernel_size, cfg.bias)
        self.shuffle_unshuffle = ChannelsToSpace(3 * s * s, u, shuffle) if u > 1 else None
        self.shuffle_scale = ChannelsToSpace(3, s, shuffle) if s > 1 else None
        self.residual = cfg.residual
        self.repeat_residual = RepeatChannels(3, s * s)
        if cfg.residual == "bicubic":
            kernels = np.tile(bicubic_phase_kernels(s), (3, 1, 1, 1))     # (3s^2, 1, 5, 5)
            self.bicubic_kernels = Parameter(Tensor(kernels), name="bicubic_kernels",
                                             requires_grad=False)
        self.relu = nn.ReLU()

    def features(self, x):
        """(B, 3, H, W) -> block 1's input (B, C, h, w)."""
        feat = x if self.space_to_channels is None else self.space_to_channels(x)
        feat = self.conv_first(feat)
        if self.relu_first:
            feat = self.relu(feat)
        return feat

    def head(self, feat, x):
        """Last block's output (B, C, h, w) and the input x -> (B, 3, sH, sW)."""
        out = self.conv_last(feat)                               # (B, 3(us)^2, h, w)
        if self.shuffle_unshuffle is not None:
            out = self.shuffle_unshuffle(out)                    # (B, 3s^2, H, W)
        if self.residual == "repeat":
            out = out + self.repeat_residual(x)
        elif self.residual == "bicubic":
            padded = replicate_pad(x, 2)
            out = out + ops.conv2d(padded, self.bicubic_kernels, groups=3)
        if self.shuffle_scale is not None:
            out = self.shuffle_scale(out)                        # (B, 3, sH, sW)
        return out


class DeployAsConvSR(DeployBody):
    """x (B, 3, H, W) -> sr (B, 3, sH, sW): the training network, exportable for any size."""

    def construct(self, x):
        feat = self.features(x)
        for block in self.blocks:
            feat = block(feat, spatial_mean(feat))
        return self.head(feat, x)


class TileNet(DeployBody):
    """(tile (1, 3, Ht, Wt), pooled (num_blocks, C)) -> sr tile: the network with the
    control modules fed the whole image's pooled block inputs instead of the tile's."""

    def construct(self, x, pooled):
        feat = self.features(x)
        for b, block in enumerate(self.blocks):
            feat = block(feat, pooled[b:b + 1])
        return self.head(feat, x)


class StatsNet(DeployBody):
    """(tile, interior (1, 1, ht, wt) 0/1 at the unshuffled resolution, pooled
    (num_blocks, C)) -> sums (num_blocks, C): row b is block b's input summed over the
    interior. Valid for block b when ``pooled`` holds the true means of blocks < b."""

    def construct(self, x, interior, pooled):
        feat = self.features(x)
        sums = []
        for b, block in enumerate(self.blocks):
            sums.append(pixel_rows(feat * interior).sum(axis=1).reshape(1, -1))  # (1, C)
            if b + 1 < len(self.blocks):
                feat = block(feat, pooled[b:b + 1])
        return ops.concat(sums, axis=0)


def copy_parameters(source: nn.Cell, target: nn.Cell):
    """Copy every Parameter of ``target`` from the same-named one of ``source``.
    Raises DeployError naming the first Parameter that is missing or of another shape."""
    values = {p.name: p for p in source.get_parameters()}
    for param in target.get_parameters():
        if param.name not in values:
            raise DeployError(f"deploy network parameter '{param.name}' has no counterpart in "
                              f"the training network; the two are out of sync")
        value = values[param.name]
        if tuple(value.shape) != tuple(param.shape):
            raise DeployError(f"parameter '{param.name}': training {tuple(value.shape)} vs "
                              f"deploy {tuple(param.shape)}")
        param.set_data(Tensor(value.asnumpy()))
    return target


def deploy_from_training(net: AsConvSR, kind="full", batch_size=1, shuffle="conv_transpose"):
    """A fresh deploy Cell (``kind``: full, tile or stats) holding copies of ``net``'s
    trained Parameters. Fresh each call: MindSpore cannot export one Cell instance twice.
    ``shuffle``: the PixelShuffle form (src/deploy/layers.py ChannelsToSpace):
    conv_transpose for MindSpore and MINDIR, depth_to_space for ONNX."""
    classes = {"full": DeployAsConvSR, "tile": TileNet, "stats": StatsNet}
    if kind not in classes:
        raise DeployError(f"deploy kind must be one of {sorted(classes)}, got '{kind}'")
    if kind != "full" and batch_size != 1:
        raise DeployError("tile/stats graphs are batch 1 only")
    if (net.cfg.control_pool, net.cfg.control_norm) != ("mean", "none"):
        raise DeployError(f"control_pool {net.cfg.control_pool} / control_norm "
                          f"{net.cfg.control_norm} (an issue-17 experiment) has no deploy form "
                          f"yet: evaluate its checkpoint with eval.py, or use mean / none")
    if net.cfg.local_skip:
        raise DeployError("local_skip (an ablation of the paper's removed local residuals) "
                          "has no deploy form: evaluate its checkpoint with eval.py")
    if kind == "stats" and not uses_global_pooling(net.cfg):
        raise DeployError("a model without control modules (block_type plain) needs no "
                          "stats graph: any tile of it is computed independently")
    cell = classes[kind](net.cfg, batch_size, shuffle)
    cell.set_train(False)
    return copy_parameters(net, cell)


def pooled_shape(cfg: AsConvSRConfig):
    """Shape of the pooled-means input of TileNet / StatsNet: (num_blocks, C)."""
    return (cfg.num_blocks, cfg.channels)


def as_tensor(array):
    return Tensor(np.ascontiguousarray(array, dtype=np.float32), ms.float32)
