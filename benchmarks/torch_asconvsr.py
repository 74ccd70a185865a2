"""PyTorch twin of src/model/asconvsr.py, for speed comparisons only.

Not part of the project (torch is not in requirements.txt): benchmarks load it to time
the same network in PyTorch CPU eager. ``from_mindspore`` copies every parameter of a
MindSpore AsConvSR so the two compute the same function; the benchmark checks that
(allclose) before timing. Covers block_type assembled/plain, residual repeat/none,
colour rgb.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class TorchAsConvSR(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if (cfg.block_type not in ("assembled", "plain") or cfg.residual == "bicubic"
                or cfg.colour != "rgb"):
            raise ValueError("the torch twin covers block_type assembled/plain, residual "
                             "repeat/none, colour rgb")
        self.cfg = cfg
        k, c, u, n = cfg.kernel_size, cfg.channels, cfg.unshuffle, cfg.convs_per_block
        self.conv_first = nn.Parameter(torch.empty(c, 3 * u * u, k, k))
        self.conv_last = nn.Parameter(torch.empty(cfg.out_channels, c, k, k))
        self.blocks = nn.ModuleList()
        for _ in range(cfg.num_blocks):
            block = nn.Module()
            if cfg.block_type == "assembled":
                hidden = c // cfg.reduction
                block.fc1 = nn.Linear(c, hidden)
                block.fc2 = nn.Linear(hidden, n * c * cfg.num_kernels)
                block.basis = nn.ParameterList(
                    [nn.Parameter(torch.empty(cfg.num_kernels, c, k, k)) for _ in range(n)])
            else:
                block.weights = nn.ParameterList(
                    [nn.Parameter(torch.empty(c, c, k, k)) for _ in range(n)])
            self.blocks.append(block)

    def assembled_block(self, block, x):
        cfg = self.cfg
        batch, channels, height, width = x.shape
        pooled = x.mean(dim=(2, 3))
        logits = block.fc2(F.relu(block.fc1(pooled)))
        coeff = torch.softmax(logits.view(batch, cfg.convs_per_block, channels, -1) / cfg.temperature, -1)
        for i, basis in enumerate(block.basis):
            kernels = coeff[:, i].reshape(batch * channels, -1) @ basis.view(basis.shape[0], -1)
            kernels = kernels.view(batch * channels, channels, cfg.kernel_size, cfg.kernel_size)
            x = F.conv2d(x.reshape(1, batch * channels, height, width), kernels,
                         padding=cfg.kernel_size // 2, groups=batch)
            x = F.relu(x.view(batch, channels, height, width))
        return x

    def forward(self, x):
        cfg = self.cfg
        pad = cfg.kernel_size // 2
        feat = F.pixel_unshuffle(x, cfg.unshuffle) if cfg.unshuffle > 1 else x
        feat = F.relu(F.conv2d(feat, self.conv_first, padding=pad))
        for block in self.blocks:
            if cfg.block_type == "assembled":
                feat = self.assembled_block(block, feat)
            else:
                for weight in block.weights:
                    feat = F.relu(F.conv2d(feat, weight, padding=pad))
        out = F.conv2d(feat, self.conv_last, padding=pad)
        if cfg.unshuffle > 1:
            out = F.pixel_shuffle(out, cfg.unshuffle)
        if cfg.residual == "repeat":
            out = out + x.repeat_interleave(cfg.scale ** 2, dim=1)
        return F.pixel_shuffle(out, cfg.scale) if cfg.scale > 1 else out


def from_mindspore(ms_net, cfg):
    """A TorchAsConvSR holding copies of ``ms_net``'s parameters."""
    params = {p.name: torch.from_numpy(np.array(p.asnumpy())) for p in ms_net.get_parameters()}
    net = TorchAsConvSR(cfg)
    with torch.no_grad():
        net.conv_first.copy_(params["conv_first.weight"])
        net.conv_last.copy_(params["conv_last.weight"])
        for b, block in enumerate(net.blocks):
            prefix = f"blocks.{b}."
            if cfg.block_type == "assembled":
                for name in ("fc1", "fc2"):
                    getattr(block, name).weight.copy_(params[f"{prefix}control.{name}.weight"])
                    getattr(block, name).bias.copy_(params[f"{prefix}control.{name}.bias"])
                for i, basis in enumerate(block.basis):
                    basis.copy_(params[f"{prefix}convs.{i}.basis"])
            else:
                for i, weight in enumerate(block.weights):
                    weight.copy_(params[f"{prefix}convs.{i}.weight"])
    return net


def charbonnier(sr, hr, eps):
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()
