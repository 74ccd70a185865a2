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


def test_alternating_medians_alternates_and_skips_the_warm_up():
    """A B, B A, A B ...: each call runs warmup + rounds times; only the timed rounds count."""
    from benchmarks.timing import alternating_medians
    order = []
    medians = alternating_medians({"a": lambda: order.append("a"),
                                   "b": lambda: order.append("b")}, rounds=3, warmup=1)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert set(medians) == {"a", "b"} and all(m >= 0 for m in medians.values())


@pytest.mark.parametrize("args, step", [
    (["--shape", "2x16"], "batch 2 x LR 16"),
    (["--step", "forward", "--key", "block_type", "--values", "plain,assembled",
      "--config_path", "configs/asconvsr_x2.yaml", "--size", "16x24"], "forward at 24x16")])
def test_key_ab_times_both_values_and_prints_their_ratio(args, step):
    """benchmarks/key_ab.py, both steps at tiny shapes: both values timed, the ratio is
    second/first of the printed medians (the figures themselves are not asserted)."""
    import re
    out = subprocess.run([sys.executable, "benchmarks/key_ab.py", "--rounds", "2", *args],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert step in line, line
    found = re.search(r": (\w+) (\w+) ([\d.]+) ms, (\w+) ([\d.]+) ms, (\w+)/(\w+) ([\d.]+)$", line)
    assert found, line
    key, first, a, second, b, num, den, ratio = found.groups()
    assert (num, den) == (second, first) and first != second
    assert abs(float(ratio) - float(b) / float(a)) <= 0.006 + 0.06 * float(b) / float(a), line


@pytest.mark.parametrize("device, deterministic", [("CPU", False), ("GPU", True),
                                                   ("Ascend", True)])
def test_seed_turns_on_deterministic_kernels_on_accelerators(monkeypatch, device,
                                                             deterministic):
    import mindspore as ms
    from src.runtime import setup
    calls = {}
    monkeypatch.setattr(ms, "set_device", lambda *args: calls.setdefault("device", args))
    monkeypatch.setattr(ms, "set_context", lambda **kw: None)
    monkeypatch.setattr(ms, "set_seed", lambda seed: calls.setdefault("seed", seed))
    monkeypatch.setattr(ms, "set_deterministic", lambda on: calls.setdefault("det", on))
    setup(device, "pynative", device_id=3, seed=7)
    assert calls["seed"] == 7
    assert calls.get("det", False) is deterministic
    assert calls["device"] == (("CPU",) if device == "CPU" else (device, 3))


def run_main_result(capsys, main):
    from src.config import run_main
    with pytest.raises(SystemExit) as stop:
        run_main(main)
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("device,mode,message", [
    ("TPU", "graph", "error: device_target 'TPU' is not one of CPU, GPU, Ascend\n"),
    ("CPU", "eager", "error: mode 'eager' is not one of graph, pynative\n"),
    ("GPU", "graph", "error: device_target GPU: Unsupported device target GPU. This process "
                     "only supports one of the ['CPU']; install the MindSpore build for GPU "
                     "or pass --device_target CPU\n")])
def test_a_device_the_user_cannot_have_is_one_line(monkeypatch, capsys, device, mode, message):
    """A bad device name or mode, and --device_target GPU on the CPU wheel (MindSpore's
    RuntimeError, reproduced here so the test means the same on a GPU machine)."""
    import mindspore as ms
    from src.runtime import setup

    def cpu_wheel(target, *_):
        if target != "CPU":
            raise RuntimeError(f"Unsupported device target {target}. This process only "
                               f"supports one of the ['CPU']. Please check whether ...\n"
                               f"- C++ Call Stack: ms_context.cc:291")
    monkeypatch.setattr(ms, "set_device", cpu_wheel)
    monkeypatch.setattr(ms, "set_context", lambda **kw: None)
    assert run_main_result(capsys, lambda: setup(device, mode)) == (2, message)


def test_other_device_failures_keep_their_traceback(monkeypatch, capsys):
    import mindspore as ms
    from src.runtime import setup

    def broken_driver(*_):
        raise RuntimeError("device 0 lost")
    monkeypatch.setattr(ms, "set_device", broken_driver)
    code, err = run_main_result(capsys, lambda: setup("GPU", "graph"))
    assert code == 1 and "Traceback" in err and "device 0 lost" in err
