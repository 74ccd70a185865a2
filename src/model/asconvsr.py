"""AsConvSR: fast and lightweight super-resolution with assembled convolutions.

Guo et al., "AsConvSR: Fast and Lightweight Super-Resolution Network with Assembled
Convolutions", CVPR 2023 workshops, arXiv:2305.03387; winner of the NTIRE 2023
Real-Time Super-Resolution challenge, track 1 (x2, 1080p -> 4K).

The file reads top to bottom:
    AsConvSRConfig   hyper-parameters (one typed object, built from the YAML config)
    RepKernel        option: a kernel trained as ECB's five branches, folded into one
    ControlModule    pooled features -> softmax mixing coefficients for a block's convs
    AssembledConv2d  per-sample kernels assembled from a shared basis (the paper's idea)
    DynamicConv2d    ablation: whole-kernel candidates, one coefficient each (Chen 2020)
    Block            what both block kinds share: convs in sequence, ReLUs, optional skip
    AssembledBlock   a control module + three assembled (or dynamic) convolutions
    PlainBlock       ablation: three ordinary convolutions
    ColourTransform  option: a fixed per-pixel colour matrix (colour luma: RGB <-> YCbCr)
    AsConvSR         unshuffle -> conv -> block(s) -> conv -> shuffle, residual, shuffle
    fold_reparam     the deploy form of a network trained with RepKernels

The network is written once. Its stages (``features``, a block ``given_pooled`` means,
``head``) are what src/deploy/network.py wires into the exported and tiled graphs, with
the same Cells and Parameters; the pixel (un)shuffles take a ``form`` there
(src/model/layers.py). Diagnostics read activations through ``AsConvSR.activations``.

Shape letters: B batch, C channels, E candidate kernels, k kernel size, H x W the
low-resolution input, h x w = H/u x W/u after pixel-unshuffle by u, s the scale, c the
colours the body works on (3: R, G, B; with colour luma 1: the Y).

Initialisation matters here (see ``ControlModule`` and ``AssembledConv2d.init_basis``):
a near-uniform softmax would give every output channel the same kernel, and averaging
E random kernels shrinks activations by ~sqrt(E). We start each output channel near
its own candidate and scale the basis so the assembled kernel has He variance; the
last conv starts small so the network begins as nearest-neighbour upscaling.
"""
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter, Tensor
from mindspore.common.initializer import initializer, Normal, Zero

from src.config import ConfigError, check_ranges
from src.metrics import YCBCR_OFFSETS, YCBCR_WEIGHTS
from src.model.layers import ChannelsToSpace, RepeatChannels, SpaceToChannels, replicate_pad


@dataclass
class AsConvSRConfig:
    scale: int = 2                # upscaling factor s
    channels: int = 32            # feature channels C (x2: 32, x3: 64, -L: 128)
    num_blocks: int = 1           # assembled blocks (-L: 2)
    num_kernels: int = 32         # E, candidate kernels per convolution
    convs_per_block: int = 3      # assembled convolutions per block (paper: 3)
    kernel_size: int = 3
    block_type: str = "assembled"   # assembled | dynamic | plain
    assembled_impl: str = "kernel_first"  # kernel_first | basis_first (same function)
    temperature: float = 30.0     # softmax temperature of the control module
    reduction: int = 4            # control module hidden width = C / reduction
    coeff_init_dominance: float = 0.9  # initial softmax weight of each channel's own candidate
    control_pool: str = "mean"    # mean (paper: global average pool) | mean_std (+ channel std)
    control_norm: str = "none"    # none (paper) | batch (BatchNorm on the hidden layer, ODConv)
    dynamic_kernels: int = 4      # E for block_type=dynamic (Chen et al. use 4)
    unshuffle: int = 2            # pixel-unshuffle factor u at the input (1 = none)
    residual: str = "repeat"      # repeat (nearest) | bicubic | none
    bias: bool = False            # bias in the convolutions (paper: none)
    relu: str = "all"             # all: after conv1 and every block conv | none (linear)
    relu_slope: float = 0.0       # slope below zero: 0 = ReLU (paper-like), > 0 = LeakyReLU
    local_skip: bool = False      # block output += block input (paper: removed; ablation)
    last_init_scale: float = 0.1  # multiplies conv2's He init: start close to the residual
    reparam: str = "none"         # none | ecb: every kernel trained as ECB branches (not paper)
    colour: str = "rgb"           # rgb (paper) | luma: body on Y, Cb/Cr bicubic (SRCNN; not paper)

    @classmethod
    def from_dict(cls, values):
        """Pick this dataclass's fields out of a (larger) flat config mapping."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(values).items() if k in names})

    def __post_init__(self):
        check_ranges(asdict(self))         # the numeric fields, as the config keys
        checks = [
            (self.scale >= 1, f"scale must be >= 1, got {self.scale}"),
            (self.unshuffle >= 1, f"unshuffle must be >= 1, got {self.unshuffle}"),
            (self.block_type in ("assembled", "dynamic", "plain"),
             f"block_type must be assembled, dynamic or plain, got '{self.block_type}'"),
            (self.assembled_impl in ("kernel_first", "basis_first"),
             f"assembled_impl must be kernel_first or basis_first, got '{self.assembled_impl}'"),
            (self.residual in ("repeat", "bicubic", "none"),
             f"residual must be repeat, bicubic or none, got '{self.residual}'"),
            (self.control_pool in ("mean", "mean_std"),
             f"control_pool must be mean or mean_std, got '{self.control_pool}'"),
            (self.control_norm in ("none", "batch"),
             f"control_norm must be none or batch, got '{self.control_norm}'"),
            (self.relu in ("all", "none"), f"relu must be all or none, got '{self.relu}'"),
            (self.reparam in ("none", "ecb"), f"reparam must be none or ecb, got '{self.reparam}'"),
            (self.colour in ("rgb", "luma"), f"colour must be rgb or luma, got '{self.colour}'"),
            (self.reparam == "none" or (self.kernel_size == 3 and not self.bias
                                        and self.block_type != "dynamic"),
             "reparam ecb needs kernel_size 3, bias False and block_type assembled or plain"),
            (self.kernel_size % 2 == 1, f"kernel_size must be odd, got {self.kernel_size}"),
            (self.channels >= self.reduction, "channels must be >= reduction"),
            (0.0 < self.coeff_init_dominance < 1.0 or self.num_kernels == 1,
             f"coeff_init_dominance must be in (0, 1), got {self.coeff_init_dominance}"),
            (self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"model config: {message}")

    @property
    def colours(self):
        """c, the colours the body works on: R, G, B, or with colour luma the Y alone."""
        return 1 if self.colour == "luma" else 3

    @property
    def out_channels(self):
        """conv2's output channels: c colours x (u * s)^2 sub-pixel positions."""
        return self.colours * (self.unshuffle * self.scale) ** 2


def activation(cfg: AsConvSRConfig):
    """The body's activation: ReLU, or with relu_slope > 0 a LeakyReLU. Why the option: a
    bias-free ReLU channel whose weights turn negative on the non-negative features before
    it outputs zero for every input and gets no gradient again; at lr 1e-3 the last block
    conv's channels died one by one until the output was the bare residual
    (docs/recipe.md). A leaky slope keeps a gradient flowing, as FSRCNN's PReLU does."""
    return nn.LeakyReLU(cfg.relu_slope) if cfg.relu_slope > 0 else nn.ReLU()


def he_std(fan_in):
    """Standard deviation of He (Kaiming) normal initialisation for a ReLU network."""
    return math.sqrt(2.0 / fan_in)


def conv3x3(in_channels, out_channels, kernel_size, bias, init_scale=1.0):
    """Ordinary 'same' convolution with He-normal weights (times init_scale)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, pad_mode="pad",
                     padding=kernel_size // 2, has_bias=bias, weight_init="zeros",
                     bias_init="zeros")
    std = init_scale * he_std(in_channels * kernel_size * kernel_size)
    conv.weight.set_data(initializer(Normal(sigma=std), conv.weight.shape, ms.float32))
    return conv


class RepKernel(nn.Cell):
    """A 3x3 kernel bank (Co, Ci, 3, 3) trained as the five branches of ECB (Zhang, Zeng and
    Zhang, "Edge-oriented Convolution Block for Real-time Super Resolution on Mobile
    Devices", ACM MM 2021): a 3x3 conv, a 1x1 conv to 2*Co channels then a 3x3 conv, and
    1x1 convs followed by fixed Sobel-x, Sobel-y and Laplacian filters with a learnt scale
    per output channel. Every branch is bias-free (ECB's carry biases; ours would not
    fold exactly through the zero padding), so a chain of them is one convolution:

        K = K3 + W3 @ W1 + sum_f diag(scale_f) @ A_f (x) mask_f

    and the network convolves with K itself, the folded form, in training too: the same
    function as the branches run one by one, for the cost of building K once a step.
    What the branches change is only how the kernel's entries learn. ``fold_reparam``
    stores K as an ordinary weight for inference and export.

    K3 starts with the kernel the unreparameterised network would draw; W3 and the scales
    start at zero, so K starts as K3 and the other branches still get gradients."""

    MASKS = np.array([[[1, 0, -1], [2, 0, -2], [1, 0, -1]],            # Sobel x
                      [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],            # Sobel y
                      [[0, 1, 0], [1, -4, 1], [0, 1, 0]]], np.float32)  # Laplacian
    EXPAND = 2                              # ECB's depth multiplier of the 1x1-3x3 branch

    def __init__(self, out_channels, in_channels, std):
        super().__init__()
        mid = self.EXPAND * out_channels
        self.k3 = Parameter(initializer(Normal(sigma=std), (out_channels, in_channels, 3, 3),
                                        ms.float32), name="k3")
        self.w1 = Parameter(initializer(Normal(sigma=he_std(in_channels)), (mid, in_channels),
                                        ms.float32), name="w1")
        self.w3 = Parameter(initializer(Zero(), (out_channels, 3, 3, mid), ms.float32), name="w3")
        self.edge_1x1 = Parameter(initializer(Normal(sigma=he_std(in_channels)),
                                              (3, out_channels, in_channels), ms.float32),
                                  name="edge_1x1")
        self.edge_scale = Parameter(initializer(Zero(), (3, out_channels, 1), ms.float32),
                                    name="edge_scale")
        self.masks = Tensor(self.MASKS.reshape(3, 1, 1, 9))
        self.shape = (out_channels, in_channels, 3, 3)

    def construct(self):
        out_channels, in_channels = self.shape[0], self.shape[1]
        expand = ops.matmul(self.w3.reshape(-1, self.w3.shape[3]), self.w1)  # (Co*9, Ci)
        expand = expand.reshape(out_channels, 9, in_channels).transpose(0, 2, 1)  # (Co, Ci, 9)
        mixes = (self.edge_scale * self.edge_1x1).reshape(3, out_channels, in_channels, 1)
        edges = (mixes * self.masks).sum(axis=0)                              # (Co, Ci, 9)
        return self.k3 + (expand + edges).reshape(self.shape)                # (Co, Ci, 3, 3)


class RepConv2d(nn.Cell):
    """An ordinary bias-free 'same' 3x3 convolution whose kernel is a RepKernel."""

    def __init__(self, in_channels, out_channels, std):
        super().__init__()
        self.rep = RepKernel(out_channels, in_channels, std)

    def construct(self, x):
        return ops.conv2d(x, self.rep(), pad_mode="pad", padding=1)


def static_conv(cfg, in_channels, out_channels, init_scale=1.0):
    """The network's ordinary convolutions: nn.Conv2d, or with reparam ecb a RepConv2d
    whose kernel starts as the one nn.Conv2d would draw."""
    if cfg.reparam == "ecb":
        std = init_scale * he_std(in_channels * cfg.kernel_size ** 2)
        return RepConv2d(in_channels, out_channels, std)
    return conv3x3(in_channels, out_channels, cfg.kernel_size, cfg.bias, init_scale)


def per_sample_conv(x, kernels, padding):
    """Convolve every sample with its own kernels as ONE grouped convolution.

    x: (B, Ci, H, W); kernels: (B*Co, Ci, k, k), rows b*Co..(b+1)*Co-1 belong to sample b.
    The batch is folded into channels, (1, B*Ci, H, W), and groups = B keeps the
    samples apart: group b sees input channels b*Ci.. and owns output channels b*Co..
    Batch 1 is an ordinary convolution (the fold's Reshape would bake H x W into an
    exported graph). Returns (B, Co, H, W).
    """
    batch, in_channels, height, width = x.shape
    if batch == 1:
        return ops.conv2d(x, kernels, pad_mode="pad", padding=padding)
    out_channels = kernels.shape[0] // batch
    folded = x.reshape(1, batch * in_channels, height, width)         # (1, B*Ci, H, W)
    y = ops.conv2d(folded, kernels, pad_mode="pad", padding=padding, groups=batch)
    return y.reshape(batch, out_channels, height, width)              # (B, Co, H, W)


def pixel_rows(x):
    """(B, C, H, W) -> (B*C, H*W): reduce over pixels as a 2-D row reduction. MindSpore's
    CPU ReduceMean over axes (2, 3) of a 4-D tensor is many times slower than row means,
    forward and gradient (figures and command: docs/performance.md#performance). The same
    numbers up to float rounding."""
    return x.reshape(x.shape[0] * x.shape[1], -1)


def spatial_mean(x):
    """(B, C, H, W) -> (B, C): the global average pool of the control module."""
    return pixel_rows(x).mean(axis=1).reshape(x.shape[0], x.shape[1])


class ControlModule(nn.Cell):
    """Global features -> mixing coefficients for every convolution of a block.

    pool -> FC C' -> C/reduction [-> BatchNorm] -> ReLU -> FC -> (B, n, rows, E)
    -> softmax_E(. / T). The paper pools by global average (C' = C); ``pool`` and
    ``coefficients`` are separate so tiling can feed whole-image statistics to a tile.

    Args:
        in_channels: channels C of the block input f_in.
        num_convs: n, convolutions the block assembles (3).
        rows: coefficient rows per convolution: Co for assembled convolutions (one
            mixing vector per output channel), 1 for dynamic convolution.
        num_kernels: E, the candidates mixed.
        temperature: softmax temperature T, held in a non-trainable Parameter so training
            can anneal it without recompiling the graph, and a checkpoint records the T its
            weights were trained for (checkpoints from before it load with the config's T:
            src/checkpoint.py).
        reduction: hidden width is in_channels // reduction.
        dominance: initial softmax weight p of row r's own candidate r mod E; None starts
            uniform (dynamic convolution's choice). A uniform start would give all output
            channels of an assembled conv the same kernel, so the block would begin as
            one channel copied Co times.
        pool: "mean" (the paper's average pool) or "mean_std", which adds each channel's
            standard deviation over the pixels: a mean of ReLU features barely moves
            between a clean and a JPEG-compressed input, their spread does.
        norm: "none" or "batch": BatchNorm on the hidden layer, as ODConv's attention
            branch has. It scales the differences between samples to unit variance, so
            the logits differ between inputs from the start instead of by the pooled
            features' small spread times a small weight. In eval mode it is an affine map.
    """

    def __init__(self, in_channels, num_convs, rows, num_kernels, temperature, reduction,
                 dominance=None, pool="mean", norm="none"):
        super().__init__()
        hidden = max(1, in_channels // reduction)
        self.shape = (num_convs, rows, num_kernels)
        self.with_std = pool == "mean_std"
        self.temperature = Parameter(Tensor(float(temperature), ms.float32), name="temperature",
                                     requires_grad=False)
        self.fc1 = nn.Dense(in_channels * (2 if self.with_std else 1), hidden)
        self.norm = nn.BatchNorm1d(hidden) if norm == "batch" else None
        self.fc2 = nn.Dense(hidden, num_convs * rows * num_kernels)
        self.relu = nn.ReLU()
        self.fc2.bias.set_data(Tensor(self.initial_logits(dominance).reshape(-1)))

    def initial_logits(self, dominance):
        """fc2's bias: logits whose softmax(. / T) puts weight p on candidate r mod E."""
        num_convs, rows, num_kernels = self.shape
        logits = np.zeros(self.shape, np.float32)
        if dominance is not None and num_kernels > 1:
            # softmax gives p to one entry and (1-p)/(E-1) to each other when that entry's
            # logit exceeds the rest by T * log(p (E-1) / (1-p)).
            margin = float(self.temperature.asnumpy()) * math.log(dominance * (num_kernels - 1) / (1 - dominance))
            own = np.arange(rows) % num_kernels
            logits[:, np.arange(rows), own] = margin
        return logits

    def pool(self, x):
        """(B, C, h, w) -> (B, C) channel means, or (B, 2C) means and stds."""
        mean = spatial_mean(x)                                # (B, C)
        if not self.with_std:
            return mean
        rows = pixel_rows(x)                                  # (B*C, h*w)
        second = (rows * rows).mean(axis=1).reshape(mean.shape)
        std = ops.sqrt(ops.relu(second - mean * mean) + 1e-6)
        return ops.concat((mean, std), axis=1)                # (B, 2C)

    def coefficients(self, pooled):
        """pooled (B, C') -> coefficients (B, n, rows, E)."""
        hidden = self.fc1(pooled)                             # (B, C/reduction)
        if self.norm is not None:
            hidden = self.norm(hidden)
        logits = self.fc2(self.relu(hidden))                  # (B, n*rows*E)
        logits = logits.reshape((pooled.shape[0],) + self.shape)  # (B, n, rows, E)
        return ops.softmax(logits / self.temperature, axis=-1)

    def construct(self, x):
        return self.coefficients(self.pool(x))


def initial_coefficients(num_kernels, dominance):
    """The softmax vector a row starts with (see ControlModule.initial_logits)."""
    if dominance is None or num_kernels == 1:
        return np.full(num_kernels, 1.0 / num_kernels)
    rest = (1.0 - dominance) / (num_kernels - 1)
    return np.array([dominance] + [rest] * (num_kernels - 1))


class AssembledConv2d(nn.Cell):
    """Assembled convolution: output channel j of sample b uses its own kernel

        K[b, j] = sum_i coeff[b, j, i] * basis[i],   basis[i] in R^{Ci x k x k}

    The basis (E, Ci, k, k) is shared by all output channels; each output channel has
    its own mixing vector. Two equal computations (convolution is linear in the kernel):

    kernel_first (the reference's): one matmul builds every kernel, one grouped conv
    (groups = B) applies them. The naive loop it replaces, for checking:

        for b in range(B):
            for j in range(Co):
                K = sum(coeff[b, j, i] * basis[i] for i in range(E))     # (Ci, k, k)
                y[b, j] = conv2d(x[b:b+1], K[None])[0, 0]

    basis_first: convolve with the E basis kernels (weights shared over the batch, an
    ordinary conv), then mix: y[b, j] = sum_i coeff[b, j, i] * z[b, i]. Cheaper when
    E*H*W*Co < Co*Ci*k*k*B... in practice it trades a B-way grouped conv for a batched
    matmul over the pixels.

    Args:
        in_channels: Ci. out_channels: Co. num_kernels: E. kernel_size: k.
        impl: "kernel_first" or "basis_first".
        bias: add a static per-output-channel bias (ablation; the paper uses none).
        init_coefficients: the coefficient vector each row starts with, used to scale the
            basis so the assembled kernel starts with He variance.
    """

    def __init__(self, in_channels, out_channels, num_kernels, kernel_size, impl, bias,
                 init_coefficients, reparam="none"):
        super().__init__()
        self.out_channels = out_channels
        self.padding = kernel_size // 2
        self.kernel_first = impl == "kernel_first"
        # A mix sum_i c_i k_i of independent kernels has variance sum_i c_i^2 * var(k);
        # divide it out so the assembled kernel has exactly He variance at the start.
        gain = 1.0 / math.sqrt(float(np.sum(np.square(init_coefficients))))
        std = gain * he_std(in_channels * kernel_size * kernel_size)
        shape = (num_kernels, in_channels, kernel_size, kernel_size)
        if reparam == "ecb":            # the basis is a bank of E kernels like any conv's
            self.rep, self.basis = RepKernel(num_kernels, in_channels, std), None
        else:
            self.rep = None
            self.basis = Parameter(initializer(Normal(sigma=std), shape, ms.float32),
                                   name="basis")
        self.bias = Parameter(initializer(Zero(), (1, out_channels, 1, 1), ms.float32),
                              name="bias") if bias else None

    def kernel_bank(self):
        """The basis (E, Ci, k, k)."""
        if self.rep is None:
            return self.basis
        return self.rep()

    def construct(self, x, coeff):
        # x: (B, Ci, H, W); coeff: (B, Co, E)
        batch = x.shape[0]
        bank = self.kernel_bank()                                            # (E, Ci, k, k)
        num_kernels = bank.shape[0]
        if self.kernel_first:
            basis = bank.reshape(num_kernels, -1)                             # (E, Ci*k*k)
            kernels = ops.matmul(coeff.reshape(batch * self.out_channels, num_kernels), basis)
            kernels = kernels.reshape((batch * self.out_channels,) + bank.shape[1:])
            y = per_sample_conv(x, kernels, self.padding)                    # (B, Co, H, W)
        else:
            z = ops.conv2d(x, bank, pad_mode="pad", padding=self.padding)    # (B, E, H, W)
            height, width = z.shape[2], z.shape[3]
            y = ops.bmm(coeff, z.reshape(batch, num_kernels, height * width))   # (B, Co, H*W)
            y = y.reshape(batch, self.out_channels, height, width)
        if self.bias is not None:
            y = y + self.bias
        return y


class DynamicConv2d(nn.Cell):
    """Dynamic convolution (Chen et al., CVPR 2020), the ablation's middle row:
    K[b] = sum_i coeff[b, i] * candidates[i], candidates[i] in R^{Co x Ci x k x k}:
    whole kernels, one coefficient per candidate per sample. Same grouped conv as above.
    """

    def __init__(self, in_channels, out_channels, num_kernels, kernel_size, bias,
                 init_coefficients):
        super().__init__()
        self.padding = kernel_size // 2
        gain = 1.0 / math.sqrt(float(np.sum(np.square(init_coefficients))))
        std = gain * he_std(in_channels * kernel_size * kernel_size)
        shape = (num_kernels, out_channels, in_channels, kernel_size, kernel_size)
        self.candidates = Parameter(initializer(Normal(sigma=std), shape, ms.float32),
                                    name="candidates")
        self.bias = Parameter(initializer(Zero(), (1, out_channels, 1, 1), ms.float32),
                              name="bias") if bias else None

    def construct(self, x, coeff):
        # x: (B, Ci, H, W); coeff: (B, 1, E)
        batch = x.shape[0]
        num_kernels = self.candidates.shape[0]
        kernels = ops.matmul(coeff.reshape(batch, num_kernels),
                             self.candidates.reshape(num_kernels, -1))   # (B, Co*Ci*k*k)
        kernels = kernels.reshape((-1,) + self.candidates.shape[2:])     # (B*Co, Ci, k, k)
        y = per_sample_conv(x, kernels, self.padding)
        if self.bias is not None:
            y = y + self.bias
        return y


class Block(nn.Cell):
    """What every block shares: ``convs_per_block`` convolutions in sequence, a ReLU after
    each (relu all), no local skip connection: the paper drops them to save memory
    traffic (``local_skip`` adds it back, an ablation). Subclasses say where a conv's
    coefficients come from (``per_conv``)."""

    def __init__(self, cfg: AsConvSRConfig):
        super().__init__()                 # subclasses add self.convs (an nn.CellList)
        self.relu_inside = cfg.relu == "all"
        self.relu = activation(cfg)
        self.local_skip = cfg.local_skip

    def per_conv(self, coeffs, form):
        """n x (B, rows, E) from coeffs (B, n, rows, E); None for static convolutions."""
        return None

    def conv_outputs(self, x, coeffs=None, form="train"):
        """(output of every conv, after its ReLU) for x (B, C, h, w) and coeffs
        (B, n, rows, E); the last is the block's output before any local skip."""
        per_conv = self.per_conv(coeffs, form)
        outputs = ()
        for i, conv in enumerate(self.convs):
            if per_conv is None:
                x = conv(x)                                       # (B, C, h, w)
            else:
                x = conv(x, per_conv[i])                          # (B, C, h, w)
            if self.relu_inside:
                x = self.relu(x)
            outputs = outputs + (x,)
        return outputs

    def output(self, x, conv_outputs):
        """The block's output from its input and its convs' outputs (+ the local skip)."""
        return conv_outputs[-1] + x if self.local_skip else conv_outputs[-1]

    def given_coefficients(self, x, coeffs=None, form="train"):
        """The block on x (B, C, h, w) with these coefficients (B, n, rows, E)."""
        return self.output(x, self.conv_outputs(x, coeffs, form))


class AssembledBlock(Block):
    """One control module, then the assembled (or dynamic) convolutions. The control
    module sees only the block input, so all coefficients are known before the first
    convolution runs; tiling feeds it the whole image's pooled block input
    (``given_pooled``).
    """

    def __init__(self, cfg: AsConvSRConfig):
        super().__init__(cfg)
        channels, n = cfg.channels, cfg.convs_per_block
        if cfg.block_type == "assembled":
            num_kernels, rows, dominance = cfg.num_kernels, channels, cfg.coeff_init_dominance
        else:
            num_kernels, rows, dominance = cfg.dynamic_kernels, 1, None
        # the control module first: a seed gives the initial weights it always gave
        self.control = ControlModule(channels, n, rows, num_kernels, cfg.temperature,
                                     cfg.reduction, dominance, cfg.control_pool, cfg.control_norm)
        start = initial_coefficients(num_kernels, dominance)
        if cfg.block_type == "assembled":
            convs = [AssembledConv2d(channels, channels, num_kernels, cfg.kernel_size,
                                     cfg.assembled_impl, cfg.bias, start, cfg.reparam)
                     for _ in range(n)]
        else:
            convs = [DynamicConv2d(channels, channels, num_kernels, cfg.kernel_size,
                                   cfg.bias, start) for _ in range(n)]
        self.convs = nn.CellList(convs)

    def per_conv(self, coeffs, form):
        # unstack, not coeffs[:, i]: on CPU three StridedSlice ops (and their gradients)
        # cost several times one unstack (docs/performance.md#performance). ONNX export
        # has no Unstack, so exported graphs slice.
        if form == "train":
            return ops.unstack(coeffs, axis=1)                    # n x (B, rows, E)
        return [coeffs[:, i] for i in range(len(self.convs))]

    def given_pooled(self, x, pooled, form="train"):
        """The block with its control module fed ``pooled`` (B, C'), e.g. a whole image's."""
        return self.given_coefficients(x, self.control.coefficients(pooled), form)

    def construct(self, x, form="train"):
        return self.given_pooled(x, self.control.pool(x), form)


class PlainBlock(Block):
    """Ablation: the block with ordinary (static) convolutions, same shape. Takes the
    same calls as AssembledBlock and ignores coefficients and pooled features."""

    def __init__(self, cfg: AsConvSRConfig):
        super().__init__(cfg)
        self.convs = nn.CellList([static_conv(cfg, cfg.channels, cfg.channels)
                                  for _ in range(cfg.convs_per_block)])

    def given_pooled(self, x, pooled=None, form="train"):
        return self.given_coefficients(x)

    def construct(self, x, form="train"):
        return self.given_coefficients(x)


def bicubic_phase_kernels(scale, a=-0.5):
    """Depthwise kernels (s*s, 1, 5, 5) that upscale by s with the bicubic kernel
    (align_corners=False, edge pixels repeated): phase channel p*s+q holds output pixel
    (s*i+p, s*j+q), the same channel order PixelShuffle(s) reads. Used for the
    'bicubic' residual of the ablation and colour luma's Cb and Cr."""
    def cubic(t):
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        if t < 2:
            return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
        return 0.0

    taps = np.zeros((scale, 5))
    for p in range(scale):
        offset = (p + 0.5) / scale - 0.5             # source position relative to pixel i
        for m in range(-2, 3):
            taps[p, m + 2] = cubic(m - offset)
        taps[p] /= taps[p].sum()
    kernels = np.einsum("pm,qn->pqmn", taps, taps).reshape(scale * scale, 1, 5, 5)
    return kernels.astype(np.float32)


def bicubic_phases(x, kernels, channels):
    """(B, c, H, W) -> (B, c*s^2, H, W): channel i*s^2 + p holds channel i's bicubic phase
    p, for ``kernels`` = bicubic_phase_kernels(s) tiled c times (c = ``channels``)."""
    return ops.conv2d(replicate_pad(x, 2), kernels, groups=channels)


class ColourTransform(nn.Cell):
    """A fixed affine map of the colours at every pixel, out = W x + b with W (Co, Ci) and
    b (Co,), as a 1x1 convolution (ops.einsum has no CPU kernel). W and b are constant
    Tensors, not Parameters: nothing trains them and checkpoints do not hold them."""

    def __init__(self, weights, offsets):
        super().__init__()
        weights = np.asarray(weights, np.float32)
        self.weights = Tensor(weights.reshape(weights.shape + (1, 1)))    # (Co, Ci, 1, 1)
        self.offsets = Tensor(np.asarray(offsets, np.float32))           # (Co,)

    def construct(self, x):
        return ops.conv2d(x, self.weights, self.offsets)                 # (B, Co, H, W)


class AsConvSR(nn.Cell):
    """The network: (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW).

    PixelUnshuffle(u) -> conv cu^2 -> C (+ReLU) -> block(s) -> conv C -> c(us)^2
    -> PixelShuffle(u) -> + residual -> PixelShuffle(s), c = 3 colours (luma: below).

    The residual is added between the two pixel shuffles: after PixelShuffle(u) the
    tensor is (B, cs^2, H, W), and PixelShuffle(s) maps channels i*s^2 .. i*s^2+s^2-1
    to colour i. Repeating each input channel s^2 times consecutively (repeat_interleave,
    not tiling) and then shuffling is exactly nearest-neighbour upscaling, for the cost
    of an add at LR size.

    Stages: ``features`` (unshuffle, conv_first), the blocks, ``head`` (conv_last,
    shuffles, residual); ``form`` picks the shuffles' operators (src/model/layers.py).

    ``colour luma`` (SRCNN's and FSRCNN's convention; our option, the paper's network is
    RGB): the body works on the luma Y alone, c = 1 where the paper has 3. ``features``
    converts the RGB input to Y, ``head`` adds Y's residual, upscales the input's Cb and
    Cr by the bicubic residual's fixed filter and converts the SR Y with them back to RGB.
    Y, Cb, Cr are MATLAB's rgb2ycbcr (src/metrics.py, the Y of every PSNR-Y) scaled to
    [0, 1]; the way back is its exact inverse. Still RGB in, RGB out.
    """

    def __init__(self, cfg: AsConvSRConfig):
        super().__init__()
        self.cfg = cfg
        u, s, channels, c = cfg.unshuffle, cfg.scale, cfg.channels, cfg.colours
        self.colours = c
        self.luma = cfg.colour == "luma"
        if self.luma:     # rgb2ycbcr for [0, 1] images: the offsets / 255, the same weights
            weights, offsets = YCBCR_WEIGHTS, YCBCR_OFFSETS / 255.0
            inverse = np.linalg.inv(weights)
            self.to_luma = ColourTransform(weights[:1], offsets[:1])      # RGB -> Y
            self.to_chroma = ColourTransform(weights[1:], offsets[1:])    # RGB -> Cb, Cr
            self.to_rgb = ColourTransform(inverse, -inverse @ offsets)    # Y, Cb, Cr -> RGB
            self.chroma_kernels = Tensor(np.tile(bicubic_phase_kernels(s), (2, 1, 1, 1)))
            self.shuffle_chroma = ChannelsToSpace(2, s) if s > 1 else None
        self.unshuffle = SpaceToChannels(c, u) if u > 1 else None
        self.conv_first = static_conv(cfg, c * u * u, channels)
        self.relu_first = cfg.relu != "none"
        self.relu = activation(cfg)
        block = PlainBlock if cfg.block_type == "plain" else AssembledBlock
        self.blocks = nn.CellList([block(cfg) for _ in range(cfg.num_blocks)])
        self.conv_last = static_conv(cfg, channels, cfg.out_channels, cfg.last_init_scale)
        self.shuffle_unshuffle = ChannelsToSpace(c * s * s, u) if u > 1 else None
        self.shuffle_scale = ChannelsToSpace(c, s) if s > 1 else None
        self.residual = cfg.residual
        self.repeat_residual = RepeatChannels(c, s * s)
        self.unshuffle_factor = u
        if cfg.residual == "bicubic":
            kernels = np.tile(bicubic_phase_kernels(s), (c, 1, 1, 1))  # (cs^2, 1, 5, 5)
            self.bicubic_kernels = Parameter(Tensor(kernels), name="bicubic_kernels",
                                             requires_grad=False)

    def set_temperature(self, value):
        """Set the softmax temperature of every control module (annealing)."""
        for _, cell in self.cells_and_names():
            if isinstance(cell, ControlModule):
                cell.temperature.set_data(Tensor(float(value), ms.float32))

    def temperature(self):
        """The control modules' current softmax temperature (None without them)."""
        for _, cell in self.cells_and_names():
            if isinstance(cell, ControlModule):
                return float(cell.temperature.asnumpy())
        return None

    def features(self, x, form="train"):
        """(B, 3, H, W) -> the first block's input (B, C, h, w)."""
        if self.luma:
            x = self.to_luma(x)                                           # (B, 1, H, W)
        feat = x if self.unshuffle is None else self.unshuffle(x, form)   # (B, cu^2, h, w)
        feat = self.conv_first(feat)                                      # (B, C, h, w)
        return self.relu(feat) if self.relu_first else feat

    def upscale_residual(self, x):
        """(B, c, H, W) -> (B, cs^2, H, W), channel i*s^2 + p holds colour i's phase p."""
        if self.residual == "repeat":
            return self.repeat_residual(x)
        return bicubic_phases(x, self.bicubic_kernels, self.colours)

    def upscale_chroma(self, x, form="train"):
        """colour luma: the RGB input (B, 3, H, W) -> its Cb, Cr (B, 2, sH, sW), bicubic."""
        phases = bicubic_phases(self.to_chroma(x), self.chroma_kernels, 2)  # (B, 2s^2, H, W)
        return phases if self.shuffle_chroma is None else self.shuffle_chroma(phases, form)

    def head(self, feat, x, form="train"):
        """The last block's output (B, C, h, w) and the input x -> (B, 3, sH, sW)."""
        out = self.conv_last(feat)                                   # (B, c(us)^2, h, w)
        if self.shuffle_unshuffle is not None:
            out = self.shuffle_unshuffle(out, form)                  # (B, cs^2, H, W)
        if self.residual != "none":                                  # of (B, c, H, W)
            out = out + self.upscale_residual(self.to_luma(x) if self.luma else x)
        if self.shuffle_scale is not None:
            out = self.shuffle_scale(out, form)                      # (B, c, sH, sW)
        if self.luma:                                                # SR Y, bicubic Cb, Cr
            out = ops.concat((out, self.upscale_chroma(x, form)), axis=1)
            out = self.to_rgb(out)                                   # (B, 3, sH, sW)
        return out

    def construct(self, x):
        height, width = x.shape[2], x.shape[3]
        if height % self.unshuffle_factor != 0 or width % self.unshuffle_factor != 0:
            raise ValueError(f"input size {height}x{width} is not divisible by the "
                             f"pixel-unshuffle factor {self.unshuffle_factor}; pad or crop it")
        feat = self.features(x)
        for block in self.blocks:
            feat = block(feat)                                       # (B, C, h, w)
        return self.head(feat, x)

    def activations(self, x, coefficients=None):
        """PyNative diagnostics: the forward pass of x (B, 3, H, W), with what each stage
        made: {"stem": first block input, "blocks": [{"input", "coefficients" (B, n,
        rows, E) or None for plain, "conv_outputs": (after each ReLU)}], "sr"}.
        ``coefficients``: one (n, rows, E) array per block with a control module, used
        for every sample instead of the control module's (the control probe's swap)."""
        feat, record = self.features(x), []
        fixed = iter(coefficients) if coefficients is not None else None
        for block in self.blocks:
            coeffs = None
            if isinstance(block, AssembledBlock) and fixed is None:
                coeffs = block.control(feat)                      # (B, n, rows, E)
            elif isinstance(block, AssembledBlock):
                given = Tensor(np.ascontiguousarray(next(fixed), np.float32))  # (n, rows, E)
                coeffs = ops.broadcast_to(given[None], (feat.shape[0],) + given.shape)
            outputs = block.conv_outputs(feat, coeffs)
            record.append({"input": feat, "coefficients": coeffs, "conv_outputs": outputs})
            feat = block.output(feat, outputs)
        return {"stem": record[0]["input"] if record else feat, "blocks": record,
                "sr": self.head(feat, x)}


def check_input_size(cfg: AsConvSRConfig, height, width):
    """Raise a one-line error when an (H, W) input cannot pass pixel-unshuffle by u."""
    u = cfg.unshuffle
    if height % u or width % u or height < u or width < u:
        raise ConfigError(
            f"input size {height}x{width} is not divisible by the pixel-unshuffle factor {u}; "
            f"pad or crop it to a multiple of {u} (infer.py pads and crops back for you)")


def is_branch(name: str) -> bool:
    """Whether the Parameter or checkpoint entry ``name`` is one of a RepKernel's branches
    ('conv_first.rep.k3', 'moment1.blocks.0.convs.1.rep.w3'): only reparam ecb has them."""
    return ".rep." in f".{name}"


def rep_kernels(net: AsConvSR):
    """[(name, RepKernel)]: each RepKernel of ``net`` with the name of the Parameter its
    folded kernel is in a reparam-none network ('conv_first.weight', 'blocks.0.convs.1.basis')."""
    homes = {RepConv2d: "weight", AssembledConv2d: "basis"}
    return [(f"{name}.{homes[type(cell)]}", cell.rep) for name, cell in net.cells_and_names()
            if type(cell) in homes and getattr(cell, "rep", None) is not None]


def unfolded_entries(net: AsConvSR, entries):
    """(entries, unfolded names): checkpoint ``entries`` made to start ``net``, trained with
    reparam ecb, from a reparam-none checkpoint (fine-tuning a shipped network with the
    branches). Each ordinary kernel becomes its RepKernel's 3x3 branch K3, and W3 and the
    edge scales are set to zero (W1 and the edge 1x1s keep ``net``'s values), so the
    other branches add nothing and the network starts as the checkpoint's function.
    Entries that already hold the branches are kept as they are."""
    entries, unfolded = dict(entries), []
    for name, rep in rep_kernels(net):
        if rep.k3.name not in entries and name in entries:
            for param in (rep.w1, rep.edge_1x1):
                entries[param.name] = Parameter(param.value(), name=param.name)
            for param in (rep.w3, rep.edge_scale):
                entries[param.name] = Parameter(np.zeros(param.shape, np.float32), name=param.name)
            entries[rep.k3.name] = entries.pop(name)
            unfolded.append(name)
    return entries, unfolded


def fold_reparam(net: AsConvSR) -> AsConvSR:
    """The deploy form of a network trained with ``reparam ecb``: the same function as an
    ordinary network (reparam none), each RepKernel's folded kernel stored as the weight
    or basis it stands for, every other Parameter (control modules, temperature) copied
    by name. Its Parameter names are a reparam-none network's, so exported graphs,
    tiling and the parameter count are the same as for any other checkpoint. A network
    without RepKernels is returned as it is."""
    if net.cfg.reparam == "none":
        return net
    folded = AsConvSR(replace(net.cfg, reparam="none"))
    values = {}
    for name, rep in rep_kernels(net):       # 'conv_first.rep' -> 'conv_first.weight'
        values[name] = Parameter(rep(), name=name)
    for name, param in net.parameters_and_names():
        if not is_branch(name):
            values[name] = param
    not_loaded, _ = ms.load_param_into_net(folded, values, strict_load=True)
    assert not not_loaded, f"fold_reparam left {sorted(not_loaded)} unset"
    folded.set_train(net.training)
    return folded


def build_model(values) -> AsConvSR:
    """AsConvSR from a flat config mapping (or an AsConvSRConfig)."""
    cfg = values if isinstance(values, AsConvSRConfig) else AsConvSRConfig.from_dict(values)
    return AsConvSR(cfg)
