"""Process set-up shared by every entry point and test: environment, device, mode.

Two things must happen *before* ``import mindspore``, because MindSpore reads them
once when its shared libraries load:

* ``ONEDNN_MAX_CPU_ISA=AVX2``. On AVX-512 CPUs MindSpore 2.10's CPU Conv2D is
  dispatched by oneDNN to its ``jit_uni_ncsp`` (plain NCHW) kernel, which is nearly
  two orders of magnitude slower than ``gemm:jit``; capping the ISA at AVX2 makes
  oneDNN pick ``gemm:jit`` (figures: docs/performance.md#cpu-runtime-notes). Check with ``ONEDNN_VERBOSE=1`` (the ``exec`` lines name
  the implementation) or ``python -m src.runtime``. It only touches the CPU
  backend; on GPU/Ascend it is inert.
* ``GLOG_v=3``: MindSpore's INFO and WARNING lines off; errors still print.

``src/__init__.py`` holds them and applies them on any ``import src...``.
A value the user already exported always wins (``setdefault``).
"""
import os

from src.config import ConfigError

from src import ENV_DEFAULTS, apply_env_defaults, env_state  # noqa: F401  (re-exported)


def env_was_applied_in_time():
    """False when mindspore was imported before ``src``: the oneDNN cap then has no effect."""
    return bool(env_state["applied_before_mindspore"])


def setup(device="CPU", mode="graph", device_id=None, seed=None, jit_level=None):
    """Configure MindSpore for this process.

    Args:
        device: "CPU", "GPU" or "Ascend".
        mode: "graph" (static graph, fastest) or "pynative" (eager, quick to start).
        device_id: accelerator index; defaults to the launcher's ``DEVICE_ID`` or 0.
        seed: global seed for MindSpore and numpy (None leaves them alone). On GPU and
            Ascend it also turns on MindSpore's deterministic kernels
            (``ms.set_deterministic``): without them cuDNN/CANN pick atomics-based
            algorithms whose float sums differ run to run. The CPU kernels are already
            deterministic for a fixed thread count.
        jit_level: MindSpore graph-kernel level ("O0", "O1"); None keeps the default.
    """
    apply_env_defaults()
    import mindspore as ms

    device = device.upper() if device.lower() != "ascend" else "Ascend"
    if device not in ("CPU", "GPU", "Ascend"):
        raise ConfigError(f"device_target '{device}' is not one of CPU, GPU, Ascend")
    if mode not in ("graph", "pynative"):
        raise ConfigError(f"mode '{mode}' is not one of graph, pynative")
    if device_id is None:
        device_id = int(os.environ.get("DEVICE_ID", 0))
    set_device(ms, device, device_id)
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    if jit_level:
        ms.set_context(jit_config={"jit_level": jit_level})
    if seed is not None:
        import numpy as np
        if device != "CPU":
            ms.set_deterministic(True)
        ms.set_seed(seed)
        np.random.seed(seed)
    return ms


def set_device(ms, device, device_id):
    """ms.set_device; a device this MindSpore build lacks (--device_target GPU with the
    CPU wheel) is the user's choice to change, so one ConfigError line, not a traceback."""
    try:
        if device == "CPU":
            ms.set_device("CPU")
        else:
            ms.set_device(device, device_id)
    except RuntimeError as err:
        if "Unsupported device target" not in str(err):
            raise
        reason = str(err).strip().splitlines()[0].split(". Please")[0]
        raise ConfigError(f"device_target {device}: {reason}; install the MindSpore build for "
                          f"{device} or pass --device_target CPU") from None


def describe():
    """One line per fact a bug report needs: versions and the CPU set-up in force."""
    import platform
    import mindspore as ms
    import numpy as np
    lines = [
        f"python {platform.python_version()}, mindspore {ms.__version__}, numpy {np.__version__}",
        f"machine {platform.machine()}, {os.cpu_count()} cpus",
        f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')} "
        f"(applied before mindspore import: {env_was_applied_in_time()})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    # `python -m src.runtime` prints the set-up and the oneDNN convolution path in use.
    apply_env_defaults()
    os.environ["ONEDNN_VERBOSE"] = "1"
    import numpy as np
    ms = setup("CPU", "pynative")
    from mindspore import ops
    print(describe())
    x = ms.Tensor(np.ones((1, 8, 16, 16), np.float32))
    w = ms.Tensor(np.ones((8, 8, 3, 3), np.float32))
    ops.conv2d(x, w, pad_mode="pad", padding=1).asnumpy()
