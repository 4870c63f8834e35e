#!/usr/bin/env bash
# Measures upstream Winchester's ingest rate: JSON parse + StackDistiller + add_event into
# SQLite (a file in /tmp) + the pipeline manager's fire/expire passes as the event clock moves,
# over the first LIMIT notifications of CORPUS with the topology in TRIGGERS_DIR (its
# winchester.yaml names the files, if it has one). Pipelines run no-op handlers, so no new
# events come back. Prints one JSON line {"notifications", "seconds", "perSecond"} on stdout;
# everything else goes to stderr, including the CPU time: a SQLite file syncs on every commit,
# so on a busy disk most of the time is waiting. UPSTREAM_DATABASE=sqlite:// measures with an
# in-memory database instead. Called by bench/engine.ts.
# Usage: upstream-winchester-ingest.sh [TRIGGERS_DIR] [CORPUS] [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/../.."
database=()
[ -n "${UPSTREAM_DATABASE:-}" ] && database=(--database "$UPSTREAM_DATABASE")
exec bash scripts/vectors/winchester-upstream.sh --bench "${database[@]}" \
  --topology "${1:-topologies/openstack-usage}" \
  --input "${2:-data/notifications-openstack-26h.jsonl.gz}" \
  --limit "${3:-2000}"
