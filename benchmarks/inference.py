"""Inference latency of AsConvSR: MindSpore graph mode, exported MINDIR, ONNX Runtime.

For each NTIRE 2023 RTSR track (x2: 1920x1080 -> 4K, x3: 1280x720 -> 4K), batch 1, the
median of ``runs`` timed calls after ``warmup`` untimed ones, each call returning the
output as a numpy array (so every row pays for its own output copy). Rows:

    MindSpore graph, training cell        AsConvSR as trained (kernel_first, groups = B conv)
    MindSpore graph, training basis_first the same weights, assembled_impl basis_first
    MindSpore graph, deploy cell          src/deploy/network.py (groups = 1 conv for batch 1)
    MINDIR (GraphCell)                    the deploy cell exported for this size, ms.load
    ONNX Runtime                          the deploy cell exported to ONNX, CPU provider

Weights are freshly initialised (timing does not depend on their values). MACs are the
analytic count of src/model/complexity.py; GMAC/s = MACs / median latency.
"""
import datetime
import os
import platform
import tempfile

import numpy as np

from benchmarks.timing import cpu_name, median_seconds

TRACKS = [("x2", "configs/asconvsr_x2.yaml", 1080, 1920),
          ("x3", "configs/asconvsr_x3.yaml", 720, 1280)]


def machine_header(title, versions=()):
    """Header lines every benchmark prints: title and date, CPU and cores, the versions
    (python, mindspore, numpy, onnxruntime, then ``versions``) and the oneDNN ISA cap."""
    import mindspore as ms
    versions = [f"python {platform.python_version()}", f"mindspore {ms.__version__}",
                f"numpy {np.__version__}"] + onnxruntime_version() + list(versions)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join([
        f"# {title}, {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"# machine: {cpu_name()}, {cores} cores usable; {platform.platform()}",
        f"# {', '.join(versions)}; ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}",
    ])


def onnxruntime_version():
    try:
        import onnxruntime as ort
    except ImportError:
        return ["onnxruntime not installed"]
    return [f"onnxruntime {ort.__version__}"]


def header(device, fp16):
    return "\n".join([
        machine_header("AsConvSR inference benchmark"),
        f"# device {device}, {'fp16' if fp16 else 'fp32'}, batch 1, freshly initialised weights",
    ])


def synchronizer(device):
    """Waits for queued device work (GPU); a no-op on CPU, where outputs are copied anyway."""
    if device == "CPU":
        return lambda: None
    import mindspore as ms
    return ms.runtime.synchronize


def mindspore_call(cell, x, device):
    """A timed call: on CPU return the output as numpy; on GPU wait for the device."""
    sync = synchronizer(device)
    if device == "CPU":
        return lambda: cell(x).asnumpy()
    return lambda: (cell(x), sync())


def build_nets(cfg_path, fp16, seed=0):
    """{row name: cell} for the MindSpore rows, all holding the same fresh weights."""
    import mindspore as ms
    from src.config import load_config
    from src.checkpoint import copy_weights
    from src.deploy.network import deploy_from_training
    from src.model.asconvsr import AsConvSRConfig, build_model
    ms.set_seed(seed)
    cfg = AsConvSRConfig.from_dict(load_config(cfg_path))
    net = build_model(cfg)
    net.set_train(False)
    basis_cfg = AsConvSRConfig.from_dict(dict(load_config(cfg_path), assembled_impl="basis_first"))
    basis_net = copy_weights(net, build_model(basis_cfg))
    basis_net.set_train(False)
    cells = {"MindSpore graph, training cell": net,
             "MindSpore graph, training basis_first": basis_net,
             "MindSpore graph, deploy cell": deploy_from_training(net)}
    if fp16:     # O3: every operator in float16 (parameters cast), as NTIRE's model.half()
        cells = {name: ms.amp.auto_mixed_precision(cell, amp_level="O3")
                 for name, cell in cells.items()}
    return cfg, net, cells


def export_for_timing(net, folder, height, width, fp16):
    """Fixed-size MINDIR and ONNX of the deploy cell -> (mindir path, onnx path or None)."""
    import mindspore as ms
    from mindspore import Tensor
    from src.deploy.exporter import write_graph
    from src.deploy.network import deploy_from_training
    dtype = np.float16 if fp16 else np.float32
    cell = deploy_from_training(net)
    if fp16:
        cell = ms.amp.auto_mixed_precision(cell, amp_level="O3")
    example = [Tensor(np.zeros((1, 3, height, width), dtype))]
    mindir = write_graph(cell, example, os.path.join(folder, "bench.mindir"), "MINDIR", "full")
    try:
        example = [Tensor(np.zeros((1, 3, height, width), np.float32))]
        onnx_path = write_graph(deploy_from_training(net, shuffle="depth_to_space"), example,
                                os.path.join(folder, "bench.onnx"), "ONNX", "full")
    except ImportError:
        onnx_path = None
    return mindir, onnx_path


def onnx_call(path, x, device):
    """A timed ONNX Runtime call (CUDA provider on GPU when installed), or None."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    providers = ["CPUExecutionProvider"]
    if device == "GPU":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return None
        providers = ["CUDAExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=providers)
    feed = {session.get_inputs()[0].name: x.astype(np.float32)}
    return lambda: session.run(None, feed)


def time_track(name, cfg_path, height, width, args, log):
    """Rows (label, seconds) for one track; the MACs and params of its model."""
    import mindspore as ms
    from mindspore import nn, Tensor
    from src.model.complexity import count_macs, count_params
    cfg, net, cells = build_nets(cfg_path, args.fp16)
    x = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    x_ms = Tensor(x.astype(np.float16) if args.fp16 else x)
    rows = []
    for label, cell in cells.items():
        rows.append((label, median_seconds(mindspore_call(cell, x_ms, args.device),
                                           args.warmup, args.runs)))
        log(f"  {name} {label}: {rows[-1][1] * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as folder:
        mindir, onnx_path = export_for_timing(net, folder, height, width, args.fp16)
        graph = nn.GraphCell(ms.load(mindir))
        rows.append(("MINDIR (GraphCell)", median_seconds(
            mindspore_call(graph, x_ms, args.device), args.warmup, args.runs)))
        log(f"  {name} MINDIR: {rows[-1][1] * 1e3:.1f} ms")
        call = onnx_call(onnx_path, x, args.device) if onnx_path else None
        if call is not None:
            rows.append(("ONNX Runtime" + (" (fp32)" if args.fp16 else ""),
                         median_seconds(call, args.warmup, args.runs)))
            log(f"  {name} ONNX Runtime: {rows[-1][1] * 1e3:.1f} ms")
    return rows, count_macs(cfg, height, width), count_params(cfg)


def matmul_reference(args):
    """GMAC/s of MindSpore's (and numpy's) 129600x288 @ 288x32 float32 matmul: the im2col
    product of a 3x3 convolution, 32 -> 32 channels, at 480x270 (a reference ceiling)."""
    from mindspore import nn, ops, Tensor

    class MatMul(nn.Cell):
        def construct(self, a, b):
            return ops.matmul(a, b)

    rng = np.random.default_rng(0)
    a = rng.random((129600, 288), dtype=np.float32)
    b = rng.random((288, 32), dtype=np.float32)
    macs = 129600 * 288 * 32
    cell, a_ms, b_ms = MatMul(), Tensor(a), Tensor(b)
    ms_seconds = median_seconds(lambda: cell(a_ms, b_ms).asnumpy(), args.warmup, args.runs)
    np_seconds = median_seconds(lambda: a @ b, args.warmup, args.runs)
    return [("MindSpore matmul 129600x288 @ 288x32", ms_seconds, macs / ms_seconds / 1e9),
            ("numpy matmul, same shapes", np_seconds, macs / np_seconds / 1e9)]


def format_table(results):
    """Markdown table of every track's rows, with the ratio to ONNX Runtime."""
    lines = ["| track | input | implementation | median ms | vs ONNX Runtime | params | GMACs "
             "| GMAC/s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, (height, width), rows, macs, params in results:
        onnx = next((sec for label, sec in rows if label.startswith("ONNX Runtime")), None)
        for label, seconds in rows:
            ratio = f"{seconds / onnx:.2f}x" if onnx else "n/a"
            lines.append(f"| {name} | {width}x{height} | {label} | {seconds * 1e3:.1f} | {ratio} "
                         f"| {params:,} | {macs / 1e9:.2f} | {macs / seconds / 1e9:.1f} |")
    return "\n".join(lines)


def run_benchmark(args, log=print):
    """Everything ``python benchmark.py`` prints."""
    log(header(args.device, args.fp16))
    results = []
    for name, cfg_path, height, width in TRACKS:
        if name not in args.tracks:
            continue
        if args.small:
            height, width = height // 10, width // 10
        rows, macs, params = time_track(name, cfg_path, height, width, args, log)
        results.append((name, (height, width), rows, macs, params))
    log("")
    log(format_table(results))
    if args.device == "CPU":
        log("")
        log("| reference | median ms | GMAC/s |\n| --- | --- | --- |")
        for label, seconds, rate in matmul_reference(args):
            log(f"| {label} | {seconds * 1e3:.1f} | {rate:.1f} |")
    return results
