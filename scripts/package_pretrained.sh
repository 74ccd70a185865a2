#!/usr/bin/env bash
# Copy a finished train.py run into pretrained/NAME: the best weights as NAME.ckpt (the
# run's own best.ckpt, unchanged), config.yaml, command.txt, train.log, history.json,
# curve.png, and SHA256SUMS over all of them.
# Usage: bash scripts/package_pretrained.sh RUN_DIR NAME
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 ]] || { sed -n 2,5p "$0"; exit 2; }
RUN=$1; NAME=$2; DEST=pretrained/$NAME
for f in best.ckpt config.yaml train.log history.json curve.png; do
  [[ -f "$RUN/$f" ]] || { echo "error: $RUN/$f is missing; is '$RUN' a finished train.py run?" >&2; exit 2; }
done
grep -q "^done:" "$RUN/train.log" || { echo "error: $RUN/train.log has no 'done:' line; the run did not finish" >&2; exit 2; }
mkdir -p "$DEST"
cp -f "$RUN/best.ckpt" "$DEST/$NAME.ckpt"
cp -f "$RUN/config.yaml" "$RUN/train.log" "$RUN/history.json" "$RUN/curve.png" "$DEST/"
[[ -f "$RUN/command.txt" ]] && cp -f "$RUN/command.txt" "$DEST/"
(cd "$DEST" && sha256sum "$NAME.ckpt" config.yaml train.log history.json curve.png $( [[ -f command.txt ]] && echo command.txt) > SHA256SUMS)
echo "packaged $RUN -> $DEST"; cat "$DEST/SHA256SUMS"
