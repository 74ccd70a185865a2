"""Export: the deploy Cells equal the training network, and exported graphs equal it too
(fixed MINDIR, any-size MINDIR and ONNX at two sizes, tile graphs), on tiny models."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, nn

from src.config import load_config, save_config
from src.deploy.exporter import check_request, export_files, export_model
from src.model.layers import ChannelsToSpace, RepeatChannels, SpaceToChannels, replicate_pad
from src.deploy.metadata import read_metadata
from src.deploy.network import DeployError, deploy_from_training
from src.model.asconvsr import AsConvSRConfig, build_model
from tests.synthetic import rand, randomised

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=8, num_kernels=4)


def tiny_run(folder, **overrides):
    """A checkpoint and its config.yaml, as train.py leaves them, for a tiny model."""
    cfg = load_config(None, dict(TINY, **overrides))
    folder.mkdir(parents=True, exist_ok=True)
    save_config(cfg, str(folder / "config.yaml"))
    ms.save_checkpoint(randomised(build_model(AsConvSRConfig.from_dict(cfg))),
                       str(folder / "model.ckpt"))
    return cfg, str(folder / "model.ckpt")


def test_layers_equal_the_mindspore_layers_they_replace():
    x = Tensor(rand(2, 12, 5, 7))
    for form in ("conv_transpose", "depth_to_space"):
        shuffled = ChannelsToSpace(3, 2)(x, form).asnumpy()
        np.testing.assert_array_equal(shuffled, nn.PixelShuffle(2)(x).asnumpy())
    image = Tensor(rand(2, 3, 6, 8))
    np.testing.assert_array_equal(SpaceToChannels(3, 2)(image, "conv_transpose").asnumpy(),
                                  nn.PixelUnshuffle(2)(image).asnumpy())
    np.testing.assert_array_equal(RepeatChannels(3, 4)(image).asnumpy(),
                                  np.repeat(image.asnumpy(), 4, axis=1))
    np.testing.assert_array_equal(replicate_pad(image, 2).asnumpy(),
                                  np.pad(image.asnumpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), "edge"))


VARIANTS = [dict(), dict(assembled_impl="basis_first"), dict(block_type="dynamic"),
            dict(block_type="plain"), dict(residual="bicubic", bias=True),
            dict(residual="none", relu="none"), dict(unshuffle=1, scale=3),
            dict(num_blocks=2, scale=3, relu="none"), dict(scale=1, unshuffle=4),
            dict(colour="luma"), dict(colour="luma", residual="bicubic", unshuffle=1, scale=3)]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(map(str, v.values())) or "paper")
def test_deploy_cell_equals_training_cell(variant):
    net = randomised(build_model(AsConvSRConfig(**TINY, **variant)))
    x = rand(1, 3, 8, 12)
    reference = net(Tensor(x)).asnumpy()
    for shuffle in ("conv_transpose", "depth_to_space"):
        deployed = deploy_from_training(net, shuffle=shuffle)(Tensor(x)).asnumpy()
        assert np.abs(deployed - reference).max() < 1e-5
    batch = rand(3, 3, 8, 12, seed=1)                    # grouped path, per-sample kernels
    deployed = deploy_from_training(net, batch_size=3)(Tensor(batch)).asnumpy()
    assert np.abs(deployed - net(Tensor(batch)).asnumpy()).max() < 1e-5


def test_tile_net_with_whole_image_means_equals_full_net():
    net = randomised(build_model(AsConvSRConfig(**TINY, num_blocks=2)))
    x = rand(1, 3, 8, 12)
    feats = net.features(Tensor(x))
    stats = deploy_from_training(net, "stats")
    ones = Tensor(np.ones((1, 1, 4, 6), np.float32))
    means = stats(Tensor(x), ones, Tensor(np.zeros((2, 8), np.float32))).asnumpy() / 24
    np.testing.assert_allclose(means[0], feats.asnumpy().mean(axis=(0, 2, 3)), atol=1e-6)
    means = stats(Tensor(x), ones, Tensor(means)).asnumpy() / 24      # block 2 needs block 1's
    tiled = deploy_from_training(net, "tile")(Tensor(x), Tensor(means)).asnumpy()
    assert np.abs(tiled - net(Tensor(x)).asnumpy()).max() < 1e-5


def quiet(*_):
    pass


@pytest.mark.parametrize("colour", ["rgb", "luma"])
def test_fixed_size_mindir_with_batch(tmp_path, colour):
    cfg, ckpt = tiny_run(tmp_path / "run", colour=colour)
    paths, metadata = export_model(cfg, ckpt, "MINDIR", str(tmp_path / "fixed"), height=12,
                                   width=16, batch_size=2, log=quiet)
    assert list(paths) == ["full"] and metadata["input_shape"] == [2, 3, 12, 16]
    net = randomised(build_model(AsConvSRConfig.from_dict(cfg)))       # same seed, same weights
    graph = nn.GraphCell(ms.load(paths["full"]))
    x = rand(2, 3, 12, 16)
    assert np.abs(graph(Tensor(x)).asnumpy() - net(Tensor(x)).asnumpy()).max() < 1e-4


@pytest.mark.parametrize("file_format,colour", [("MINDIR", "rgb"), ("ONNX", "rgb"),
                                                ("ONNX", "luma")])
def test_any_size_export_at_two_sizes_and_tiled(tmp_path, file_format, colour):
    # a leaky slope: LeakyReLU exports too (the other exports here run ReLU)
    cfg, ckpt = tiny_run(tmp_path / "run", num_blocks=2, residual="bicubic", relu_slope=0.1,
                         colour=colour)
    lines = []
    paths, metadata = export_model(cfg, ckpt, file_format, str(tmp_path / "out" / "x2"),
                                   log=lines.append)
    assert set(paths) == {"full", "tile", "stats"}
    checks = [line for line in lines if "max abs diff" in line]
    assert len(checks) == 3 and all(line.endswith("(ok)") for line in checks)   # 2 sizes + tiled
    net = randomised(build_model(AsConvSRConfig.from_dict(cfg)))
    if file_format == "ONNX":
        import onnxruntime as ort
        session = ort.InferenceSession(paths["full"], providers=["CPUExecutionProvider"])
        run = lambda x: session.run(None, {"lr": x})[0]             # noqa: E731
    else:
        graph = nn.GraphCell(ms.load(paths["full"]))
        run = lambda x: graph(Tensor(x)).asnumpy()                  # noqa: E731
    for size in [(8, 12), (14, 6)]:
        x = rand(1, 3, *size)
        assert np.abs(run(x) - net(Tensor(x)).asnumpy()).max() < 1e-4
    assert read_metadata(paths["full"])["scale"] == 2
    assert json.load(open(paths["full"] + ".json"))["graphs"]["tile"] == "x2_tile" + \
        os.path.splitext(paths["full"])[1]


def test_onnx_carries_its_metadata_without_the_sidecar(tmp_path):
    cfg, ckpt = tiny_run(tmp_path / "run", block_type="plain", scale=3)
    paths, _ = export_model(cfg, ckpt, "ONNX", str(tmp_path / "p"), log=quiet)
    assert list(paths) == ["full"]                  # plain blocks: tiles need no extra graphs
    os.remove(paths["full"] + ".json")
    metadata = read_metadata(paths["full"])
    assert metadata["scale"] == 3 and metadata["global_pooling"] is False


@pytest.mark.parametrize("request_args,message", [
    (dict(file_format="AIR"), "AIR export needs MindSpore on Ascend"),
    (dict(file_name="out/my model"), "characters MindSpore cannot export to"),
    (dict(height=12), "give both --height and --width"),
    (dict(height=13, width=16), "multiples of the unshuffle factor 2"),
    (dict(batch_size=4), "any-size graph is batch 1"),
])
def test_bad_requests_are_refused(request_args, message):
    args = dict(file_format="MINDIR", file_name="out/x2", height=None, width=None, batch_size=1)
    args.update(request_args)
    with pytest.raises(DeployError, match=message):
        check_request(load_config(), **args)


def test_cli_refuses_air_on_cpu_in_one_line(tmp_path):
    _, ckpt = tiny_run(tmp_path / "run")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--ckpt_file", ckpt,
                             "--file_format", "AIR", "--file_name", str(tmp_path / "a")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Ascend" in result.stderr


def test_deploy_cells_hold_the_trained_parameters_themselves():
    net = randomised(build_model(AsConvSRConfig(**TINY)))
    cell = deploy_from_training(net, "tile")
    assert [p.name for p in cell.get_parameters()] == [p.name for p in net.get_parameters()]
    assert all(a is b for a, b in zip(cell.get_parameters(), net.get_parameters()))


def test_export_files_are_known_before_loading():
    with_control = load_config(None, dict(TINY))
    plain = load_config(None, dict(TINY, block_type="plain"))
    assert export_files(with_control, "ONNX", "out/x2") == [
        "out/x2.onnx", "out/x2_tile.onnx", "out/x2_stats.onnx", "out/x2.onnx.json"]
    assert export_files(with_control, "MINDIR", "out/x2", tile_graphs=False) == [
        "out/x2.mindir", "out/x2.mindir.json"]
    assert export_files(with_control, "MINDIR", "out/x2", height=16) == [
        "out/x2.mindir", "out/x2.mindir.json"]
    assert export_files(plain, "MINDIR", "out/x2.mindir") == ["out/x2.mindir",
                                                             "out/x2.mindir.json"]


def test_cli_refuses_an_earlier_export_unless_overwrite(tmp_path):
    from tests.test_infer_safety import digests, one_line_error
    _, ckpt = tiny_run(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()

    def export(*extra):
        return subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--model", ckpt,
                               "--file_name", str(out / "m"), "--height", "8", "--width", "8",
                               *extra], capture_output=True, text=True, cwd=ROOT, timeout=300)
    (out / "m.mindir.json").write_text("an earlier sidecar")         # the sidecar alone blocks
    run_folder = digests(str(tmp_path / "run"))
    result = export()
    one_line_error(result, f"output '{out / 'm.mindir.json'}' exists", "--overwrite")
    assert "verifying" not in result.stdout and os.listdir(out) == ["m.mindir.json"]
    result = export("--overwrite")
    assert result.returncode == 0, result.stderr
    assert read_metadata(str(out / "m.mindir"))["input_shape"] == [1, 3, 8, 8]
    earlier = digests(str(out))
    one_line_error(export(), f"output '{out / 'm.mindir'}' exists (and 1 more)", "--overwrite")
    assert digests(str(out)) == earlier and digests(str(tmp_path / "run")) == run_folder
