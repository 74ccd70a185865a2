"""Export a trained AsConvSR to MINDIR / ONNX / AIR, then check the written files.

What is written for ``--file_name out/x2 --file_format MINDIR``:
    out/x2.mindir                 the whole network (x -> sr)
    out/x2_tile.mindir            any-size exports of a model with control modules:
    out/x2_stats.mindir           the two graphs of tiled inference (src/deploy/tiling.py)
    out/x2.mindir.json            metadata (src/deploy/metadata.py); ONNX also embeds it

Every graph is loaded back and compared with the eager training network (MINDIR through
ms.load + nn.GraphCell, ONNX through ONNX Runtime on CPU) on a random input and on a
photograph, at two sizes for an any-size export; the tile and stats graphs are checked
by running tiled inference with them against the whole image. A difference of 1e-4 or
more raises VerificationError. AIR cannot be loaded back outside Ascend's own tools, so
it is written unverified (the same cell exports and verifies as MINDIR).
"""
import datetime
import os
import re
from dataclasses import asdict

import numpy as np

from src.deploy.outputs import output_file
from src.deploy.metadata import FORMAT, VERSION, embed_in_onnx, sidecar_path, write_sidecar
from src.deploy.network import (DeployError, as_tensor, deploy_from_training, pooled_shape,
                                receptive_halo, uses_global_pooling)

FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
NAME_PATTERN = re.compile(r"^[0-9a-zA-Z@_\-.:/\\]+$")   # what ms.export accepts
TOLERANCE = 1e-4


class VerificationError(RuntimeError):
    """An exported graph that does not reproduce the eager network."""


def check_request(cfg, file_format, file_name, height, width, batch_size):
    """One-line DeployError for every request that cannot be exported as asked."""
    if file_format not in FORMATS:
        raise DeployError(f"--file_format must be one of {', '.join(FORMATS)}, got '{file_format}'")
    if file_format == "AIR" and cfg.device_target != "Ascend":
        raise DeployError(f"AIR export needs MindSpore on Ascend (--device_target Ascend); "
                          f"on {cfg.device_target} export MINDIR or ONNX")
    if not NAME_PATTERN.match(file_name):
        bad = sorted({c for c in file_name if not NAME_PATTERN.match(c)})
        raise DeployError(f"--file_name '{file_name}' has characters MindSpore cannot export to "
                          f"({''.join(bad)!r}); use letters, digits and @ _ - . : / \\")
    if (height is None) != (width is None):
        raise DeployError("give both --height and --width (a fixed-size graph) or neither "
                          "(any size)")
    if batch_size < 1:
        raise DeployError(f"--batch_size must be >= 1, got {batch_size}")
    if height is None and batch_size != 1:
        raise DeployError(f"an any-size graph is batch 1; for --batch_size {batch_size} also "
                          f"give --height and --width")
    u = cfg.unshuffle
    if height is not None and (height % u or width % u or height < u or width < u):
        raise DeployError(f"--height {height} --width {width}: both must be positive multiples "
                          f"of the unshuffle factor {u}")


def input_specs(kind, cfg, batch_size, height, width):
    """The example inputs ms.export traces: placeholders with None for any-size axes."""
    import mindspore as ms
    from mindspore import Tensor
    if height is not None:
        images = Tensor(np.zeros((batch_size, 3, height, width), np.float32))
    else:
        images = Tensor(shape=[1, 3, None, None], dtype=ms.float32)
    pooled = Tensor(shape=list(pooled_shape(cfg)), dtype=ms.float32)
    interior = Tensor(shape=[1, 1, None, None], dtype=ms.float32)
    return {"full": [images], "tile": [images, pooled], "stats": [images, interior, pooled]}[kind]


INPUT_NAMES = {"full": ["lr"], "tile": ["lr", "pooled"], "stats": ["lr", "interior", "pooled"]}
OUTPUT_NAMES = {"full": ["sr"], "tile": ["sr"], "stats": ["sums"]}


def write_graph(cell, inputs, path, file_format, kind, overwrite=True, metadata=None):
    """Export ``cell`` to ``path`` through a temporary file (output_file: mode 0666 minus
    the umask where MindSpore writes 0400; exclusive unless ``overwrite``); an ONNX graph
    gets ``metadata`` embedded before it is renamed. An OSError is one line naming the path."""
    import mindspore as ms
    with output_file(path, overwrite) as tmp:
        if file_format == "ONNX":
            ms.onnx.export(cell, *inputs, file_name=tmp, input_names=INPUT_NAMES[kind],
                           output_names=OUTPUT_NAMES[kind])
            if metadata is not None:
                embed_in_onnx(tmp, metadata)
        else:
            ms.export(cell, *inputs, file_name=os.path.splitext(tmp)[0],
                      file_format=file_format)
        if not os.path.getsize(tmp):
            raise DeployError(f"MindSpore reported no error but wrote nothing for '{path}'")
    return path


def graph_files(file_name, file_format, kinds):
    """{kind: path}: ``NAME.ext`` for the full graph, ``NAME_tile.ext`` / ``NAME_stats.ext``."""
    extension = FORMATS[file_format]
    base = file_name[:-len(extension)] if file_name.lower().endswith(extension) else file_name
    return {kind: base + extension if kind == "full" else f"{base}_{kind}{extension}"
            for kind in kinds}


def graph_kinds(model_cfg, dynamic, tile_graphs):
    """The graphs an export writes: "full", plus "tile" and "stats" for an any-size
    export of a model with control modules (whole-image statistics)."""
    if dynamic and tile_graphs and uses_global_pooling(model_cfg):
        return ["full", "tile", "stats"]
    return ["full"]


def export_files(cfg, file_format, file_name, height=None, tile_graphs=True):
    """Every file an export of the network ``cfg`` describes writes (graphs, then the
    metadata sidecar), known before the checkpoint is loaded."""
    from src.model.asconvsr import AsConvSRConfig
    kinds = graph_kinds(AsConvSRConfig.from_dict(cfg), height is None, tile_graphs)
    paths = graph_files(file_name, file_format, kinds)
    return list(paths.values()) + [sidecar_path(paths["full"])]


def build_metadata(net, paths, file_format, batch_size, height, width, ckpt_file):
    import mindspore as ms
    cfg = net.cfg
    pooling = uses_global_pooling(cfg)
    return {
        "format": FORMAT, "version": VERSION, "scale": cfg.scale, "unshuffle": cfg.unshuffle,
        "halo": receptive_halo(cfg), "global_pooling": pooling,
        "pooled_shape": list(pooled_shape(cfg)) if pooling else None,
        "input_shape": [batch_size, 3, height, width], "file_format": file_format,
        "graphs": {kind: os.path.basename(paths[kind]) if kind in paths else None
                   for kind in ("full", "tile", "stats")},
        "model_config": asdict(cfg), "checkpoint": os.path.abspath(ckpt_file),
        "exported_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "mindspore_version": ms.__version__,
    }


def export_graphs(net, file_format, file_name, height=None, width=None, batch_size=1,
                  tile_graphs=True, ckpt_file="", overwrite=True):
    """Write the graphs and the metadata (each file exclusively unless ``overwrite``);
    returns ({kind: path}, metadata)."""
    paths = graph_files(file_name, file_format, graph_kinds(net.cfg, height is None, tile_graphs))
    metadata = build_metadata(net, paths, file_format, batch_size, height, width, ckpt_file)
    for kind, path in paths.items():
        shuffle = "depth_to_space" if file_format == "ONNX" else "conv_transpose"
        cell = deploy_from_training(net, kind, batch_size, shuffle)   # fresh: one per export
        write_graph(cell, input_specs(kind, net.cfg, batch_size, height, width), path,
                    file_format, kind, overwrite, metadata)
    write_sidecar(paths["full"], metadata, overwrite)
    return paths, metadata


def verification_inputs(cfg, batch_size, height, width, photo):
    """[(label, (B, 3, H, W) float32)]: a random input and the photo, at one size for a
    fixed-size graph, at two different sizes for an any-size one."""
    rng = np.random.default_rng(0)
    u = cfg.unshuffle
    if height is not None:
        sizes = [(height, width), (height, width)]
    else:
        sizes = [(12 * u, 20 * u), (17 * u, 13 * u)]
    cases = []
    for (h, w), label in zip(sizes, ("random", "photo")):
        if label == "random":
            x = rng.random((batch_size, 3, h, w), dtype=np.float32)
        else:
            x = photo_crop(photo, h, w)
            x = np.concatenate([x if i % 2 == 0 else x[..., ::-1] for i in range(batch_size)])
        cases.append((f"{label} {w}x{h}" + (f" x{batch_size}" if batch_size > 1 else ""),
                      np.ascontiguousarray(x)))
    return cases


def photo_crop(photo, height, width):
    """(1, 3, height, width) float32 from an (H, W, 3) photo: centre crop, tiled if small."""
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    photo = np.tile(photo, reps)
    top = (photo.shape[0] - height) // 2
    left = (photo.shape[1] - width) // 2
    crop = photo[top:top + height, left:left + width]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)


def default_photo():
    """skimage's astronaut photograph (512x512 RGB) in [0, 1]."""
    from skimage import data
    return data.astronaut().astype(np.float32) / 255.0


def load_graph(path, file_format):
    """A callable running the exported graph at ``path`` on numpy arrays (any batch),
    loaded as the runners load it."""
    from src.deploy.runners import load_mindir, onnx_session
    if file_format == "ONNX":
        session = onnx_session(path)
        names = [item.name for item in session.get_inputs()]
        return lambda *arrays: session.run(None, dict(zip(names, arrays)))[0]
    cell = load_mindir(path)
    return lambda *arrays: cell(*[as_tensor(a) for a in arrays]).asnumpy()


def report(log, label, diff):
    log(f"  {label}: max abs diff vs eager {diff:.2e} ({'ok' if diff < TOLERANCE else 'FAILED'})")
    return diff


def verify_export(net, paths, metadata, file_format, photo, log=print):
    """Compare every written graph with the eager network; VerificationError on a
    difference >= TOLERANCE. Returns {label: max abs diff}."""
    from mindspore import Tensor
    from src.deploy.runners import MindirRunner, OnnxRunner
    from src.deploy.tiling import upscale
    batch, _, height, width = metadata["input_shape"]
    run_full = load_graph(paths["full"], file_format)
    log(f"verifying {paths['full']}")
    diffs = {}
    for label, x in verification_inputs(net.cfg, batch, height, width, photo):
        reference = net(Tensor(x)).asnumpy()
        diffs[label] = report(log, label, float(np.abs(run_full(x) - reference).max()))
    if "tile" in paths:
        u, halo, tile = net.cfg.unshuffle, metadata["halo"], 8 * net.cfg.unshuffle
        runner_class = OnnxRunner if file_format == "ONNX" else MindirRunner
        runner = runner_class(paths["full"], metadata)
        # Big enough for windows (tile + 2 halo) to cut both axes: >= 2 x 3 tiles.
        x = photo_crop(photo, 2 * tile + 2 * halo + u, 3 * tile + 2 * halo + u)
        reference = net(Tensor(x)).asnumpy()
        tiled = upscale(runner, x, tile=tile)
        label = (f"tiled photo {x.shape[3]}x{x.shape[2]}, tile {tile} + halo {halo} "
                 f"({paths['tile']}, {paths['stats']})")
        diffs[label] = report(log, label, float(np.abs(tiled - reference).max()))
    failed = {k: v for k, v in diffs.items() if not v < TOLERANCE}
    if failed:
        label, diff = next(iter(failed.items()))
        raise VerificationError(f"exported {paths['full']} differs from the eager network by "
                                f"{diff:.2e} on the {label} input (tolerance {TOLERANCE:g})")
    return diffs


def export_model(cfg, ckpt_file, file_format="MINDIR", file_name="asconvsr", height=None,
                 width=None, batch_size=1, tile_graphs=True, verify_image=None, log=print,
                 overwrite=True, temperature=None):
    """Load ``ckpt_file`` into the network ``cfg`` describes (run at ``temperature``
    instead of the checkpoint's own when given), export (each file exclusively unless
    ``overwrite``), verify. Returns ({kind: path}, metadata)."""
    from src.checkpoint import load_trained_model
    check_request(cfg, file_format, file_name, height, width, batch_size)
    net, _ = load_trained_model(cfg, ckpt_file, temperature)
    paths, metadata = export_graphs(net, file_format, file_name, height, width, batch_size,
                                    tile_graphs, ckpt_file, overwrite)
    for kind, path in paths.items():
        log(f"wrote {path} ({kind} graph, input {describe_input(metadata, kind)})")
    log(f"wrote {paths['full']}.json (metadata: x{metadata['scale']}, unshuffle "
        f"{metadata['unshuffle']}, halo {metadata['halo']})")
    if file_format == "AIR":
        log("AIR is not verified here: MindSpore cannot load it back; export MINDIR from the "
            "same checkpoint to check the graph")
        return paths, metadata
    photo = default_photo() if verify_image is None else read_photo(verify_image)
    verify_export(net, paths, metadata, file_format, photo, log)
    return paths, metadata


def describe_input(metadata, kind):
    batch, _, height, width = metadata["input_shape"]
    size = "any HxW" if height is None else f"{width}x{height}"
    extra = {"full": "", "tile": " + pooled", "stats": " + interior + pooled"}[kind]
    return f"{batch}x3, {size}{extra}"


def read_photo(path):
    """--verify_image: the photo used for verification, (H, W, 3) float32 in [0, 1]."""
    from src.images import read_image
    return read_image(path).rgb
