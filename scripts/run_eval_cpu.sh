#!/usr/bin/env bash
# Evaluate an AsConvSR checkpoint or export on CPU (model-zoo style).
# Usage: bash scripts/run_eval_cpu.sh CKPT_PATH [DATA_DIR] [CONFIG_PATH] [extra eval.py flags ...]
#   CKPT_PATH    .ckpt written by train.py (e.g. runs/asconvsr_x2/best.ckpt), or .mindir/.onnx from export.py
#   DATA_DIR     folder of HR images (default: the config's val_dir, data/val)
#   CONFIG_PATH  config YAML (default: the config.yaml beside the checkpoint, else defaults)
#   (pass "" for DATA_DIR or CONFIG_PATH to keep its default)
# Writes LOG_DIR/eval.log and LOG_DIR/eval.json, LOG_DIR = outputs/eval/<checkpoint>_<time>.
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do     # -h/--help anywhere: the usage, and nothing else runs
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then sed -n 2,9p "$0"; exit 0; fi
done
if [[ $# -lt 1 ]]; then sed -n 2,9p "$0"; exit 2; fi
source scripts/eval_args.sh          # CKPT_PATH and ARGS, shifted off "$@"
LOG_DIR=${LOG_DIR:-outputs/eval/$(basename "${CKPT_PATH%.*}")_$(date +%Y%m%d_%H%M%S)}
mkdir -p "$LOG_DIR"
source scripts/python_env.sh
echo "[eval] log: $LOG_DIR/eval.log"
"$PY" eval.py --model "$CKPT_PATH" --device_target CPU "${ARGS[@]}" \
  --json "$LOG_DIR/eval.json" "$@" 2>&1 | tee "$LOG_DIR/eval.log"
