#!/usr/bin/env bash
# Copy a finished train.py run into pretrained/NAME: the best weights as NAME.ckpt (the
# run's own best.ckpt, unchanged), config.yaml, command.txt, train.log, history.json,
# curve.png, and SHA256SUMS over every file below pretrained/NAME.
# A run fine-tuned with --init_weights keeps its starting point: the folder holding the
# initial checkpoint (itself packaged this way) is copied to pretrained/NAME/init/, after
# checking its sha256 against the one train.log recorded when the run started, and the
# shipped config.yaml's init_weights is pointed there (the one line that differs); so are
# the configs of a starting point that was itself fine-tuned (init/init/ ...).
# Usage: bash scripts/package_pretrained.sh RUN_DIR NAME
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 ]] || { sed -n 2,10p "$0"; exit 2; }
RUN=$1; NAME=$2; DEST=pretrained/$NAME
for f in best.ckpt config.yaml train.log history.json curve.png; do
  [[ -f "$RUN/$f" ]] || { echo "error: $RUN/$f is missing; is '$RUN' a finished train.py run?" >&2; exit 2; }
done
grep -q "^done:" "$RUN/train.log" || { echo "error: $RUN/train.log has no 'done:' line; the run did not finish" >&2; exit 2; }

# The starting point of a fine-tuned run (copied aside first: it may be DEST itself).
INIT=$(sed -n 's/^init_weights: *//p' "$RUN/config.yaml" | tr -d "\"'")
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
if [[ -n "$INIT" ]]; then
  [[ -f "$INIT" ]] || { echo "error: $RUN started from '$INIT' (init_weights), which is gone; restore it to package the run" >&2; exit 2; }
  LOGGED=$(sed -n 's/^initial weights: .* (sha256 \([0-9a-f]*\)).*/\1/p' "$RUN/train.log" | head -n 1)
  ACTUAL=$(sha256sum "$INIT" | cut -d' ' -f1)
  [[ "$LOGGED" == "$ACTUAL" ]] || { echo "error: '$INIT' changed since $RUN started from it (train.log sha256 '$LOGGED', now $ACTUAL)" >&2; exit 2; }
  cp -r "$(dirname "$INIT")/." "$STAGE/init"
fi

rm -rf "$DEST"; mkdir -p "$DEST"
cp "$RUN/best.ckpt" "$DEST/$NAME.ckpt"
cp "$RUN/config.yaml" "$RUN/train.log" "$RUN/history.json" "$RUN/curve.png" "$DEST/"
[[ -f "$RUN/command.txt" ]] && cp "$RUN/command.txt" "$DEST/"
if [[ -d "$STAGE/init" ]]; then   # point the shipped config at the shipped starting point
  cp -r "$STAGE/init" "$DEST/init"
  sed -i "s|^init_weights: .*|init_weights: $DEST/init/$(basename "$INIT")  # the run read $INIT; moved by package_pretrained.sh|" "$DEST/config.yaml"
  # A starting point that was itself fine-tuned carries its own init/ one level down:
  # re-point every nested config at the folder now beside it (init/init/..., and so on).
  find "$DEST/init" -name config.yaml | while read -r NESTED; do
    HERE=$(dirname "$NESTED")
    FROM=$(sed -n 's/^init_weights: *\([^ #]*\).*/\1/p' "$NESTED" | tr -d "\"'")
    [[ -n "$FROM" && -d "$HERE/init" ]] || continue
    sed -i "s|^init_weights: .*|init_weights: $HERE/init/$(basename "$FROM")  # moved by package_pretrained.sh|" "$NESTED"
  done
fi
# SHA256SUMS of every folder, deepest first, so each covers the files below it as shipped.
find "$DEST" -type d | awk '{ print gsub("/", "/"), $0 }' | sort -rn | cut -d' ' -f2- | while read -r DIR; do
  (cd "$DIR" && find . -type f ! -path ./SHA256SUMS | sed 's|^\./||' | sort | xargs sha256sum > SHA256SUMS)
done
echo "packaged $RUN -> $DEST"; cat "$DEST/SHA256SUMS"
