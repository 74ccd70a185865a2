"""One interface over the three kinds of model file: .ckpt, .mindir, .onnx; the one
inference stack of infer.py, eval.py, the training loop's validation and export.py's
verification (src/deploy/predictor.py adapts it to uint8 images).

A runner exposes the three graphs of src/deploy/network.py on numpy float32 arrays:

    full(x)                     (1, 3, H, W) -> (1, 3, sH, sW)
    tile(x, pooled)             the same for one tile, given the whole image's pooled means
    stats(x, interior, pooled)  per-block interior sums of the block inputs (num_blocks, C)

and what the tiler needs to know: ``scale``, ``unshuffle``, ``halo``, ``pooled_shape``
(None: no control module, any tile is independent), ``fixed_size`` ((H, W) of a
fixed-shape export, else None) and ``can_tile``. What eval.py reports: ``kind``
(checkpoint, mindir, onnx), ``precision``, ``engine``, ``model_cfg`` (None for an
export without metadata). ``forward_ms`` adds up the time spent inside the graphs:
from the call until the device has finished (``ms.runtime.synchronize`` on GPU and
Ascend; on CPU, where that call is unsupported, until the host copy of the output);
converting inputs and outputs around it is not counted.
"""
import os
import sys
import time

import numpy as np

from src.deploy.metadata import (MetadataError, graph_path, mislabelled, read_metadata,
                                 unreadable_model)
from src.deploy.network import (DeployError, as_tensor, deploy_from_training, pooled_shape,
                                receptive_halo, uses_global_pooling)

MODEL_EXTENSIONS = (".ckpt", ".mindir", ".onnx")


class ModelRunner:
    """Shared bookkeeping and timing; subclasses implement ``_inputs(kind, arrays)`` (the
    graph's inputs, untimed) and ``_execute(kind, inputs)`` (run it, until finished)."""

    kind = None                  # checkpoint | mindir | onnx
    precision = "float32"
    compiles_per_shape = False   # a new input size compiles (eval.py warms it up first)
    eager = False                # operator by operator (PyNative): timings include dispatch

    def __init__(self, path, scale, unshuffle, halo, pooled, fixed_size=None,
                 graph_kinds=("full",), model_cfg=None):
        self.path = path
        self.scale, self.unshuffle, self.halo = int(scale), int(unshuffle), int(halo)
        self.pooled_shape = tuple(pooled) if pooled else None
        self.fixed_size = tuple(fixed_size) if fixed_size else None
        self.graph_kinds = tuple(graph_kinds)
        self.model_cfg = model_cfg
        self.forward_ms = 0.0

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
        """Graph ``kind`` on numpy arrays -> a numpy array; its run time added to forward_ms."""
        inputs = self._inputs(kind, arrays)
        start = time.perf_counter()
        out = self._execute(kind, inputs)
        self.forward_ms += (time.perf_counter() - start) * 1000.0
        return out if isinstance(out, np.ndarray) else out.asnumpy()

    def _inputs(self, kind, arrays):
        raise NotImplementedError

    def _execute(self, kind, inputs):
        raise NotImplementedError


class MindSporeRunner(ModelRunner):
    """Runs ``self.graphs[kind]`` (Cells or GraphCells) on MindSpore tensors."""

    def _inputs(self, kind, arrays):
        return [as_tensor(a) for a in arrays]

    def _execute(self, kind, inputs):
        import mindspore as ms
        out = self.graphs[kind](*inputs)
        if ms.get_context("device_target") == "CPU":
            return out.asnumpy()       # no synchronize on CPU; the host copy waits instead
        ms.runtime.synchronize()
        return out


class CheckpointRunner(MindSporeRunner):
    """A training checkpoint, run through the deploy Cells in the current MindSpore mode;
    or (``net``) a network in memory, as the training loop's validation runs it."""

    kind = "checkpoint"

    def __init__(self, path, cfg, fp16=False, net=None, temperature=None):
        """``path`` loaded into the model ``cfg`` describes; with ``net`` given, that
        AsConvSR instead (its Parameters themselves, so a network still training is run
        with its weights of the moment; ``path`` only names it). The network's train flag
        is left as it was: a trainer sets it around validation."""
        if net is None:
            from src.checkpoint import load_trained_model
            net, _ = load_trained_model(cfg, path, temperature)
        model_cfg = net.cfg
        pooling = uses_global_pooling(model_cfg)
        # a pooled std (control_pool, an issue-17 experiment) is no sum over tiles
        kinds = ("full", "tile", "stats") if pooling and model_cfg.control_pool == "mean" \
            else ("full",)
        super().__init__(path, model_cfg.scale, model_cfg.unshuffle, receptive_halo(model_cfg),
                         pooled_shape(model_cfg) if pooling else None, graph_kinds=kinds,
                         model_cfg=model_cfg)
        training = net.training
        self.graphs = {kind: deploy_from_training(net, kind) for kind in kinds}
        net.set_train(training)
        if fp16:
            # The stats graph stays float32: its per-block sums over a whole tile can
            # pass float16's largest number (65504).
            from src.engine.amp import half_precision_inference
            for kind in set(kinds) - {"stats"}:
                self.graphs[kind] = half_precision_inference(self.graphs[kind])
            self.precision = "float16"

    @property
    def eager(self):
        import mindspore as ms
        return ms.get_context("mode") != ms.GRAPH_MODE

    @property
    def compiles_per_shape(self):
        return not self.eager

    @property
    def engine(self):
        import mindspore as ms
        return f"MindSpore {'PyNative' if self.eager else 'graph'}, " \
               f"{ms.get_context('device_target')}"


class ExportRunner(ModelRunner):
    """An export: the graphs its metadata names, each loaded by the subclass's ``_load``."""

    def __init__(self, path, metadata):
        kinds = present_graphs(path, metadata)
        super().__init__(path, **runner_fields(metadata), graph_kinds=kinds,
                         model_cfg=model_config(metadata))
        self.graphs = {}
        for kind in kinds:
            file = graph_path(path, metadata, kind) if kind != "full" else path
            self.graphs[kind] = self._load(file)

    def _load(self, file):
        raise NotImplementedError


class MindirRunner(MindSporeRunner, ExportRunner):
    """An exported MINDIR (and its tile/stats MINDIRs), through ms.load + nn.GraphCell."""

    kind = "mindir"
    compiles_per_shape = True

    def __init__(self, path, metadata):
        import mindspore as ms
        self.engine = f"MindSpore GraphCell, {ms.get_context('device_target')}"
        super().__init__(path, metadata)

    def _load(self, file):
        return load_mindir(file)


class OnnxRunner(ExportRunner):
    """An exported ONNX model (and its tile/stats graphs) through ONNX Runtime."""

    kind = "onnx"

    def __init__(self, path, metadata, providers=None):
        import onnxruntime as ort
        self.providers = providers or ["CPUExecutionProvider"]
        self.engine = f"ONNX Runtime {ort.__version__}, {self.providers[0]}"
        super().__init__(path, metadata)

    def _load(self, file):
        return onnx_session(file, self.providers)

    def _inputs(self, kind, arrays):
        names = [item.name for item in self.graphs[kind].get_inputs()]
        return {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(names, arrays)}

    def _execute(self, kind, inputs):
        return self.graphs[kind].run(None, inputs)[0]       # returns when finished


def load_mindir(file):
    """nn.GraphCell of a MINDIR file; one-line DeployError naming it when unloadable."""
    import mindspore as ms
    from mindspore import nn
    try:
        return nn.GraphCell(ms.load(file))
    except (RuntimeError, ValueError, OSError) as err:     # "Load MindIR failed"
        raise DeployError(unreadable_model(file, err)) from None


def onnx_session(file, providers=("CPUExecutionProvider",)):
    """ONNX Runtime session of an ONNX file (its warnings off); one-line DeployError
    naming it when unloadable."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(file, options, providers=list(providers))
    except Exception as err:      # InvalidProtobuf, Fail...: onnxruntime's own types
        raise DeployError(unreadable_model(file, err)) from None


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


def model_config(metadata):
    """The AsConvSRConfig an export was made from (its metadata's model_config), or None."""
    from src.model.asconvsr import AsConvSRConfig
    fields = metadata.get("model_config")
    return AsConvSRConfig.from_dict(fields) if fields else None


def export_metadata(path, cfg, explicit_keys=()):
    """The metadata of the export ``path`` (a stand-in from --scale/--unshuffle when it
    has none); an explicit --scale must agree with it."""
    metadata = read_metadata(path)
    if metadata is None and mislabelled(path):          # e.g. an .onnx renamed .mindir
        raise MetadataError(f"model '{path}' {mislabelled(path)}")
    if metadata is None:
        if not {"scale", "unshuffle"} <= set(explicit_keys):
            raise MetadataError(f"'{path}' has no export metadata ({path}.json); re-export it "
                                f"with export.py, or pass --scale S --unshuffle U "
                                f"(then whole-image inference only)")
        return metadata_from_flags(path, cfg)
    if "scale" in explicit_keys and int(cfg["scale"]) != int(metadata["scale"]):
        raise DeployError(f"--scale {cfg['scale']} disagrees with the model '{path}', which "
                          f"upscales x{metadata['scale']}; drop --scale or use another model")
    return metadata


def model_scale(path, cfg, explicit_keys=()):
    """The model's upscaling factor before it loads (eval.py needs it to make the LR and
    check its outputs first): an export's metadata, else the config's ``scale``. A path
    that is no export file is left to :func:`open_model` to refuse."""
    is_export = os.path.splitext(path)[1].lower() in (".mindir", ".onnx")
    if not (is_export and os.path.isfile(path)):
        return int(cfg["scale"])
    return int(export_metadata(path, cfg, explicit_keys)["scale"])


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
        return CheckpointRunner(path, cfg, fp16, temperature=temperature)
    metadata = export_metadata(path, cfg, explicit_keys)
    if extension == ".mindir":
        return MindirRunner(path, metadata)
    return OnnxRunner(path, metadata, onnx_providers(cfg.get("device_target", "CPU")))


def onnx_providers(device_target):
    """ONNX Runtime providers: CUDA first on GPU when this onnxruntime build has it."""
    import onnxruntime as ort
    if device_target == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
