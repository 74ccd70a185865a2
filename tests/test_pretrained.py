"""The shipped checkpoints (pretrained/): every file matches SHA256SUMS, each checkpoint
loads into the network its config.yaml describes and upscales, and a fine-tuned one
ships its starting point (init/) with the sha256 its train.log recorded."""
import glob
import os
import re

import numpy as np
import pytest

from src.files import sha256_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = sorted(glob.glob(os.path.join(ROOT, "pretrained", "*", "")))
FINE_TUNED = [f for f in FOLDERS if os.path.isdir(os.path.join(f, "init"))]


def folder_id(folder):
    return os.path.basename(os.path.normpath(folder))


def checkpoint_of(folder):
    return os.path.join(folder, folder_id(folder) + ".ckpt")


def init_chain(folder):
    """The folder and every starting point below it: folder, folder/init, folder/init/init..."""
    chain = [os.path.normpath(folder)]
    while os.path.isdir(os.path.join(chain[-1], "init")):
        chain.append(os.path.join(chain[-1], "init"))
    return chain


def test_the_x2_and_x3_checkpoints_are_shipped():
    names = {folder_id(f) for f in FOLDERS}
    assert {"asconvsr_x2", "asconvsr_x3", "plainconv_x2_baseline"} <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_every_file_matches_sha256sums(folder):
    """The folder's SHA256SUMS, and each init/ level's own, list exactly the files below
    them with their current digests (``sha256sum -c`` passes at every level)."""
    for level in init_chain(folder):
        listed = {}
        with open(os.path.join(level, "SHA256SUMS"), encoding="utf-8") as handle:
            for line in handle:
                digest, name = line.split(maxsplit=1)
                listed[name.strip()] = digest
        on_disk = {os.path.relpath(p, level)
                   for p in glob.glob(os.path.join(level, "**"), recursive=True)
                   if os.path.isfile(p) and os.path.relpath(p, level) != "SHA256SUMS"}
        assert set(listed) == on_disk, level
        for name, digest in listed.items():
            assert sha256_of(os.path.join(level, name)) == digest, os.path.join(level, name)


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_checkpoint_loads_with_its_config_and_upscales(folder):
    from mindspore import Tensor
    from src.checkpoint import config_for_checkpoint, load_trained_model
    cfg = config_for_checkpoint(checkpoint_of(folder))
    net, model_cfg = load_trained_model(cfg, checkpoint_of(folder))
    lr = np.random.default_rng(0).random((1, 3, 24, 24), dtype=np.float32)
    sr = net(Tensor(lr)).asnumpy()
    assert sr.shape == (1, 3, 24 * model_cfg.scale, 24 * model_cfg.scale)
    assert np.isfinite(sr).all()


@pytest.mark.parametrize("folder", FINE_TUNED, ids=folder_id)
def test_fine_tuned_checkpoint_ships_the_weights_it_started_from(folder):
    """At every level of the chain: config.yaml's init_weights is the checkpoint in the
    init/ beside it, with the sha256 that level's train.log recorded at its start."""
    from src.config import load_config
    for level in init_chain(folder)[:-1]:
        cfg = load_config(os.path.join(level, "config.yaml"))
        init_ckpt = os.path.join(ROOT, cfg.init_weights)
        assert os.path.dirname(init_ckpt) == os.path.join(level, "init"), level
        with open(os.path.join(level, "train.log"), encoding="utf-8") as handle:
            logged = re.search(r"^initial weights: .* \(sha256 ([0-9a-f]{64})\)", handle.read(),
                               re.M)
        assert logged and logged.group(1) == sha256_of(init_ckpt), level
