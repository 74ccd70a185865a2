# Sourced by run_eval_cpu.sh and run_eval_gpu.sh after their -h check: the positional
# arguments both take, CKPT_PATH [DATA_DIR] [CONFIG_PATH], are checked and shifted off
# the caller's arguments, leaving CKPT_PATH and ARGS (eval.py's flags for the other two).
# Usage: source scripts/eval_args.sh   (run on its own, it only prints this)
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  sed -n 1,4p "$0"
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0 || exit 2
fi
CKPT_PATH=$1
[[ -f "$CKPT_PATH" ]] || { echo "error: model '$CKPT_PATH' does not exist" >&2; exit 2; }
shift
ARGS=()
if [[ $# -gt 0 && "${1}" != --* ]]; then       # DATA_DIR ("" keeps the default)
  [[ -z "$1" || -d "$1" ]] || { echo "error: DATA_DIR '$1' is not a folder" >&2; exit 2; }
  [[ -z "$1" ]] || ARGS+=(--data_dir "$1"); shift
fi
if [[ $# -gt 0 && "${1}" != --* ]]; then       # CONFIG_PATH ("" keeps the default)
  [[ -z "$1" || -f "$1" ]] || { echo "error: CONFIG_PATH '$1' does not exist" >&2; exit 2; }
  [[ -z "$1" ]] || ARGS+=(--config_path "$1"); shift
fi
