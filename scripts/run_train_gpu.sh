#!/usr/bin/env bash
# Train AsConvSR on one GPU (model-zoo style).
# Usage: bash scripts/run_train_gpu.sh [CONFIG_PATH] [DEVICE_ID] [OUTPUT_DIR] [extra --key value ...]
#   CONFIG_PATH  preset YAML (default configs/asconvsr_x2.yaml)
#   DEVICE_ID    GPU index (default 0)
#   OUTPUT_DIR   run folder (default: the preset's output_dir)
# The log goes to OUTPUT_DIR/train.log as well as the console.
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do     # -h/--help anywhere: the usage, and nothing else runs
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then sed -n 2,8p "$0"; exit 0; fi
done
CONFIG_PATH=${1:-configs/asconvsr_x2.yaml}
DEVICE_ID=${2:-0}
[[ -f "$CONFIG_PATH" ]] || { echo "error: config '$CONFIG_PATH' does not exist" >&2; exit 2; }
[[ "$DEVICE_ID" =~ ^[0-9]+$ ]] || { echo "error: DEVICE_ID must be an integer, got '$DEVICE_ID'" >&2; exit 2; }
shift $(( $# > 2 ? 2 : $# ))
OUT_ARGS=()
if [[ $# -gt 0 && "${1}" != --* ]]; then OUT_ARGS=(--output_dir "$1"); shift; fi
command -v nvidia-smi >/dev/null || echo "warning: nvidia-smi not found; is this a GPU machine?" >&2
source scripts/python_env.sh
"$PY" train.py --config_path "$CONFIG_PATH" --device_target GPU \
  --device_id "$DEVICE_ID" "${OUT_ARGS[@]}" "$@"
