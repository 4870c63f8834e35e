#!/usr/bin/env bash
# Installs what the tests need (redis-server, Kafka and ZooKeeper jars, node modules), builds, checks
# types and style, then runs every test against a real Kafka and Redis started on demand.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --for-tests
npm run typecheck
npm run lint
npx jest --ci
