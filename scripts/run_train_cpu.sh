#!/usr/bin/env bash
# Train AsConvSR on CPU (model-zoo style).
# Usage: bash scripts/run_train_cpu.sh [CONFIG_PATH] [OUTPUT_DIR] [extra --key value ...]
#   CONFIG_PATH  preset YAML (default configs/asconvsr_x2.yaml)
#   OUTPUT_DIR   run folder (default: the preset's output_dir)
# Needs data/train and data/val: bash scripts/prepare_data.sh
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do     # -h/--help anywhere: the usage, and nothing else runs
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then sed -n 2,7p "$0"; exit 0; fi
done
CONFIG_PATH=${1:-configs/asconvsr_x2.yaml}
[[ -f "$CONFIG_PATH" ]] || { echo "error: config '$CONFIG_PATH' does not exist" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))
OUT_ARGS=()
if [[ $# -gt 0 && "${1}" != --* ]]; then OUT_ARGS=(--output_dir "$1"); shift; fi
source scripts/python_env.sh
"$PY" train.py --config_path "$CONFIG_PATH" --device_target CPU "${OUT_ARGS[@]}" "$@"
