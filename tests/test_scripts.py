"""The run_*.sh scripts: whole usage on -h, a user's own Python environment instead of
.venv (PYTHON=...), and the distributed script's run folder read from the preset."""
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["run_train_gpu.sh", "run_train_cpu.sh", "run_distribute_train_gpu.sh",
           "run_eval_gpu.sh", "run_eval_cpu.sh", "run_tests.sh", "gpu_check.sh",
           "prepare_data.sh"]


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
    executable(folder / "python", f'exec {sys.executable} "$@"\n')
    executable(folder / "msrun", 'echo "msrun $*"\n')
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
    made = [d for d in (run_dir, os.path.dirname(run_dir)) if not os.path.isdir(d)]
    proc = subprocess.run(["bash", "scripts/run_distribute_train_gpu.sh", "2",
                           "configs/asconvsr_x3.yaml", "--total_iters", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": str(folder / "python"),
                               "DEVICE_TARGET": "CPU"})
    for made_dir in made:            # the script made the (empty) run folder for msrun
        if os.path.isdir(made_dir) and not os.listdir(made_dir):
            os.rmdir(made_dir)       # and runs/ itself in a fresh clone
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("msrun ")][0]
    assert "--output_dir runs/asconvsr_x3 " in line and "--worker_num=2" in line
    assert line.endswith("--total_iters 1")


def fake_checkout(tmp_path):
    """A folder with the real scripts/python_env.sh, a scripts/setup.sh that only says it
    ran, and a .venv/bin/python: the interpreter choice without any install."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "python_env.sh").write_text(
        open(os.path.join(ROOT, "scripts", "python_env.sh")).read())
    (root / "scripts" / "setup.sh").write_text('echo "setup.sh ran $*"\n')
    (root / ".venv" / "bin").mkdir(parents=True)
    executable(root / ".venv" / "bin" / "python", "exit 0\n")
    return root


def executable(path, body):
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def python_with_mindspore_version(tmp_path, version):
    """A `python` (this interpreter) whose `import mindspore` finds a stand-in package
    with the given __version__."""
    shim = tmp_path / f"shim{version}" / "mindspore"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return executable(tmp_path / f"python{version}",
                      f'PYTHONPATH={shim.parent} exec {sys.executable} "$@"\n')


@pytest.mark.parametrize("which, uses_own", [
    ("unset", False),              # no PYTHON: .venv, made by setup.sh
    ("no mindspore", False),       # a python whose `import mindspore` fails
    ("mindspore 2.2", False),      # too old: no ms.set_device / ms.set_deterministic
    ("mindspore 2.10", True),      # a user's environment: used as it is
])
def test_python_env_uses_the_given_python_only_with_a_recent_mindspore(tmp_path, which,
                                                                      uses_own):
    root = fake_checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    if which == "no mindspore":
        env["PYTHON"] = str(executable(tmp_path / "python", "exit 1\n"))
    elif which != "unset":
        env["PYTHON"] = str(python_with_mindspore_version(tmp_path, which.split()[1]))
    proc = subprocess.run(["bash", "-c", 'source scripts/python_env.sh && echo "PY=$PY"'],
                          cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    chosen = env["PYTHON"] if uses_own else str(root / ".venv" / "bin" / "python")
    assert f"PY={chosen}" in proc.stdout
    assert ("setup.sh ran" in proc.stdout) is not uses_own
    if which in ("no mindspore", "mindspore 2.2"):     # the user is told why
        assert f"PYTHON={env['PYTHON']} does not import mindspore >= 2.5" in proc.stderr


def recording_python(tmp_path):
    """A `python` that answers the environment check with this interpreter and records
    every other command line (the script's train.py/eval.py call) instead of running it."""
    log = tmp_path / "calls.txt"
    body = (f'if [[ "$1" == "-c" ]]; then exec {sys.executable} "$@"; fi\n'
            f'echo "$*" >> {log}\n')
    return executable(tmp_path / "python", body), log


def run_script(argv, python, **env):
    """scripts/argv[0] with argv[1:], from the repository root, run by ``python``."""
    return subprocess.run(["bash", os.path.join("scripts", argv[0]), *argv[1:]], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": str(python), **env})


@pytest.mark.parametrize("argv, expected", [
    (["run_train_gpu.sh", "configs/asconvsr_x3.yaml", "3"],
     "train.py --config_path configs/asconvsr_x3.yaml --device_target GPU --device_id 3"),
    (["run_train_cpu.sh", "configs/asconvsr_x2.yaml", "/tmp/run", "--total_iters", "5"],
     "train.py --config_path configs/asconvsr_x2.yaml --device_target CPU "
     "--output_dir /tmp/run --total_iters 5"),
    (["prepare_data.sh", "/tmp/data", "--splits", "val"],
     "-m src.data.prepare --data_dir /tmp/data --splits val"),
])
def test_scripts_run_the_given_python_with_their_arguments(tmp_path, argv, expected):
    python, log = recording_python(tmp_path)
    proc = run_script(argv, python)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == [expected]
    assert "[setup]" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("argv, expected", [
    (["run_eval_cpu.sh", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "", "configs/asconvsr_x2.yaml",
      "--crop", "0"],
     "eval.py --model pretrained/asconvsr_x2/asconvsr_x2.ckpt --device_target CPU "
     "--config_path configs/asconvsr_x2.yaml --json LOG/eval.json --crop 0"),
    (["run_eval_gpu.sh", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "tests", "", "1"],
     "eval.py --model pretrained/asconvsr_x2/asconvsr_x2.ckpt --device_target GPU "
     "--device_id 1 --data_dir tests --json LOG/eval.json"),
])
def test_eval_scripts_pass_their_positional_arguments_as_eval_flags(tmp_path, argv, expected):
    """Both eval scripts read CKPT_PATH [DATA_DIR] [CONFIG_PATH] through
    scripts/eval_args.sh ("" keeps a default); the GPU one then a DEVICE_ID."""
    python, log = recording_python(tmp_path)
    log_dir = tmp_path / "eval_log"
    proc = run_script(argv, python, LOG_DIR=str(log_dir))
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == [expected.replace("LOG", str(log_dir))]


@pytest.mark.parametrize("argv, message", [
    (["run_eval_cpu.sh", "missing.ckpt"], "model 'missing.ckpt' does not exist"),
    (["run_eval_gpu.sh", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "README.md"],
     "DATA_DIR 'README.md' is not a folder"),
    (["run_eval_cpu.sh", "pretrained/asconvsr_x2/asconvsr_x2.ckpt", "", "missing.yaml"],
     "CONFIG_PATH 'missing.yaml' does not exist"),
])
def test_eval_scripts_name_the_bad_argument_and_run_nothing(tmp_path, argv, message):
    python, log = recording_python(tmp_path)
    proc = run_script(argv, python, LOG_DIR=str(tmp_path / "eval_log"))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not log.exists() and not (tmp_path / "eval_log").exists()


GPU_CHECK_STEPS = ["gpu_tests", "train_O0", "loss_O0", "eval_cpu", "eval_gpu", "same_psnr",
                   "bench_fp32", "bench_fp16"]


def test_gpu_check_dry_run_lists_every_step_and_runs_nothing(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GPU_CHECK_OUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("[dry-run] ")]
    assert [name for name in listed if name in GPU_CHECK_STEPS] == GPU_CHECK_STEPS
    assert "train.py --config_path configs/asconvsr_x2.yaml --device_target GPU" in proc.stdout
    assert "--total_iters 300" in proc.stdout and "benchmark.py --device GPU" in proc.stdout
    assert "[setup]" not in proc.stdout + proc.stderr and not out.exists()


def test_gpu_check_runs_each_step_and_prints_one_table(tmp_path):
    """With a Python that records its command lines (the checks of history.json and
    eval.json find none, so they fail): every step runs once, the table has a row per
    step, and the exit status says a step failed."""
    python, log = recording_python(tmp_path)
    out = tmp_path / "check"
    had_data = os.path.isdir(os.path.join(ROOT, "data", "val")) and \
        os.path.isdir(os.path.join(ROOT, "data", "train"))
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHON": str(python), "GPU_CHECK_OUT": str(out)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    recorded = log.read_text().splitlines()
    assert any(line.startswith("-m pytest -m gpu") for line in recorded)
    assert any(line.startswith("train.py ") and "--device_id 2" in line
               and f"--output_dir {out}/train_O0" in line for line in recorded)
    assert sum(line.startswith("benchmark.py --device GPU") for line in recorded) == 2
    table = proc.stdout.split("== gpu_check summary", 1)[1].splitlines()[2:]
    rows = {line.split()[0]: line.split()[1] for line in table if line.strip()}
    assert set(GPU_CHECK_STEPS) <= set(rows)
    assert rows["train_O0"] == rows["eval_gpu"] == rows["bench_fp16"] == "PASS"
    assert rows["loss_O0"].startswith("FAIL") and rows["same_psnr"].startswith("FAIL")
    # the data step goes through the same Python: in a fresh clone it is recorded, and
    # the test leaves no data/ behind (it once built the 55 photos into the checkout)
    assert rows["data"] == ("SKIP" if had_data else "PASS")
    assert had_data or any(line.startswith("-m src.data.prepare --data_dir data") for line in recorded)


EVERY_SCRIPT = sorted(name for name in os.listdir(os.path.join(ROOT, "scripts"))
                      if name.endswith((".sh", ".py")))


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_script_answers_help_before_doing_anything(tmp_path, flag):
    """Issue 31: `setup.sh --help` ran the 800 MB set-up; `quickstart.sh --help` set up,
    then took --help for a checkpoint. Each script runs from a copy of scripts/ whose
    Python (and python3, for setup.sh) only records that it was called."""
    python, log = recording_python(tmp_path)
    executable(tmp_path / "python3", f'echo "python3 $*" >> {log}\n')
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    for name in EVERY_SCRIPT:
        (checkout / "scripts" / name).write_text(
            open(os.path.join(ROOT, "scripts", name)).read())
    env = {**os.environ, "PYTHON": str(python), "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for name in EVERY_SCRIPT:
        runner = [sys.executable] if name.endswith(".py") else ["bash"]
        proc = subprocess.run([*runner, os.path.join("scripts", name), flag],
                              cwd=ROOT if name.endswith(".py") else checkout,
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, (name, proc.stderr)
        assert "usage:" in proc.stdout.lower(), (name, proc.stdout)
    assert not log.exists(), log.read_text()
    assert sorted(os.listdir(checkout)) == ["scripts"]              # no .venv, data, outputs


@pytest.mark.parametrize("argv", [
    ["run_train_cpu.sh", "configs/asconvsr_x2.yaml", "runs/x", "--help"],
    ["run_train_gpu.sh", "configs/asconvsr_x2.yaml", "0", "-h"],
    ["run_distribute_train_gpu.sh", "8", "configs/asconvsr_x2.yaml", "runs/x", "--help"],
    ["run_eval_cpu.sh", "model.ckpt", "data/val", "--help"],
    ["run_eval_gpu.sh", "model.ckpt", "-h"],
])
def test_help_after_the_arguments_gives_the_usage_and_runs_nothing(tmp_path, argv):
    """`run_eval_cpu.sh CKPT --help` made a log folder and ran eval.py; the distributed
    script made the run folder and started msrun. -h anywhere: the usage, nothing else."""
    python, log = recording_python(tmp_path)
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "configs").mkdir()
    (checkout / "configs" / "asconvsr_x2.yaml").write_text("scale: 2\n")
    (checkout / "model.ckpt").write_text("")
    (checkout / "scripts" / argv[0]).write_text(open(os.path.join(ROOT, "scripts", argv[0])).read())
    before = sorted(os.listdir(checkout))
    proc = subprocess.run(["bash", os.path.join("scripts", argv[0]), *argv[1:]], cwd=checkout,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": str(python),
                               "PATH": f"{user_environment(tmp_path)}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: bash scripts/{argv[0]}" in proc.stdout
    assert "msrun --worker_num" not in proc.stdout and not log.exists()   # fake msrun echoes
    assert sorted(os.listdir(checkout)) == before
