"""reparam ecb: a kernel trained as ECB's branches is their sum, the folded network is the
same function under the ordinary names, and train -> eval -> export run it (tiny models)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, nn, ops

from src.checkpoint import CheckpointError, load_model_weights
from src.config import ConfigError, load_config, save_config
from src.deploy.exporter import export_model
from src.model.complexity import count_params
from src.model.asconvsr import (AsConvSRConfig, RepConv2d, RepKernel, build_model,
                                fold_reparam)
from tests.synthetic import rand, randomised, write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=8, num_kernels=4, reparam="ecb")


def branches_one_by_one(rep: RepKernel, x):
    """ECB as its paper draws it: five convolutions on x, their outputs summed."""
    conv = lambda inp, w, **kw: ops.conv2d(inp, Tensor(w), pad_mode="pad", **kw)   # noqa: E731
    k3, w1, w3 = rep.k3.asnumpy(), rep.w1.asnumpy(), rep.w3.asnumpy()
    out = conv(x, k3, padding=1)
    mid = conv(x, w1[:, :, None, None])                                   # (B, 2Co, H, W)
    out = out + conv(mid, w3.transpose(0, 3, 1, 2), padding=1)
    for f in range(3):
        edge = conv(x, rep.edge_1x1.asnumpy()[f][:, :, None, None])       # (B, Co, H, W)
        scale = rep.edge_scale.asnumpy()[f][:, :, None, None]             # (Co, 1, 1, 1)
        mask = scale * RepKernel.MASKS[f][None, None]                     # (Co, 1, 3, 3)
        out = out + conv(edge, mask.astype(np.float32), padding=1, groups=edge.shape[1])
    return out.asnumpy()


def test_the_folded_kernel_is_the_sum_of_the_branches():
    conv = RepConv2d(5, 6, std=0.2)
    randomised(conv, seed=3)
    x = Tensor(rand(2, 5, 9, 7))
    assert np.abs(conv(x).asnumpy() - branches_one_by_one(conv.rep, x)).max() < 1e-5


def test_a_new_kernel_is_its_3x3_branch_and_every_branch_learns():
    rep = RepKernel(4, 3, std=0.5)
    assert np.array_equal(rep().asnumpy(), rep.k3.asnumpy())
    target = Tensor(rand(4, 3, 3, 3))
    grads = ms.grad(lambda: ((rep() - target) ** 2).sum(), grad_position=None,
                    weights=rep.trainable_params())()
    # the zero-initialised w3 and edge scales get a gradient from the start
    named = dict(zip([p.name for p in rep.trainable_params()], grads))
    assert all(np.abs(named[name].asnumpy()).max() > 0 for name in ("k3", "w3", "edge_scale"))


@pytest.mark.parametrize("variant", [{}, {"block_type": "plain"},
                                     {"num_blocks": 2, "unshuffle": 1, "relu_slope": 0.05},
                                     {"assembled_impl": "basis_first", "residual": "bicubic"},
                                     {"colour": "luma"}, {"colour": "luma", "block_type": "plain"}])
def test_fold_keeps_the_function_under_the_ordinary_names(variant):
    cfg = AsConvSRConfig(**{**TINY, **variant})
    net = randomised(build_model(cfg))
    folded = fold_reparam(net)
    x = Tensor(rand(2, 3, 8, 10))
    assert np.abs(folded(x).asnumpy() - net(x).asnumpy()).max() < 1e-5
    ordinary = build_model(AsConvSRConfig(**{**TINY, **variant, "reparam": "none"}))
    assert sorted(folded.parameters_dict()) == sorted(ordinary.parameters_dict())
    assert folded.cfg.reparam == "none" and not folded.training


@pytest.mark.parametrize("variant", [{}, {"block_type": "plain", "unshuffle": 1}])
def test_a_reparam_none_checkpoint_starts_an_ecb_network_as_the_same_function(variant, tmp_path):
    """--init_weights: fine-tuning a shipped (reparam none) network with the branches."""
    ordinary = randomised(build_model(AsConvSRConfig(**{**TINY, **variant, "reparam": "none"})))
    ms.save_checkpoint(ordinary, str(tmp_path / "none.ckpt"))
    ecb = build_model(AsConvSRConfig(**{**TINY, **variant}))
    with pytest.raises(CheckpointError, match="lacks"):            # eval/resume: no unfold
        load_model_weights(ecb, str(tmp_path / "none.ckpt"))
    unfolded = load_model_weights(ecb, str(tmp_path / "none.ckpt"), unfold=True)
    assert sorted(unfolded) == sorted(name for name in ordinary.parameters_dict()
                                      if name.endswith((".weight", ".basis"))
                                      and "control" not in name)
    ecb.set_train(False)
    x = Tensor(rand(2, 3, 8, 10))
    assert np.abs(ecb(x).asnumpy() - ordinary(x).asnumpy()).max() < 1e-5
    # a checkpoint that holds the branches loads them as they are
    ms.save_checkpoint(randomised(ecb, seed=1), str(tmp_path / "ecb.ckpt"))
    again = build_model(AsConvSRConfig(**{**TINY, **variant}))
    assert load_model_weights(again, str(tmp_path / "ecb.ckpt"), unfold=True) == []
    again.set_train(False)
    assert np.array_equal(again(x).asnumpy(), ecb(x).asnumpy())


@pytest.mark.parametrize("unfold", [False, True])
def test_an_ecb_checkpoint_loads_folded_into_a_reparam_none_network(unfold, tmp_path):
    """eval with a reparam-none config, or --init_weights with --reparam none."""
    ecb = randomised(build_model(AsConvSRConfig(**{**TINY, "unshuffle": 1})), seed=4)
    ms.save_checkpoint(ecb, str(tmp_path / "ecb.ckpt"))
    ordinary = build_model(AsConvSRConfig(**{**TINY, "unshuffle": 1, "reparam": "none"}))
    folded = load_model_weights(ordinary, str(tmp_path / "ecb.ckpt"), unfold=unfold)
    assert sorted(folded) == sorted(name for name in ordinary.parameters_dict()
                                    if name.endswith((".weight", ".basis"))
                                    and "control" not in name)
    ecb.set_train(False)
    ordinary.set_train(False)
    x = Tensor(rand(2, 3, 8, 10))
    assert np.abs(ordinary(x).asnumpy() - ecb(x).asnumpy()).max() < 1e-5
    # the branches of another preset still fail in one line naming the mismatch
    with pytest.raises(CheckpointError, match="shape mismatch.*conv_first.rep"):
        load_model_weights(build_model(AsConvSRConfig(**{**TINY, "channels": 12,
                                                         "reparam": "none"})),
                           str(tmp_path / "ecb.ckpt"))


def test_a_checkpoint_with_biases_is_not_unfolded(tmp_path):
    biased = randomised(build_model(AsConvSRConfig(**{**TINY, "reparam": "none", "bias": True})))
    ms.save_checkpoint(biased, str(tmp_path / "biased.ckpt"))
    with pytest.raises(CheckpointError, match="bias True.*--reparam none"):
        load_model_weights(build_model(AsConvSRConfig(**TINY)), str(tmp_path / "biased.ckpt"),
                           unfold=True)


@pytest.mark.parametrize("bad,word", [({"kernel_size": 5}, "kernel_size 3"),
                                      ({"bias": True}, "bias False"),
                                      ({"block_type": "dynamic"}, "block_type"),
                                      ({"reparam": "acb"}, "reparam must be none or ecb")])
def test_configs_the_fold_cannot_serve_are_refused(bad, word):
    with pytest.raises(ConfigError, match=word):
        AsConvSRConfig(**{**TINY, **bad})


def test_an_exported_graph_is_the_trained_function(tmp_path):
    cfg = load_config(None, dict(TINY))
    net = randomised(build_model(AsConvSRConfig.from_dict(cfg)))
    save_config(cfg, str(tmp_path / "config.yaml"))
    ms.save_checkpoint(net, str(tmp_path / "model.ckpt"))
    paths, metadata = export_model(cfg, str(tmp_path / "model.ckpt"), "MINDIR",
                                   str(tmp_path / "x2"), height=12, width=16,
                                   log=lambda line: None)
    assert metadata["model_config"]["reparam"] == "none"
    x = rand(1, 3, 12, 16)
    graph = nn.GraphCell(ms.load(paths["full"]))
    assert np.abs(graph(Tensor(x)).asnumpy() - net(Tensor(x)).asnumpy()).max() < 1e-4


def test_train_then_eval_in_graph_mode(tmp_path):
    """train.py, started from a reparam-none checkpoint, validates the training form;
    eval.py runs the folded form: same PSNR."""
    train_dir = write_images(str(tmp_path / "train"), 4, 64, seed=21)
    val_dir = write_images(str(tmp_path / "val"), 2, 48, seed=22)
    ms.save_checkpoint(build_model(AsConvSRConfig(**{**TINY, "reparam": "none"})),
                       str(tmp_path / "none.ckpt"))
    out = tmp_path / "run"
    command = [sys.executable, "train.py", "--train_dir", train_dir, "--val_dir", val_dir,
               "--output_dir", str(out), "--mode", "graph", "--batch_size", "2",
               "--lr_patch_size", "16", "--num_workers", "1", "--val_every", "2",
               "--log_every", "2", "--channels", "8", "--num_kernels", "4", "--reparam", "ecb",
               "--init_weights", str(tmp_path / "none.ckpt")]
    for total, extra in ((2, []), (4, ["--resume", str(out / "latest.ckpt")])):   # resumes
        subprocess.run(command + ["--total_iters", str(total)] + extra, cwd=ROOT, check=True,
                       capture_output=True, text=True, timeout=600)
    log = (out / "train.log").read_text()
    assert "training 4 iterations from 2 on" in log
    assert "its 5 reparam-none kernels start the 3x3 branches of reparam ecb" in log
    trained = json.loads((out / "history.json").read_text())["val"][-1]
    assert "moment1.conv_first.rep.w3" in ms.load_checkpoint(str(out / "latest.ckpt"))
    subprocess.run([sys.executable, "eval.py", "--model", str(out / "best.ckpt"), "--data_dir",
                    val_dir, "--mode", "graph", "--json", str(tmp_path / "eval.json")],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert trained["iteration"] == 4
    assert evaluated["mean"]["psnr_y"] == pytest.approx(trained["psnr_y"], abs=1e-3)
    assert evaluated["params"] == count_params(AsConvSRConfig(**TINY))
    # and the branches fold into a run that trains without them (PyNative; lr 1e-30
    # leaves the weights as they were, so its first validation is eval's figure)
    folded = tmp_path / "folded"
    subprocess.run(command[:command.index("--output_dir")] + [
        "--output_dir", str(folded), "--mode", "pynative", "--batch_size", "2",
        "--lr_patch_size", "16", "--num_workers", "1", "--val_every", "1", "--channels", "8",
        "--num_kernels", "4", "--reparam", "none", "--lr", "1e-30", "--total_iters", "1",
        "--init_weights", str(out / "best.ckpt")], cwd=ROOT, check=True, capture_output=True,
        text=True, timeout=600)
    assert ("its reparam ecb branches are folded into 5 kernels"
            in (folded / "train.log").read_text())
    refolded = json.loads((folded / "history.json").read_text())["val"][-1]
    assert refolded["psnr_y"] == pytest.approx(evaluated["mean"]["psnr_y"], abs=1e-3)
