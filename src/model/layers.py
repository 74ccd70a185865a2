"""The pixel (un)shuffles and the residual's layers of AsConvSR, in a training and in
exportable forms, chosen per call (``form``), so one network serves both.

MindSpore 2.10 exports ``nn.PixelUnshuffle`` / ``nn.PixelShuffle`` as Reshape + Transpose
with the image size written into the Reshape, so a graph exported for "any H x W" fails
at run time at every other size; ``SpaceToDepth`` and ``AdaptiveAvgPool2d`` do not export
at all. The exportable forms compute the same numbers with operators whose exported form
only depends on the channel counts:

    PixelUnshuffle(u)  ==  stride-u convolution with a fixed one-hot kernel
    PixelShuffle(r)    ==  fixed channel permutation (Gather) + DepthToSpace(r)  (ONNX)
                       ==  stride-r transposed conv with a one-hot kernel        (MINDIR)
    repeat_interleave  ==  Gather with a fixed channel index

Each is checked against the MindSpore layer it replaces in tests/test_export.py.

Forms (``FORMS``): ``train`` (nn.PixelUnshuffle / nn.PixelShuffle, what training has
always run), ``conv_transpose`` (MindSpore and MINDIR export: the one-hot convolutions)
and ``depth_to_space`` (ONNX export: PixelShuffle as Gather + DepthToSpace).
"""
import numpy as np
from mindspore import nn, ops, Tensor

FORMS = ("train", "conv_transpose", "depth_to_space")


def unshuffle_kernel(in_channels, factor):
    """One-hot kernel (C*u*u, C, u, u) that makes a stride-u convolution a PixelUnshuffle(u).

    PixelUnshuffle puts input pixel (c, u*y + i, u*x + j) in output channel c*u*u + i*u + j
    at (y, x); a u x u window at stride u sees exactly those u*u pixels, so output channel
    c*u*u + i*u + j just picks tap (i, j) of input channel c.
    """
    kernel = np.zeros((in_channels * factor * factor, in_channels, factor, factor), np.float32)
    for c in range(in_channels):
        for i in range(factor):
            for j in range(factor):
                kernel[c * factor * factor + i * factor + j, c, i, j] = 1.0
    return kernel


def crd_to_dcr_permutation(out_channels, factor):
    """Channel order that turns a PixelShuffle (CRD) input into a DepthToSpace (DCR) input.

    PixelShuffle(r) ("column, row, depth") reads output colour c, sub-pixel p = i*r + j
    from channel c*r*r + p; DepthToSpace(r) in MindSpore ("depth, column, row") reads it
    from channel p*C + c. Gathering channel c*r*r + p into slot p*C + c reconciles them.
    """
    r2 = factor * factor
    return np.array([c * r2 + p for p in range(r2) for c in range(out_channels)], np.int32)


class SpaceToChannels(nn.Cell):
    """PixelUnshuffle(u): (B, C, H, W) -> (B, C*u*u, H/u, W/u); exported as a stride-u
    one-hot convolution."""

    def __init__(self, in_channels, factor):
        super().__init__()
        self.factor = factor
        self.pixel_unshuffle = nn.PixelUnshuffle(factor)
        self.kernel = Tensor(unshuffle_kernel(in_channels, factor))

    def construct(self, x, form="train"):
        if form == "train":
            return self.pixel_unshuffle(x)
        return ops.conv2d(x, self.kernel, stride=self.factor)


def shuffle_kernel(out_channels, factor):
    """One-hot kernel (C*r*r, 1, r, r) that makes a stride-r transposed convolution with
    groups = C a PixelShuffle(r): input channel c*r*r + i*r + j paints tap (i, j), i.e.
    output pixel (r*y + i, r*x + j) of channel c. (Transposed-conv weights are laid out
    (in, out/groups, kh, kw).)"""
    kernel = np.zeros((out_channels * factor * factor, 1, factor, factor), np.float32)
    for c in range(out_channels):
        for i in range(factor):
            for j in range(factor):
                kernel[c * factor * factor + i * factor + j, 0, i, j] = 1.0
    return kernel


class ChannelsToSpace(nn.Cell):
    """PixelShuffle(r): (B, C*r*r, H, W) -> (B, C, r*H, r*W), in the form asked for.

    ``conv_transpose``: a stride-r transposed convolution with a one-hot kernel, groups C.
        MindSpore 2.10 on CPU runs it several times faster than DepthToSpace (figures:
        docs/deploy.md, export table), and it exports to MINDIR for any size; ONNX export
        of it fails (the output-size computation needs a Shape operator the exporter lacks).
    ``depth_to_space``: Gather (CRD -> DCR channel order) + DepthToSpace. Exports to ONNX
        for any size and ONNX Runtime runs it fast.
    """

    def __init__(self, out_channels, factor):
        super().__init__()
        self.factor, self.out_channels = factor, out_channels
        self.pixel_shuffle = nn.PixelShuffle(factor)
        self.kernel = Tensor(shuffle_kernel(out_channels, factor))
        self.transpose_conv = ops.Conv2DTranspose(out_channel=out_channels, kernel_size=factor,
                                                  stride=factor, pad_mode="valid",
                                                  group=out_channels)
        self.permutation = Tensor(crd_to_dcr_permutation(out_channels, factor))
        self.depth_to_space = ops.DepthToSpace(factor)

    def construct(self, x, form="train"):
        if form == "train":
            return self.pixel_shuffle(x)
        if form == "conv_transpose":
            batch, _, height, width = ops.shape(x)
            size = (batch, self.out_channels, height * self.factor, width * self.factor)
            return self.transpose_conv(x, self.kernel, size)
        return self.depth_to_space(ops.gather(x, self.permutation, 1))


class RepeatChannels(nn.Cell):
    """``repeat_interleave(x, times, axis=1)`` as a Gather: channel c -> channels c*t .. c*t+t-1."""

    def __init__(self, channels, times):
        super().__init__()
        self.index = Tensor(np.repeat(np.arange(channels), times).astype(np.int32))

    def construct(self, x):
        return ops.gather(x, self.index, 1)


# ONNX export writes the slice ``x[..., -1:]`` with end = -1 (an empty slice in ONNX
# Runtime); an explicit end past any size exports correctly.
_PAST_THE_END = 2 ** 31 - 1


def replicate_pad(x, pad):
    """Edge-replicate padding of H and W by ``pad`` pixels on every side, from slices and
    Concat. ``ops.pad(mode="replicate")`` computes the same but does not export to ONNX."""
    top, bottom = x[:, :, 0:1, :], x[:, :, -1:_PAST_THE_END, :]
    x = ops.concat([top] * pad + [x] + [bottom] * pad, axis=2)
    left, right = x[:, :, :, 0:1], x[:, :, :, -1:_PAST_THE_END]
    return ops.concat([left] * pad + [x] + [right] * pad, axis=3)
