#!/usr/bin/env bash
# Measures upstream StackDistiller 0.12 (PyPI) on a corpus and prints one JSON line: json.loads +
# distill, distill alone on parsed notifications, and json.loads alone (notifications/s, best of
# ROUNDS). Reuses the temporary virtualenv of upstream-venv.sh. Called by bench/distill.ts.
# Usage: bench-upstream.sh [DEFINITIONS] [CORPUS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="$(bash scripts/vectors/upstream-venv.sh)"
exec "$PY" scripts/vectors/distill_upstream.py \
  --definitions "${1:-topologies/openstack-usage/event_definitions.yaml}" \
  --input "${2:-data/notifications-openstack-26h.jsonl.gz}" \
  --bench "${3:-5}"
