#!/usr/bin/env bash
# Build data/train (55 photos from Debian wallpaper/doc packages) and data/val (10 photos
# shipped in scikit-image, scikit-learn, matplotlib and opencv-doc), reproducibly:
# files and sha256 sums are listed in src/data/manifest.json; see docs/data.md.
# Usage: bash scripts/prepare_data.sh [DATA_DIR=data [--splits val]]   (--splits: build only those)
# Needs apt-get (Debian/Ubuntu; root for `apt-get update` on a fresh machine).
# Idempotent: existing images are kept; the .debs are cached in DATA_DIR/.cache.
# PYTHON=python (one that imports mindspore) uses that environment instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n 2,8p "$0"; exit 0; fi
DATA_DIR=${1:-data}
[[ $# -gt 0 ]] && shift
source scripts/python_env.sh
exec "$PY" -m src.data.prepare --data_dir "$DATA_DIR" "$@"
