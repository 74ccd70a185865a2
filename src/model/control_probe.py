"""How dynamic is a trained assembled convolution?

The paper's idea is that the control module picks different kernels for different
inputs. Whether a trained network uses that is measurable: feed it several inputs, look
at how far each sample's mixing coefficients stray from their mean over the samples, and
re-run the network with every sample's coefficients replaced by that mean. If the output
barely moves, the network is, on those inputs, one static convolution per layer. Used by
scripts/control_probe.py.

Conventions: coefficients are (B, n, rows, E) per block (see ControlModule); "spread" is
the L1 distance of a row from its across-sample mean, averaged over samples and rows
(0 = static; at most 2); output changes are RMS over all output values in 8-bit levels
(x 255), images in [0, 1].
"""
import numpy as np
from mindspore import nn, ops, Tensor

from src.config import ConfigError
from src.evaluate import to_uint8
from src.metrics import psnr, rgb_to_y
from src.model.census import stem_features


class FixedCoefficients(nn.Cell):
    """Stands in for a ControlModule: the same (n, rows, E) coefficients for every sample."""

    def __init__(self, coefficients):
        super().__init__()
        self.coefficients = Tensor(np.ascontiguousarray(coefficients, np.float32))

    def construct(self, x):
        batch = x.shape[0]
        return ops.broadcast_to(self.coefficients[None], (batch,) + self.coefficients.shape)


def assembled_blocks(net):
    """The blocks of ``net`` that have a control module (none for the plain variant)."""
    return [block for block in net.blocks if hasattr(block, "control")]


def block_inputs(net, x):
    """[(B, C, h, w)] the input of every block of ``net`` for a batch ``x`` (B, 3, H, W);
    the last block itself is not run (nothing here reads its output)."""
    inputs = [stem_features(net, x)]
    for block in list(net.blocks)[:-1]:
        inputs.append(block(inputs[-1]))
    return inputs


def coefficients(net, images):
    """[(N, n, rows, E) numpy] per assembled block, one row per image of ``images``, a list
    of (1, 3, H, W) tensors (sizes may differ, so each runs on its own)."""
    per_image = []
    for x in images:
        inputs = block_inputs(net, x)
        per_image.append([block.control(feat).asnumpy()[0]
                          for block, feat in zip(net.blocks, inputs) if hasattr(block, "control")])
    return [np.stack(rows) for rows in zip(*per_image)]


def forward_with_fixed_coefficients(net, x, fixed):
    """net(x) with block k's control module replaced by FixedCoefficients(fixed[k])."""
    blocks = assembled_blocks(net)
    controls = [block.control for block in blocks]
    try:
        for block, coefficients_k in zip(blocks, fixed):
            block.control = FixedCoefficients(coefficients_k)
        return net(x)
    finally:
        for block, control in zip(blocks, controls):
            block.control = control


def control_probe(net, images, targets=None, border=0):
    """{'per_conv': [{block, conv, top, spread}], 'frozen_rms', 'frozen_max'} for ``images``
    (a list of (1, 3, H, W) tensors, pynative mode); with ``targets`` (a uint8 (sH, sW, 3)
    ground truth per image) also 'psnr_y' and 'psnr_y_frozen', mean PSNR-Y (``border``
    pixels cropped) of the 8-bit outputs with own and with mean coefficients.

    top: mean over images and rows of the largest coefficient (1/E = uniform mix).
    spread: mean L1 distance of a coefficient row from its mean over the images.
    frozen_rms / frozen_max: RMS and largest change of the output (x 255) when every
    image's coefficients are replaced by the mean over the images.
    """
    blocks = coefficients(net, images)
    if not blocks:
        raise ConfigError("the network has no assembled or dynamic block to probe "
                          "(block_type plain)")
    means = [c.mean(axis=0) for c in blocks]                      # (n, rows, E) each
    per_conv = []
    for b, c in enumerate(blocks):
        for i in range(c.shape[1]):
            rows = c[:, i]                                          # (N, rows, E)
            per_conv.append({"block": b, "conv": i, "top": float(rows.max(axis=-1).mean()),
                             "spread": float(np.abs(rows - means[b][i]).sum(-1).mean())})
    squares, count, largest, psnrs = 0.0, 0, 0.0, []
    for k, x in enumerate(images):
        own = net(x).asnumpy()                                      # (1, 3, sH, sW)
        frozen = forward_with_fixed_coefficients(net, x, means).asnumpy()
        change = (own - frozen) * 255.0
        squares += float(np.square(change).sum())
        count += change.size
        largest = max(largest, float(np.abs(change).max()))
        if targets is not None:
            psnrs.append([psnr(rgb_to_y(to_uint8(out[0].transpose(1, 2, 0))),
                               rgb_to_y(targets[k]), border) for out in (own, frozen)])
    result = {"per_conv": per_conv, "frozen_rms": (squares / count) ** 0.5,
              "frozen_max": largest}
    if psnrs:
        result["psnr_y"], result["psnr_y_frozen"] = (float(v) for v in np.mean(psnrs, axis=0))
    return result
