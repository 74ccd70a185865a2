# Sourced by the run_*.sh scripts: picks the Python that runs the project and sets PY.
#   PYTHON=/path/to/python (or a name on PATH) that already imports mindspore: used as it
#   is, nothing installed (a conda env, a cluster image with MindSpore-GPU).
#   Otherwise: scripts/setup.sh makes or updates .venv (with $PYTHON, default python3).
# Its bin folder goes first on PATH: msrun starts plain `python`.
if [[ -n "${PYTHON:-}" ]] && "$PYTHON" -c "import mindspore" >/dev/null 2>&1; then
  PY=$(command -v "$PYTHON")
  echo "[env] using $PY (mindspore $("$PY" -c 'import mindspore; print(mindspore.__version__)' 2>/dev/null))"
else
  bash scripts/setup.sh
  PY="$PWD/.venv/bin/python"
fi
export PATH="$(dirname "$PY"):$PATH"
