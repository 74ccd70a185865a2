"""One interface over the three kinds of model infer.py accepts: .ckpt, .mindir, .onnx.

A runner exposes the three graphs of src/deploy/network.py on numpy float32 arrays:

    full(x)                     (1, 3, H, W) -> (1, 3, sH, sW)
    tile(x, pooled)             the same for one tile, given the whole image's pooled means
    stats(x, interior, pooled)  per-block interior sums of the block inputs (num_blocks, C)

and what the tiler needs to know: ``scale``, ``unshuffle``, ``halo``, ``pooled_shape``
(None: no control module, any tile is independent), ``fixed_size`` ((H, W) of a
fixed-shape export, else None) and ``can_tile``.
"""
import os
import sys

import numpy as np

from src.deploy.metadata import MetadataError, graph_path, read_metadata, unreadable_model
from src.deploy.network import (DeployError, as_tensor, deploy_from_training, pooled_shape,
                                receptive_halo, uses_global_pooling)

MODEL_EXTENSIONS = (".ckpt", ".mindir", ".onnx")


class ModelRunner:
    """Shared bookkeeping; subclasses implement ``_run(kind, *arrays)``."""

    def __init__(self, path, scale, unshuffle, halo, pooled, fixed_size=None,
                 graph_kinds=("full",)):
        self.path = path
        self.scale, self.unshuffle, self.halo = int(scale), int(unshuffle), int(halo)
        self.pooled_shape = tuple(pooled) if pooled else None
        self.fixed_size = tuple(fixed_size) if fixed_size else None
        self.graph_kinds = tuple(graph_kinds)

    @property
    def can_tile(self):
        """Tiles need an any-size graph, plus tile and stats graphs when the model pools."""
        if self.fixed_size is not None:
            return False
        return self.pooled_shape is None or {"tile", "stats"} <= set(self.graph_kinds)

    def full(self, x):
        return self._run("full", x)

    def tile(self, x, pooled):
        if self.pooled_shape is None:
            return self._run("full", x)
        return self._run("tile", x, pooled)

    def stats(self, x, interior, pooled):
        return self._run("stats", x, interior, pooled)

    def _run(self, kind, *arrays):
        raise NotImplementedError


class CheckpointRunner(ModelRunner):
    """A training checkpoint, run through the deploy Cells in the current MindSpore mode."""

    def __init__(self, path, cfg, fp16=False, temperature=None):
        from src.checkpoint import load_trained_model
        net, model_cfg = load_trained_model(cfg, path, temperature)
        pooling = uses_global_pooling(model_cfg)
        kinds = ("full", "tile", "stats") if pooling else ("full",)
        super().__init__(path, model_cfg.scale, model_cfg.unshuffle, receptive_halo(model_cfg),
                         pooled_shape(model_cfg) if pooling else None, graph_kinds=kinds)
        self.cells = {kind: deploy_from_training(net, kind) for kind in kinds}
        if fp16:
            # The stats graph stays float32: its per-block sums over a whole tile can
            # pass float16's largest number (65504).
            from src.engine.amp import half_precision_inference
            for kind in set(kinds) - {"stats"}:
                self.cells[kind] = half_precision_inference(self.cells[kind])

    def _run(self, kind, *arrays):
        return self.cells[kind](*[as_tensor(a) for a in arrays]).asnumpy()


class MindirRunner(ModelRunner):
    """An exported MINDIR (and its tile/stats MINDIRs), through ms.load + nn.GraphCell."""

    def __init__(self, path, metadata):
        import mindspore as ms
        from mindspore import nn
        kinds = present_graphs(path, metadata)
        super().__init__(path, **runner_fields(metadata), graph_kinds=kinds)
        self.cells = {}
        for kind in kinds:
            file = graph_path(path, metadata, kind) if kind != "full" else path
            try:
                self.cells[kind] = nn.GraphCell(ms.load(file))
            except (RuntimeError, ValueError, OSError) as err:     # "Load MindIR failed"
                raise DeployError(unreadable_model(file, err)) from None

    def _run(self, kind, *arrays):
        return self.cells[kind](*[as_tensor(a) for a in arrays]).asnumpy()


class OnnxRunner(ModelRunner):
    """An exported ONNX model (and its tile/stats graphs) through ONNX Runtime."""

    def __init__(self, path, metadata, providers=None):
        import onnxruntime as ort
        kinds = present_graphs(path, metadata)
        super().__init__(path, **runner_fields(metadata), graph_kinds=kinds)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = providers or ["CPUExecutionProvider"]
        self.sessions = {}
        for kind in kinds:
            file = graph_path(path, metadata, kind) if kind != "full" else path
            try:
                self.sessions[kind] = ort.InferenceSession(file, options, providers=providers)
            except Exception as err:      # InvalidProtobuf, Fail...: onnxruntime's own types
                raise DeployError(unreadable_model(file, err)) from None

    def _run(self, kind, *arrays):
        session = self.sessions[kind]
        names = [item.name for item in session.get_inputs()]
        feeds = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(names, arrays)}
        return session.run(None, feeds)[0]


def present_graphs(path, metadata):
    """The graph kinds of an export that can be run: "full" (``path`` itself), plus
    "tile" and "stats" when the metadata names them and both files are there. A model
    file copied without them (an .onnx carries its metadata) runs whole images; a
    warning names what is missing."""
    tiling = [kind for kind in ("tile", "stats") if graph_path(path, metadata, kind)]
    missing = [graph_path(path, metadata, kind) for kind in tiling
               if not os.path.isfile(graph_path(path, metadata, kind))]
    if missing:
        print(f"warning: '{path}': the tiling graph '{missing[0]}' named in its metadata is "
              f"missing; whole images only (copy the files export.py wrote together to tile)",
              file=sys.stderr)
        return ["full"]
    return ["full"] + tiling


def runner_fields(metadata):
    """ModelRunner keyword arguments from export metadata."""
    batch, _, height, width = metadata["input_shape"]
    if batch != 1:
        raise DeployError(f"the model was exported for batch {batch}; infer.py runs one image "
                          f"at a time: export it again with --batch_size 1")
    fixed = (height, width) if height is not None else None
    return dict(scale=metadata["scale"], unshuffle=metadata["unshuffle"], halo=metadata["halo"],
                pooled=metadata["pooled_shape"] if metadata["global_pooling"] else None,
                fixed_size=fixed)


def metadata_from_flags(path, cfg):
    """Stand-in metadata for an export without any (scale/unshuffle from --scale/--unshuffle)."""
    # Whether it pools is unknown: assume it does, and without tile/stats graphs the
    # tiler then runs whole images only (can_tile is False).
    return {"scale": cfg["scale"], "unshuffle": cfg["unshuffle"], "halo": 0,
            "global_pooling": True, "pooled_shape": [0, 0], "input_shape": [1, 3, None, None],
            "graphs": {"full": os.path.basename(path)}}


def open_model(path, cfg, explicit_keys=(), fp16=False, temperature=None):
    """A runner for ``path`` (.ckpt, .mindir or .onnx).

    cfg: the resolved config (for a .ckpt: its model keys; for exports: ``scale`` and
    ``unshuffle`` are used only when the export has no metadata and the user passed them).
    explicit_keys: config keys given on the command line (an explicit --scale must agree
    with an export's metadata). fp16: run a .ckpt's graphs in float16 (src/engine/amp.py).
    temperature: run a .ckpt at this softmax temperature, not its own (an explicit choice).
    """
    if os.path.isdir(path):
        raise DeployError(f"model '{path}' is a folder; give the .ckpt, .mindir or .onnx "
                          f"file inside it")
    if not os.path.isfile(path):
        raise DeployError(f"model '{path}' does not exist")
    extension = os.path.splitext(path)[1].lower()
    if extension not in MODEL_EXTENSIONS:
        raise DeployError(f"model '{path}': expected a .ckpt, .mindir or .onnx file")
    if extension == ".ckpt":
        return CheckpointRunner(path, cfg, fp16, temperature)
    metadata = read_metadata(path)
    if metadata is None:
        if not {"scale", "unshuffle"} <= set(explicit_keys):
            raise MetadataError(f"'{path}' has no export metadata ({path}.json); re-export it "
                                f"with export.py, or pass --scale S --unshuffle U "
                                f"(then whole-image inference only)")
        metadata = metadata_from_flags(path, cfg)
    elif "scale" in explicit_keys and int(cfg["scale"]) != int(metadata["scale"]):
        raise DeployError(f"--scale {cfg['scale']} disagrees with the model '{path}', which "
                          f"upscales x{metadata['scale']}; drop --scale or use another model")
    if extension == ".mindir":
        return MindirRunner(path, metadata)
    return OnnxRunner(path, metadata, onnx_providers(cfg.get("device_target", "CPU")))


def onnx_providers(device_target):
    """ONNX Runtime providers: CUDA first on GPU when this onnxruntime build has it."""
    import onnxruntime as ort
    if device_target == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
