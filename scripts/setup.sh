#!/usr/bin/env bash
# Create .venv and install the project's requirements (idempotent: a stamp of the
# requirement files skips pip when nothing changed).
# Usage: bash scripts/setup.sh [--dev]     (--dev adds requirements-dev.txt)
# PYTHON=python3.11 makes .venv with that interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
files=(requirements.txt)
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n 2,5p "$0"; exit 0 ;;
    --dev) files+=(requirements-dev.txt) ;;
    *) echo "error: unknown argument '$arg' (see -h)" >&2; exit 2 ;;
  esac
done
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.requirements-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "[setup] installing ${files[*]} (mindspore is an ~800 MB wheel: first run takes minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  for f in "${files[@]}"; do .venv/bin/python -m pip install -q -r "$f"; done
  touch "$stamp"
fi
.venv/bin/python -c "import numpy, mindspore; print('[setup] mindspore', mindspore.__version__, '| numpy', numpy.__version__)" 2>/dev/null \
  || { echo "[setup] error: mindspore does not import in .venv; delete .venv and rerun" >&2; exit 1; }
