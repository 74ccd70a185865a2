#!/usr/bin/env bash
# Train and evaluate the paper's ablations with one iteration budget, then write the
# table (runs/ablation/ablation.md), JSON and plot (ablation.png).
# Usage: bash research/run_ablation.sh ITERS [BATCH_SIZE=16] [LR_PATCH=64] [OUT=runs/ablation] [MIN_TEXTURE=0]
# (MIN_TEXTURE: train.py's --min_patch_texture; 0 = uniform patches as in the paper, 4 = shipped recipe)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then sed -n 2,6p "$0"; exit $(( $# < 1 ? 2 : 0 )); fi
[[ "$1" =~ ^[1-9][0-9]*$ ]] || { echo "error: ITERS must be a positive integer, got '$1'" >&2; exit 2; }
bash scripts/setup.sh
[[ -d data/train && -d data/val ]] || bash scripts/prepare_data.sh
OUT=${4:-runs/ablation}
.venv/bin/python research/ablation.py train --iters "$1" --batch_size "${2:-16}" --lr_patch_size "${3:-64}" --out "$OUT" \
  --min_patch_texture "${5:-0}"
.venv/bin/python research/ablation.py report --out "$OUT"
