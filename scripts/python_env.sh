# Sourced by the run_*.sh scripts: picks the Python that runs the project and sets PY.
#   PYTHON=/path/to/python (or a name on PATH) whose mindspore imports and is >= 2.5
#   (the first with ms.set_device and ms.set_deterministic): used as it is, nothing
#   installed (a conda env, a cluster image with MindSpore-GPU).
#   Otherwise (no PYTHON, or one that fails that check, said on stderr): scripts/setup.sh
#   makes or updates .venv (with $PYTHON, default python3) and PY is .venv/bin/python.
# Its bin folder goes first on PATH: msrun starts plain `python`.
# Usage: source scripts/python_env.sh   (from the repository root; run on its own, it
#   only prints this)
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  sed -n 1,9p "$0"
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0 || exit 2
fi
MINDSPORE_CHECK='import sys, mindspore
major, minor = (int(x) for x in mindspore.__version__.split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 5) else 3)'
if [[ -n "${PYTHON:-}" ]] && "$PYTHON" -c "$MINDSPORE_CHECK" >/dev/null 2>&1; then
  PY=$(realpath -s "$(command -v "$PYTHON")")   # absolute: the scripts cd and put its folder on PATH
  echo "[env] using $PY (mindspore $("$PY" -c 'import mindspore; print(mindspore.__version__)' 2>/dev/null))"
else
  if [[ -n "${PYTHON:-}" ]]; then
    echo "[env] PYTHON=$PYTHON does not import mindspore >= 2.5; using .venv (scripts/setup.sh)" >&2
  fi
  bash scripts/setup.sh ${SETUP_ARGS:-}     # run_tests.sh: --dev
  PY="$PWD/.venv/bin/python"
fi
export PATH="$(dirname "$PY"):$PATH"
