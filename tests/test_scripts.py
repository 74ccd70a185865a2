"""The run_*.sh scripts: whole usage on -h, a user's own Python environment instead of
.venv (PYTHON=...), and the distributed script's run folder read from the preset."""
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["run_train_gpu.sh", "run_train_cpu.sh", "run_distribute_train_gpu.sh",
           "run_eval_gpu.sh", "run_eval_cpu.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_gives_the_whole_usage_including_the_python_choice(script):
    proc = subprocess.run(["bash", os.path.join("scripts", script), "-h"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert f"Usage: bash scripts/{script}" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("# PYTHON=python")


def user_environment(tmp_path):
    """A folder holding a `python` that is this interpreter (which imports mindspore) and
    a fake `msrun` that prints its arguments: a user's environment."""
    folder = tmp_path / "env"
    folder.mkdir()
    for name, body in [("python", f'exec {sys.executable} "$@"\n'),
                       ("msrun", 'echo "msrun $*"\n')]:
        path = folder / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def test_python_that_imports_mindspore_is_used_without_setup(tmp_path):
    folder = user_environment(tmp_path)
    proc = subprocess.run(["bash", "-c", "source scripts/python_env.sh && echo \"PY=$PY\""],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": str(folder / "python")})
    assert proc.returncode == 0, proc.stderr
    assert f"PY={folder / 'python'}" in proc.stdout
    assert "[setup]" not in proc.stdout + proc.stderr


def test_distributed_script_writes_to_the_presets_output_dir(tmp_path):
    folder = user_environment(tmp_path)
    run_dir = os.path.join(ROOT, "runs", "asconvsr_x3")
    existed = os.path.isdir(run_dir)
    proc = subprocess.run(["bash", "scripts/run_distribute_train_gpu.sh", "2",
                           "configs/asconvsr_x3.yaml", "--total_iters", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": str(folder / "python"),
                               "DEVICE_TARGET": "CPU"})
    if not existed and os.path.isdir(run_dir) and not os.listdir(run_dir):
        os.rmdir(run_dir)            # the script made the (empty) run folder for msrun
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("msrun ")][0]
    assert "--output_dir runs/asconvsr_x3 " in line and "--worker_num=2" in line
    assert line.endswith("--total_iters 1")
