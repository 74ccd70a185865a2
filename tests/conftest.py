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
