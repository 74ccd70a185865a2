"""What an exported model needs to be used: scale, unshuffle factor, tiling graphs.

A MINDIR or ONNX file holds a graph but not how to feed it. export.py therefore writes
a JSON sidecar beside every exported model, ``<model file>.json`` (``x2.mindir`` ->
``x2.mindir.json``), and for ONNX also puts the same JSON in the model's
``metadata_props`` under the key ``asconvsr`` (so an .onnx file copied alone still works).

Fields (version 1):
    format, version     "asconvsr-export", 1
    scale, unshuffle    s and u: output is s x the input; inputs are padded to multiples of u
    halo                LR pixels a tile needs around its core (src.deploy.network.receptive_halo)
    global_pooling      true when the model has control modules (whole-image statistics)
    pooled_shape        [num_blocks, C]: the "pooled" input of the tile/stats graphs
    input_shape         [B, 3, H, W] of the full graph; H and W null for an any-size graph
    graphs              file names, relative to the model's folder: "full" (x -> sr), and
                        "tile" / "stats" for tiled inference (null when not exported)
    file_format         MINDIR | ONNX | AIR
    model_config        the AsConvSRConfig fields the model was built with
    checkpoint, exported_at, mindspore_version   provenance
"""
import json
import os

from src.config import ConfigError

FORMAT = "asconvsr-export"
VERSION = 1
ONNX_KEY = "asconvsr"


class MetadataError(ConfigError):
    """Missing or unreadable export metadata; the message says how to fix it."""


def sidecar_path(model_path):
    """``x2.mindir`` -> ``x2.mindir.json``."""
    return f"{model_path}.json"


def write_sidecar(model_path, metadata, overwrite=True):
    """Write the metadata JSON beside ``model_path`` (atomically; exclusively unless
    ``overwrite``)."""
    from src.deploy.outputs import output_file
    path = sidecar_path(model_path)
    with output_file(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(metadata, handle, indent=2)
    return path


def embed_in_onnx(onnx_path, metadata):
    """Put the metadata JSON into the ONNX model's metadata_props (key ``asconvsr``);
    ``onnx_path`` is rewritten in place (export_graphs calls it on its temporary file)."""
    import onnx
    model = onnx.load(onnx_path)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, json.dumps(metadata)
    onnx.save(model, onnx_path)


def _from_onnx(onnx_path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as err:          # InvalidProtobuf, Fail...: onnxruntime's own types
        raise MetadataError(unreadable_model(onnx_path, err)) from None
    text = session.get_modelmeta().custom_metadata_map.get(ONNX_KEY)
    return json.loads(text) if text else None


def unreadable_model(path, err):
    """One line for a model file its runtime cannot load (random bytes, truncated, or the
    other kind of export under this name)."""
    hint = mislabelled(path)
    if hint:
        return f"model '{path}' cannot be loaded: it {hint}"
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (f"model '{path}' cannot be loaded ({reason[:160]}); is it a complete file "
            f"written by export.py?")


def content_kind(path):
    """'onnx' or 'mindir' as the file's first bytes say, else None. Both are protobufs:
    an ONNX ModelProto opens with its ir_version varint (field 1: byte 0x08), a MINDIR
    with its ir_version string (0x0a) and then the producer name 'MindSpore'."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError:
        return None
    if head[:1] == b"\x08":
        return "onnx"
    if head[:1] == b"\x0a" and b"MindSpore" in head:
        return "mindir"
    return None


def mislabelled(path):
    """'holds an ONNX graph, ...' when an export file's content is the other kind than its
    extension names (a .mindir renamed .onnx or the reverse), else None. Only asked once
    loading has failed: the first bytes are a hint, not a proof."""
    named = os.path.splitext(path)[1].lower().lstrip(".")
    found = content_kind(path)
    if named not in ("onnx", "mindir") or found in (None, named):
        return None
    return (f"holds {'an ONNX' if found == 'onnx' else 'a MINDIR'} graph, not "
            f"{'an ONNX' if named == 'onnx' else 'a MINDIR'} one; rename it to .{found} "
            f"(and its .json sidecar with it)")


def read_metadata(model_path):
    """The metadata of an exported model: its sidecar, else (ONNX) the embedded copy.
    Returns None when neither exists."""
    path = sidecar_path(model_path)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                metadata = json.load(handle)
        except (OSError, json.JSONDecodeError) as err:
            raise MetadataError(f"metadata file '{path}' is unreadable ({err}); re-export the "
                                f"model or delete the file and pass --scale") from None
    elif model_path.lower().endswith(".onnx"):
        metadata = _from_onnx(model_path)
    else:
        return None
    if metadata is not None and metadata.get("format") != FORMAT:
        raise MetadataError(f"'{path}' is not AsConvSR export metadata (format "
                            f"{metadata.get('format')!r}); re-export the model with export.py")
    return metadata


def graph_path(model_path, metadata, kind):
    """Absolute path of graph ``kind`` (full/tile/stats) of an export, or None."""
    name = (metadata.get("graphs") or {}).get(kind)
    if not name:
        return None
    return os.path.join(os.path.dirname(os.path.abspath(model_path)), name)
