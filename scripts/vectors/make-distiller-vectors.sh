#!/usr/bin/env bash
# Regenerates the distiller's reference vectors (test/vectors/distiller/) with upstream
# StackDistiller 0.12 from PyPI, installed in a temporary virtualenv (upstream-venv.sh).
# The tests read the committed vectors and need no Python; rerun this only when the inputs
# (or the driver, distill_upstream.py) change, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY="$(bash scripts/vectors/upstream-venv.sh)"
DRIVER=scripts/vectors/distill_upstream.py
OUT=test/vectors/distiller
# Upstream stamps a notification without any time with utcnow(); pin it so vectors are stable.
NOW=2000-01-01T00:00:00Z

"$PY" "$DRIVER" --definitions topologies/openstack-usage/event_definitions.yaml \
  --input data/notifications-openstack-26h.jsonl.gz --output "$OUT/openstack-usage-26h.jsonl.gz"
"$PY" "$DRIVER" --definitions "$OUT/edge-definitions.yaml" --input "$OUT/edge-notifications.jsonl" \
  --now "$NOW" --output "$OUT/edge-expected.jsonl"
"$PY" "$DRIVER" --definitions "$OUT/edge-definitions.yaml" --input "$OUT/edge-notifications.jsonl" \
  --now "$NOW" --catch-all --output "$OUT/edge-catch-all-expected.jsonl"

"$PY" - "$OUT" <<'PY'
import gzip, json, sys
out = sys.argv[1]
for name in ('openstack-usage-26h.jsonl.gz', 'edge-expected.jsonl', 'edge-catch-all-expected.jsonl'):
    opener = gzip.open if name.endswith('.gz') else open
    with opener(f'{out}/{name}', 'rt', encoding='utf-8') as f:
        lines = [json.loads(line) for line in f]
    outcomes = {}
    for rec in lines:
        kind = rec.get('outcome', 'event')
        outcomes[kind] = outcomes.get(kind, 0) + 1
    print(f'{name}: {len(lines)} lines {outcomes}')
PY
