#!/usr/bin/env bash
# Regenerates the stream vectors of upstream Winchester (test/vectors/winchester/) from the
# fixture topology and corpus in test/fixtures/upstream-winchester/, with upstream Winchester on
# SQLite under the event clock (winchester_upstream.py, through winchester-upstream.sh):
#   streams.jsonl          the pipeline manager's pass (fire, then expire) each time the clock
#                          moves, and once more at the end past every due time (the drain);
#   streams-polling.jsonl  the same, with the clock also stopping just after every fire and
#                          expire time on its way (a worker that polls all along).
# The tests read the committed files and need no Python; rerun this when the fixture changes
# (the corpus itself comes from make_winchester_corpus.py), and commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."

FIXTURE=test/fixtures/upstream-winchester
OUT=test/vectors/winchester
mkdir -p "$OUT"
for mode in pass polling; do
  file="$OUT/streams.jsonl"
  flags=()
  if [ "$mode" = polling ]; then
    file="$OUT/streams-polling.jsonl"
    flags=(--polling)
  fi
  bash scripts/vectors/winchester-upstream.sh "${flags[@]}" --topology "$FIXTURE" \
    --input "$FIXTURE/notifications.jsonl" --output "$file.tmp"
  mv "$file.tmp" "$file"
  echo "$file: $(grep -c '"kind":"fired"' "$file") fired, $(grep -c '"kind":"expired"' "$file") expired" >&2
done
