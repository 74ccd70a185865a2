"""Shared test set-up: CPU, PyNative (no graph compile wait) unless a test asks for graph."""
import src  # noqa: F401  (environment defaults before mindspore loads)
import pytest


@pytest.fixture(autouse=True, scope="session")
def _mindspore_cpu_pynative():
    from src.runtime import setup
    setup("CPU", "pynative", seed=0)
    yield


@pytest.fixture
def graph_mode():
    """Run one test in graph mode, then return to PyNative."""
    import mindspore as ms
    ms.set_context(mode=ms.GRAPH_MODE)
    yield
    ms.set_context(mode=ms.PYNATIVE_MODE)


def gpu_available():
    """True when nvidia-smi lists a GPU (the GPU plugin's own check would load CUDA)."""
    import shutil
    import subprocess
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "GPU" in listing


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, on machines without a GPU."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and not gpu_available():
        skip = pytest.mark.skip(reason="no GPU (nvidia-smi lists none); scripts/gpu_check.sh")
        for item in gpu_items:
            item.add_marker(skip)
