#!/usr/bin/env bash
# Set everything up and run the test suite on CPU.
# Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"   # msrun (distributed test) starts plain `python`
exec .venv/bin/python -m pytest "$@"
