#!/usr/bin/env bash
# Set everything up and run the test suite on CPU (GPU-marked tests are skipped there).
# Usage: bash scripts/run_tests.sh [pytest args...]
# PYTHON=python (one that imports mindspore >= 2.5 and pytest) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n 2,4p "$0"; exit 0; fi
SETUP_ARGS=--dev source scripts/python_env.sh   # PATH: msrun (distributed test) starts plain `python`
"$PY" -c "import pytest" 2>/dev/null || { echo "error: $PY has no pytest; pip install -r requirements-dev.txt" >&2; exit 2; }
exec "$PY" -m pytest "$@"
