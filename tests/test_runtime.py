"""The one runtime set-up: environment defaults before MindSpore loads, user values win."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = ("import src, os, mindspore; from src.runtime import env_was_applied_in_time; "
         "print(os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['GLOG_v'], env_was_applied_in_time())")


def probe(env_overrides, code=PROBE):
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "GLOG_v")}
    env.update(env_overrides, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_defaults_applied_before_mindspore():
    assert probe({}) == ["AVX2", "3", "True"]


def test_user_setting_wins():
    assert probe({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})[0] == "AVX512_CORE"


def test_late_import_is_detected():
    code = "import mindspore, src; from src.runtime import env_was_applied_in_time; print(env_was_applied_in_time())"
    assert probe({}, code) == ["False"]


def test_convolution_uses_gemm_jit_under_the_cap():
    """ONEDNN_VERBOSE names the kernel oneDNN picked for a CPU convolution."""
    code = ("import src; from src.runtime import setup; ms = setup('CPU', 'pynative'); "
            "import numpy as np; from mindspore import ops, Tensor; "
            "ops.conv2d(Tensor(np.ones((1, 8, 16, 16), np.float32)), "
            "Tensor(np.ones((8, 8, 3, 3), np.float32)), pad_mode='pad', padding=1).asnumpy()")
    env = dict(os.environ, ONEDNN_VERBOSE="1", PYTHONPATH=ROOT)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    kernels = [line.split(",")[6] for line in out.stdout.splitlines()
               if ",exec," in line and ",convolution," in line]
    assert kernels and all("gemm:jit" in k for k in kernels), kernels


def test_graph_kernel_fusion_builds_kernels_and_keeps_the_output(tmp_path):
    """graph_kernel: True compiles fused kernels (AKG writes them to the cache folder)
    and the network's output is the one compiled without fusion."""
    code = (
        "import src, os, numpy as np; from src.runtime import setup, use_graph_kernel; "
        "ms = setup('CPU', 'graph', seed=0); "
        "from src.model.asconvsr import AsConvSRConfig, build_model; "
        "from src.deploy.network import copy_parameters; "
        "cfg = AsConvSRConfig(scale=2, channels=8, num_kernels=4); "
        "net = build_model(cfg); net.set_train(False); "
        "x = ms.Tensor(np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)); "
        "plain = net(x).asnumpy(); use_graph_kernel(ms); "
        "fused_net = copy_parameters(net, build_model(cfg)); fused_net.set_train(False); "
        "fused = fused_net(x).asnumpy(); "
        "meta = os.path.join(os.environ['MS_COMPILER_CACHE_PATH'], 'akg_kernel_meta'); "
        "print(float(np.abs(plain - fused).max()), len(os.listdir(meta)))")
    env = dict(os.environ, PYTHONPATH=ROOT, MS_COMPILER_CACHE_PATH=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    max_difference, kernel_files = out.stdout.split()[-2:]
    assert float(max_difference) < 1e-5
    assert int(kernel_files) > 0


def test_graph_kernel_without_its_package_is_a_one_line_error(monkeypatch):
    from src.runtime import use_graph_kernel
    monkeypatch.setitem(sys.modules, "decorator", None)     # import decorator -> ImportError
    with pytest.raises(ValueError, match="decorator"):
        use_graph_kernel(object())
