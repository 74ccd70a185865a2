"""The analytic parameter count matches the network it describes, and docs/model.md's
preset table is what ``python -m src.model.complexity`` prints."""
import os

import numpy as np
import pytest

from src.config import load_config
from src.model.asconvsr import AsConvSRConfig, build_model, fold_reparam
from src.model.complexity import PRESETS, count_macs, count_params, preset_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=8, num_kernels=4, reduction=4)


def trained_params(net):
    return sum(int(np.prod(p.shape)) for p in net.trainable_params())


def built_params(cfg):
    """Trainable parameters of the network as it runs (reparam ecb: its folded form)."""
    return trained_params(fold_reparam(build_model(cfg)))


@pytest.mark.parametrize("path", list(PRESETS.values()))
def test_count_params_equals_the_built_preset(path):
    cfg = AsConvSRConfig.from_dict(load_config(path))
    assert count_params(cfg) == built_params(cfg)


@pytest.mark.parametrize("variant", [
    {}, {"block_type": "plain"}, {"block_type": "dynamic", "dynamic_kernels": 3},
    {"bias": True}, {"num_blocks": 2, "unshuffle": 1}, {"unshuffle": 4, "scale": 3},
    {"colour": "luma"}, {"colour": "luma", "unshuffle": 1, "scale": 3, "residual": "bicubic"}])
def test_count_params_equals_the_built_variant(variant):
    cfg = AsConvSRConfig(**{**TINY, **variant})
    assert count_params(cfg) == built_params(cfg)


def test_docs_preset_table_is_the_printed_one():
    with open(os.path.join(ROOT, "docs", "model.md"), encoding="utf-8") as handle:
        assert preset_table() in handle.read()


@pytest.mark.parametrize("variant", [{"reparam": "ecb"}, {"reparam": "ecb", "block_type": "plain"},
                                     {"reparam": "ecb", "num_blocks": 2, "unshuffle": 1},
                                     {"reparam": "ecb", "colour": "luma"}])
def test_count_params_of_a_reparam_network_in_both_forms(variant):
    cfg = AsConvSRConfig(**{**TINY, **variant})
    net = build_model(cfg)
    trained, deployed = trained_params(net), trained_params(fold_reparam(net))
    assert count_params(cfg, "train") == trained > deployed == count_params(cfg)
    assert count_params(cfg) == count_params(AsConvSRConfig(**{**TINY, **variant, "reparam": "none"}))


def size(tensor):
    return int(np.prod(tensor.shape))


@pytest.mark.parametrize("variant", [{}, {"unshuffle": 1, "scale": 3, "residual": "bicubic"},
                                     {"residual": "none"}])
def test_count_macs_of_luma_from_the_built_networks(variant):
    """colour luma's MACs are RGB's with the built luma network's first and last convs and
    bicubic residual, plus its fixed filters at the size each runs at: the input's Y (in
    features, and again in head for a residual), its Cb, Cr and their bicubic phases at
    LR, RGB at HR."""
    height, width, s, u = 12, 18, variant.get("scale", 2), variant.get("unshuffle", 2)
    pixels = height * width
    cfgs = {colour: AsConvSRConfig(**{**TINY, **variant, "colour": colour})
            for colour in ("rgb", "luma")}
    nets = {colour: build_model(cfg) for colour, cfg in cfgs.items()}

    def colour_dependent(net):
        convs = (size(net.conv_first.weight) + size(net.conv_last.weight)) * pixels // u ** 2
        bicubic = getattr(net, "bicubic_kernels", None)
        return convs + (0 if bicubic is None else size(bicubic) * pixels)
    luma = nets["luma"]
    lumas = 1 if variant.get("residual") == "none" else 2
    fixed = pixels * (lumas * size(luma.to_luma.weights) + size(luma.to_chroma.weights)
                      + size(luma.chroma_kernels)) + s * s * pixels * size(luma.to_rgb.weights)
    assert count_macs(cfgs["luma"], height, width) == (
        count_macs(cfgs["rgb"], height, width) - colour_dependent(nets["rgb"])
        + colour_dependent(luma) + fixed)
