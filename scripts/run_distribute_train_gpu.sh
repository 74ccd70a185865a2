#!/usr/bin/env bash
# Data-parallel training with MindSpore's launcher msrun (model-zoo style).
# Usage: bash scripts/run_distribute_train_gpu.sh DEVICE_NUM [CONFIG_PATH] [OUTPUT_DIR] [extra --key value ...]
#   DEVICE_NUM   number of GPUs (one process each); batch_size is per device
#   CONFIG_PATH  preset YAML (default configs/asconvsr_x2.yaml)
#   OUTPUT_DIR   run folder (default: the preset's output_dir); worker logs in OUTPUT_DIR/msrun_logs
# DEVICE_TARGET=CPU runs the same on CPU processes (used by the tests).
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do     # -h/--help anywhere: the usage, and nothing else runs
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then sed -n 2,8p "$0"; exit 0; fi
done
if [[ $# -lt 1 ]]; then sed -n 2,8p "$0"; exit 2; fi
DEVICE_NUM=$1
[[ "$DEVICE_NUM" =~ ^[1-9][0-9]*$ ]] || { echo "error: DEVICE_NUM must be a positive integer, got '$DEVICE_NUM'" >&2; exit 2; }
CONFIG_PATH=${2:-configs/asconvsr_x2.yaml}
[[ -f "$CONFIG_PATH" ]] || { echo "error: config '$CONFIG_PATH' does not exist" >&2; exit 2; }
shift $(( $# > 2 ? 2 : $# ))
source scripts/python_env.sh       # before reading the preset: it needs yaml
OUTPUT_DIR=$("$PY" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get('output_dir', 'runs/asconvsr_x2'))" "$CONFIG_PATH")
if [[ $# -gt 0 && "${1}" != --* ]]; then OUTPUT_DIR=$1; shift; fi
PORT=${MASTER_PORT:-$(( 20000 + RANDOM % 20000 ))}
mkdir -p "$OUTPUT_DIR"
msrun --worker_num="$DEVICE_NUM" --local_worker_num="$DEVICE_NUM" --master_port="$PORT" \
  --log_dir="$OUTPUT_DIR/msrun_logs" --join=True \
  train.py --config_path "$CONFIG_PATH" --device_target "${DEVICE_TARGET:-GPU}" \
  --distribute true --output_dir "$OUTPUT_DIR" "$@"
