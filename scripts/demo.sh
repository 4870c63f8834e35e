#!/usr/bin/env bash
# The main job on a fresh machine: installs, starts a local Kafka + Redis, and runs the
# topology on the sample data (`winchester dev`). Extra arguments go to `winchester dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
eval "$(bash scripts/stack.sh start | sed 's/^/export /')"
if node dist/src/cli/main.js --help | grep -q '^  dev '; then
  exec node dist/src/cli/main.js dev "$@"
fi
# Until the topology exists, prove the stack with a produce/consume round trip.
exec node dist/src/cli/main.js smoke "$@"
