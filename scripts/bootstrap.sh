#!/usr/bin/env bash
# Everything a fresh machine needs before the demo or the tests: Debian packages,
# the Kafka and ZooKeeper jars and the schema registry (cached), node modules, and a build.
# Safe to run repeatedly.
# --for-tests also installs what only the tests need (Prometheus).
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
command -v node >/dev/null || missing+=(nodejs npm)
# Prometheus (promtool and the server) only for the tests that check metrics and alert rules.
[[ "${1:-}" != --for-tests ]] || command -v promtool >/dev/null || missing+=(prometheus)
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/kafka.sh install
bash scripts/zookeeper.sh install
bash scripts/schema-registry.sh install
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  die "Node.js $(node --version) is too old: 20.19 or later is needed (package.json engines)"
# Reinstall node modules only when the lockfile changed since the last install. `npm ci`
# installs exactly the lockfile and never rewrites it, so the clone stays clean.
if [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
