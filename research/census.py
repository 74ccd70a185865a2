"""Dead-ReLU census: which channels of a trained AsConvSR never fire.

The network has no biases, so a ReLU channel whose pre-activation is negative on every
input gets no gradient and never recovers. When every channel of the last block conv
dies, conv_last sees zeros and the output is exactly the nearest-neighbour residual: the
run has *collapsed*, whatever its loss curve looks like. Used by research/relu_census.py
and by the ablation report to tell a collapsed variant from a weak one.
"""
import numpy as np

COLLAPSED_BELOW = 0.01   # last ReLU positive in < 1% of outputs: treat the run as collapsed


def relu_outputs(net, x):
    """[(name, (B, C, h, w) ReLU output)] in order: conv_first, then each block conv with
    a ReLU, read from the network's own forward pass (AsConvSR.activations)."""
    if not net.relu_first:                 # relu none: no ReLU anywhere
        return []
    acts = net.activations(x)
    outputs = [("conv_first", acts["stem"])]
    for b, block in enumerate(acts["blocks"]):
        outputs += [(f"blocks.{b}.convs.{i}", out) for i, out in enumerate(block["conv_outputs"])]
    return outputs


def relu_census(net, x):
    """[{name, dead, channels, positive}] per ReLU: channels zero on every pixel of every
    sample of ``x`` (B, 3, H, W), and the fraction of positive outputs."""
    rows = []
    for name, out in relu_outputs(net, x):
        out = out.asnumpy()
        rows.append({"name": name, "dead": int((out.max(axis=(0, 2, 3)) <= 0).sum()),
                     "channels": int(out.shape[1]), "positive": float((out > 0).mean())})
    return rows


def centre_crops(images, size, multiple):
    """(N, 3, s, s) float32 in [0, 1] from uint8 HWC images at least ``size`` on a side;
    s = size rounded down to ``multiple`` (the unshuffle factor)."""
    size -= size % multiple
    crops = []
    for img in images:
        if min(img.shape[:2]) < size:
            continue
        top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        crops.append(img[top:top + size, left:left + size].transpose(2, 0, 1) / 255.0)
    return np.stack(crops).astype(np.float32) if crops else None


def folder_centre_crops(folder, size, multiple):
    """:func:`centre_crops` of every image in ``folder`` (read as RGB, quietly)."""
    from src.images import list_images, read_rgb
    return centre_crops([read_rgb(path, quiet=True) for path in list_images(folder)],
                        size, multiple)
