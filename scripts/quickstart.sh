#!/usr/bin/env bash
# The README's first command: set up, build the validation photos, evaluate the shipped
# x2 checkpoint against MATLAB-bicubic on them (table printed), and write one upscaled
# photo and side-by-side comparisons.
# Usage: bash scripts/quickstart.sh [CHECKPOINT=pretrained/asconvsr_x2/asconvsr_x2.ckpt]
# Outputs: outputs/quickstart/{eval.json, compare/*.png, baboon_x2.png}
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n 2,6p "$0"; exit 0; fi
[[ $# -le 1 ]] || { echo "error: one argument at most, the checkpoint (see -h)" >&2; exit 2; }
CKPT=${1:-pretrained/asconvsr_x2/asconvsr_x2.ckpt}
OUT=outputs/quickstart
[[ -f "$CKPT" ]] || { echo "error: checkpoint '$CKPT' does not exist" >&2; exit 2; }
bash scripts/setup.sh
(cd "$(dirname "$CKPT")" && sha256sum -c --quiet SHA256SUMS) \
  || { echo "error: $CKPT does not match its SHA256SUMS" >&2; exit 2; }
bash scripts/prepare_data.sh data --splits val   # the 10 val photos only: all this uses
mkdir -p "$OUT"
echo "== AsConvSR x2 vs bicubic on data/val (PSNR/SSIM on Y and RGB, crop = scale)"
# --overwrite (eval and infer): outputs/quickstart is this script's own folder, remade on
# every run; without it a second run would stop at the refusal of an existing output
.venv/bin/python eval.py --model "$CKPT" --data_dir data/val --json "$OUT/eval.json" \
  --compare "$OUT/compare" --overwrite
echo "== upscaling one photo"
.venv/bin/python infer.py --model "$CKPT" --input data/val/baboon.png --output "$OUT/baboon_x2.png" \
  --overwrite
echo "== wrote $OUT/eval.json, $OUT/baboon_x2.png and $OUT/compare/*.png"
