"""Parameter count and multiply-accumulates (MACs) of AsConvSR, computed analytically.

Conventions: a MAC is one multiply-add; a k x k conv from Ci to Co channels on an
h x w map costs h*w*Co*Ci*k*k MACs. Counted per image (batch 1): the convolutions,
the control module's two FC layers, the kernel assembly (kernel_first: Co*E*Ci*k*k
per conv; basis_first: conv to E channels plus the h*w*Co*E mixing), the bicubic
residual's 5x5 depthwise filter. With colour luma the first conv takes u^2 channels and
the last gives (us)^2, and fixed costs are added: the colour conversions as 1x1 convs
(the input's Y, 3 per LR pixel, in ``features`` and again in ``head`` for the residual;
its Cb and Cr, 2 x 3 per LR pixel; Y, Cb, Cr back to RGB, 3 x 3 per HR pixel) and the
bicubic upscaling of Cb and Cr (2 * s^2 * 25 per LR pixel). Not counted (no MACs or
negligible memory ops): pixel (un)shuffles, ReLU, pooling adds, softmax, the residual
add, the colour conversions' offsets.

``python -m src.model.complexity`` prints the table the README carries.
"""
from src.model.asconvsr import AsConvSRConfig, RepKernel


def count_params(cfg: AsConvSRConfig, form="deploy"):
    """Trainable parameters, from the shapes the network builds. ``deploy``: the network
    that runs (with reparam ecb, after fold_reparam); ``train``: adds the branches a
    reparam ecb network trains, which fold away."""
    k2, c, u = cfg.kernel_size ** 2, cfg.channels, cfg.unshuffle
    first = cfg.colours * u * u                                        # conv_first's inputs
    bias = 1 if cfg.bias else 0
    total = (first * k2 + bias) * c + (c * k2 + bias) * cfg.out_channels
    kernels = [(c, first), (cfg.out_channels, c)]                      # (Co, Ci) of each bank
    n = cfg.convs_per_block
    hidden = max(1, c // cfg.reduction)
    for _ in range(cfg.num_blocks):
        if cfg.block_type == "plain":
            total += n * (c * c * k2 + bias * c)
            kernels += [(c, c)] * n
            continue
        rows, e = (c, cfg.num_kernels) if cfg.block_type == "assembled" else (1, cfg.dynamic_kernels)
        total += (c + 1) * hidden + (hidden + 1) * n * rows * e          # control module
        per_conv = e * c * k2 if cfg.block_type == "assembled" else e * c * c * k2
        total += n * (per_conv + bias * c)
        kernels += [(e, c)] * n
    if form == "train" and cfg.reparam == "ecb":
        total += sum(ecb_branch_params(co, ci) for co, ci in kernels)
    return total


def ecb_branch_params(out_channels, in_channels):
    """What a RepKernel trains beside its 3x3 kernel: the 1x1 -> 2*Co -> 3x3 branch and the
    three 1x1 + scale edge branches."""
    mid = RepKernel.EXPAND * out_channels
    return mid * in_channels + out_channels * 9 * mid + 3 * out_channels * (in_channels + 1)


def count_macs(cfg: AsConvSRConfig, height, width):
    """MACs for one (height x width) LR input."""
    k2, c, u = cfg.kernel_size ** 2, cfg.channels, cfg.unshuffle
    pixels = (height // u) * (width // u)
    macs = pixels * c * cfg.colours * u * u * k2 + pixels * cfg.out_channels * c * k2
    n = cfg.convs_per_block
    hidden = max(1, c // cfg.reduction)
    for _ in range(cfg.num_blocks):
        if cfg.block_type == "plain":
            macs += n * pixels * c * c * k2
            continue
        rows, e = (c, cfg.num_kernels) if cfg.block_type == "assembled" else (1, cfg.dynamic_kernels)
        macs += c * hidden + hidden * n * rows * e
        if cfg.block_type == "dynamic":
            macs += n * (e * c * c * k2 + pixels * c * c * k2)
        elif cfg.assembled_impl == "kernel_first":
            macs += n * (c * e * c * k2 + pixels * c * c * k2)
        else:
            macs += n * (pixels * e * c * k2 + pixels * c * e)
    if cfg.residual == "bicubic":
        macs += height * width * cfg.colours * cfg.scale ** 2 * 25
    if cfg.colour == "luma":       # the fixed colour convs, Cb and Cr's bicubic (docstring)
        lumas = 1 if cfg.residual == "none" else 2      # Y in features, again for a residual
        s2 = cfg.scale ** 2
        macs += height * width * (3 * lumas + 2 * 3 + 2 * s2 * 25 + s2 * 3 * 3)
    return macs


PRESETS = {
    "AsConvSR x2": "configs/asconvsr_x2.yaml",
    "AsConvSR x3": "configs/asconvsr_x3.yaml",
    "AsConvSR-L x2": "configs/asconvsr_l_x2.yaml",
    "AsConvSR x2, no unshuffle": "configs/asconvsr_x2_nounshuffle.yaml",
    "AsConvSR x2, no unshuffle, C = 20": "configs/asconvsr_x2_nounshuffle_c20.yaml",
    "AsConvSR x2, no unshuffle, C = 20, luma": "configs/asconvsr_x2_nounshuffle_c20_luma.yaml",
    "AsConvSR x3, no unshuffle": "configs/asconvsr_x3_nounshuffle.yaml",
}


def preset_table():
    """Markdown table: params and GMACs for 1080p and 720p input, every preset."""
    from src.config import load_config
    rows = ["| preset | C | blocks | E | params | GMACs, 1920x1080 in | GMACs, 1280x720 in |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, path in PRESETS.items():
        cfg = AsConvSRConfig.from_dict(load_config(path))
        rows.append(f"| {name} ({path}) | {cfg.channels} | {cfg.num_blocks} | {cfg.num_kernels} | "
                    f"{count_params(cfg):,} | {count_macs(cfg, 1080, 1920) / 1e9:.2f} | "
                    f"{count_macs(cfg, 720, 1280) / 1e9:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(preset_table())
