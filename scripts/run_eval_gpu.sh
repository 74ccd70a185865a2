#!/usr/bin/env bash
# Evaluate an AsConvSR checkpoint or export on one GPU (model-zoo style).
# Usage: bash scripts/run_eval_gpu.sh CKPT_PATH [DATA_DIR] [CONFIG_PATH] [DEVICE_ID] [extra eval.py flags ...]
#   CKPT_PATH    .ckpt written by train.py (e.g. runs/asconvsr_x2/best.ckpt), or .mindir/.onnx from export.py
#   DATA_DIR     folder of HR images (default: the config's val_dir, data/val)
#   CONFIG_PATH  config YAML (default: the config.yaml beside the checkpoint, else defaults)
#   (pass "" for DATA_DIR or CONFIG_PATH to keep its default)
#   DEVICE_ID    GPU index (default 0)
# Writes LOG_DIR/eval.log and LOG_DIR/eval.json, LOG_DIR = outputs/eval/<checkpoint>_<time>.
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do     # -h/--help anywhere: the usage, and nothing else runs
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then sed -n 2,10p "$0"; exit 0; fi
done
if [[ $# -lt 1 ]]; then sed -n 2,10p "$0"; exit 2; fi
source scripts/eval_args.sh          # CKPT_PATH and ARGS, shifted off "$@"
DEVICE_ID=0
if [[ $# -gt 0 && "${1}" != --* ]]; then
  [[ "$1" =~ ^[0-9]+$ ]] || { echo "error: DEVICE_ID must be an integer, got '$1'" >&2; exit 2; }
  DEVICE_ID=$1; shift
fi
command -v nvidia-smi >/dev/null || echo "warning: nvidia-smi not found; is this a GPU machine?" >&2
LOG_DIR=${LOG_DIR:-outputs/eval/$(basename "${CKPT_PATH%.*}")_$(date +%Y%m%d_%H%M%S)}
mkdir -p "$LOG_DIR"
source scripts/python_env.sh
echo "[eval] log: $LOG_DIR/eval.log"
"$PY" eval.py --model "$CKPT_PATH" --device_target GPU --device_id "$DEVICE_ID" \
  "${ARGS[@]}" --json "$LOG_DIR/eval.json" "$@" 2>&1 | tee "$LOG_DIR/eval.log"
