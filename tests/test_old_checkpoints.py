"""Checkpoints written by earlier code keep loading (issue 19): the shipped x3 checkpoint
was saved by train.py with the parameter names below. If the network's parameters are
renamed or regrouped, the loader must map these names, and every weight in the file must
still arrive in the network: this test finds each network parameter's values among the
file's entries, whatever the parameter is called now."""
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD = os.path.join(ROOT, "pretrained", "asconvsr_x3", "asconvsr_x3.ckpt")
# The network entries of the shipped x3 file, as train.py named them when it was saved
# (before the control temperature became a Parameter: the file holds no T).
SAVED_NAMES = {"conv_first.weight", "blocks.0.control.fc1.weight", "blocks.0.control.fc1.bias",
               "blocks.0.control.fc2.weight", "blocks.0.control.fc2.bias",
               "blocks.0.convs.0.basis", "blocks.0.convs.1.basis", "blocks.0.convs.2.basis",
               "conv_last.weight"}


def value_key(array):
    array = np.ascontiguousarray(array, np.float32)
    return array.shape, array.tobytes()


def test_the_shipped_x3_file_holds_the_names_it_was_saved_with():
    import mindspore as ms
    entries = ms.load_checkpoint(OLD)
    assert set(entries) - {"iteration"} == SAVED_NAMES


def test_every_weight_of_an_earlier_checkpoint_reaches_the_network():
    import mindspore as ms
    from src.checkpoint import config_for_checkpoint, load_trained_model
    saved = {value_key(p.asnumpy()): name for name, p in ms.load_checkpoint(OLD).items()
             if name in SAVED_NAMES}
    net, _ = load_trained_model(config_for_checkpoint(OLD), OLD)
    trained = [p for p in net.get_parameters() if not p.name.endswith("temperature")]
    found = {p.name: saved.get(value_key(p.asnumpy())) for p in trained}
    assert None not in found.values(), [name for name, hit in found.items() if hit is None]
    assert set(found.values()) == SAVED_NAMES        # each saved weight used
