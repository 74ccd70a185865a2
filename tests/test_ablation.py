"""The ablation report: reads each variant's run, marks a collapsed one, and scores each
row with the latency it measured (timing itself is replaced: tests never time)."""
import argparse
import importlib.util
import json
import os

import numpy as np
import pytest

from tests.synthetic import random_photo_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_ablation_script():
    spec = importlib.util.spec_from_file_location("ablation", os.path.join(ROOT, "research", "ablation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(folder, val_dir, overrides, dead_last_layer=False):
    """A finished run as train.py leaves it: config.yaml, latest.ckpt, history.json."""
    import mindspore as ms
    from mindspore import Tensor
    from src.config import load_config, save_config
    from src.model.asconvsr import AsConvSRConfig, build_model
    os.makedirs(folder)
    cfg = load_config(os.path.join(ROOT, "configs", "asconvsr_x2.yaml"),
                      dict(channels=8, num_kernels=8, val_dir=val_dir, **overrides))
    save_config(cfg, os.path.join(folder, "config.yaml"))
    net = build_model(AsConvSRConfig.from_dict(cfg))
    if dead_last_layer:   # an all-zero last block conv: its ReLU never fires
        last = net.blocks[0].convs[2]
        last.weight.set_data(Tensor(np.zeros(last.weight.shape, np.float32)))
    ms.save_checkpoint(net, os.path.join(folder, "latest.ckpt"))
    with open(os.path.join(folder, "history.json"), "w") as handle:
        json.dump({"val": [{"iteration": 10, "psnr_y": 31.0, "bicubic_psnr_y": 30.0}]}, handle)


def test_report_reads_runs_marks_collapse_and_scores_with_the_measured_latency(
        tmp_path, monkeypatch, graph_mode):
    ablation = load_ablation_script()
    val = random_photo_folder(tmp_path / "val", 2, 100)
    out = tmp_path / "ablation"
    fake_run(str(out / ablation.slug("assembled (paper)")), str(val), {})
    fake_run(str(out / ablation.slug("plain conv")), str(val), {"block_type": "plain"},
             dead_last_layer=True)
    seen = {}

    def fake_latencies(cfgs, runs):
        seen.update(cfgs)
        return {name: 100.0 for name in cfgs}
    monkeypatch.setattr(ablation, "latencies_ms", fake_latencies)
    ablation.report(argparse.Namespace(out=str(out), latency_runs=1))
    assert set(seen) == {"assembled (paper)", "plain conv"}   # only the runs that exist
    rows = json.load(open(out / "ablation.json"))
    assert [r["variant"] for r in rows] == ["assembled (paper)", "plain conv"]
    for row in rows:
        assert row["gain_y"] == pytest.approx(1.0)
        assert row["ntire_score"] == pytest.approx(2 * 2 ** 1.0 / (0.1 * 10.0))
    assert [r["collapsed"] for r in rows] == [False, True]
    table = (out / "ablation.md").read_text().splitlines()
    assert len(table) == 4 and table[3].endswith("(collapsed) |")
    assert (out / "ablation.png").stat().st_size > 0
