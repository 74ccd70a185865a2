#!/usr/bin/env bash
# One check of the GPU path on a freshly lent GPU machine, at most 8 minutes, one GPU:
# set-up, the GPU-marked tests, 300-iteration x2 training at O0 and O2 (loss falling),
# eval of the shipped x2 checkpoint on data/val on GPU against the same eval on CPU
# (PSNR-Y within 0.01 dB), benchmark.py --device GPU (fp32 and --fp16) at 1920x1080.
# Prints one summary table; every step's output is in outputs/gpu_check/STEP.log.
# Usage: bash scripts/gpu_check.sh [--dry-run] [DEVICE_ID=0]
#   --dry-run  print the steps (commands and time limits) and run nothing (works on CPU)
# The O2 row needs the amp_level config key; without it the row says SKIP.
# PYTHON=python (one that imports mindspore >= 2.5) uses that environment instead of .venv.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0; DEVICE_ID=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    --dry-run) DRY=1 ;;
    *) [[ "$arg" =~ ^[0-9]+$ ]] || { echo "error: unknown argument '$arg' (see -h)" >&2; exit 2; }
       DEVICE_ID=$arg ;;
  esac
done
OUT=${GPU_CHECK_OUT:-outputs/gpu_check}   # this script's own folder, rewritten on every run
BUDGET=480                          # seconds for the whole check
CKPT=pretrained/asconvsr_x2/asconvsr_x2.ckpt
ROWS=(); FAILED=0

# step NAME LIMIT_S COMMAND...: run COMMAND (within LIMIT_S and what is left of the
# budget) into $OUT/NAME.log and add a row: status, seconds, the log's last line.
step() {
  local name=$1 limit=$2; shift 2
  if (( DRY )); then printf '[dry-run] %-12s (<= %3ss)  %s\n' "$name" "$limit" "$*"; return; fi
  local left=$(( BUDGET - SECONDS ))
  (( left < limit )) && limit=$left
  if (( limit <= 0 )); then ROWS+=("$name|SKIP|0|no time left in the ${BUDGET} s budget"); return; fi
  local start=$SECONDS status=PASS rc=0
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  if (( rc == 124 )); then status=TIMEOUT; elif (( rc != 0 )); then status="FAIL($rc)"; fi
  [[ $status != PASS ]] && FAILED=1
  local last; last=$(grep -v '^\s*$' "$OUT/$name.log" | tail -n 1 | cut -c1-90)
  ROWS+=("$name|$status|$(( SECONDS - start ))|$last")
  echo "[gpu_check] $name: $status ($(( SECONDS - start )) s)"
}
skip() { ROWS+=("$1|SKIP|0|$2"); (( DRY )) && printf '[dry-run] %-12s SKIP: %s\n' "$1" "$2"; }

if (( DRY )); then PY=${PYTHON:-.venv/bin/python}; else
  mkdir -p "$OUT"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader | sed 's/^/[gpu_check] GPU: /'
  SETUP_ARGS=--dev source scripts/python_env.sh || { echo "error: set-up failed" >&2; exit 1; }
fi
TRAIN=(train.py --config_path configs/asconvsr_x2.yaml --device_target GPU --device_id "$DEVICE_ID"
       --total_iters 300 --log_every 50 --val_every 0 --ckpt_every 300 --overwrite)
# The loss is falling: the last logged mean below the first (history.json of the run).
LOSS_FALLS='import json, sys; l = [v for _, v in json.load(open(sys.argv[1]))["loss"]]; print(f"loss {l[0]:.5f} -> {l[-1]:.5f} over {len(l)} log lines"); sys.exit(0 if l[-1] < l[0] else 1)'
# GPU PSNR-Y of the shipped checkpoint within 0.01 dB of the CPU figure.
SAME_PSNR='import json, sys; c, g = (json.load(open(p))["mean"]["psnr_y"] for p in sys.argv[1:3]); print(f"PSNR-Y CPU {c:.4f} GPU {g:.4f} dB, diff {g - c:+.4f}"); sys.exit(0 if abs(g - c) <= 0.01 else 1)'
EVAL=(eval.py --model "$CKPT" --data_dir data/val --quiet)

if [[ -d data/val && -d data/train ]]; then skip data "data/train and data/val present"
else step data 120 "$PY" -m src.data.prepare --data_dir data; fi   # prepare_data.sh with $PY
step gpu_tests 150 "$PY" -m pytest -m gpu -q -rs tests
step train_O0 100 "$PY" "${TRAIN[@]}" --output_dir "$OUT/train_O0"
step loss_O0 10 "$PY" -c "$LOSS_FALLS" "$OUT/train_O0/history.json"
if grep -q '^amp_level:' default_config.yaml; then
  step train_O2 100 "$PY" "${TRAIN[@]}" --amp_level O2 --output_dir "$OUT/train_O2"
  step loss_O2 10 "$PY" -c "$LOSS_FALLS" "$OUT/train_O2/history.json"
else skip train_O2 "no amp_level key in default_config.yaml yet"; fi
step eval_cpu 90 "$PY" "${EVAL[@]}" --device_target CPU --json "$OUT/eval_cpu.json"
step eval_gpu 60 "$PY" "${EVAL[@]}" --device_target GPU --device_id "$DEVICE_ID" --json "$OUT/eval_gpu.json"
step same_psnr 10 "$PY" -c "$SAME_PSNR" "$OUT/eval_cpu.json" "$OUT/eval_gpu.json"
step bench_fp32 60 "$PY" benchmark.py --device GPU --tracks x2
step bench_fp16 60 "$PY" benchmark.py --device GPU --tracks x2 --fp16
(( DRY )) && { echo "[dry-run] budget ${BUDGET} s; logs would go to $OUT/"; exit 0; }

echo; echo "== gpu_check summary ($(date '+%Y-%m-%d %H:%M'), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1), ${SECONDS} s)"
printf '%-12s %-8s %5s  %s\n' step status s "last line of $OUT/STEP.log"
for row in "${ROWS[@]}"; do IFS='|' read -r n s t d <<< "$row"; printf '%-12s %-8s %5s  %s\n' "$n" "$s" "$t" "$d"; done
exit $FAILED
