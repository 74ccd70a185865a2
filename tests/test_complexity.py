"""The analytic parameter count matches the network it describes, and docs/model.md's
preset table is what ``python -m src.model.complexity`` prints."""
import os

import numpy as np
import pytest

from src.config import load_config
from src.model.asconvsr import AsConvSRConfig, build_model, fold_reparam
from src.model.complexity import PRESETS, count_params, preset_table

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
    {"bias": True}, {"num_blocks": 2, "unshuffle": 1}, {"unshuffle": 4, "scale": 3}])
def test_count_params_equals_the_built_variant(variant):
    cfg = AsConvSRConfig(**{**TINY, **variant})
    assert count_params(cfg) == built_params(cfg)


def test_docs_preset_table_is_the_printed_one():
    with open(os.path.join(ROOT, "docs", "model.md"), encoding="utf-8") as handle:
        assert preset_table() in handle.read()


@pytest.mark.parametrize("variant", [{"reparam": "ecb"}, {"reparam": "ecb", "block_type": "plain"},
                                     {"reparam": "ecb", "num_blocks": 2, "unshuffle": 1}])
def test_count_params_of_a_reparam_network_in_both_forms(variant):
    cfg = AsConvSRConfig(**{**TINY, **variant})
    net = build_model(cfg)
    trained, deployed = trained_params(net), trained_params(fold_reparam(net))
    assert count_params(cfg, "train") == trained > deployed == count_params(cfg)
    assert count_params(cfg) == count_params(AsConvSRConfig(**{**TINY, **variant, "reparam": "none"}))
