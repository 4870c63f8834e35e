#!/usr/bin/env bash
# Everything a fresh machine needs before the demo or the tests: Debian packages,
# the Kafka jars (cached), node modules, and a build. Safe to run repeatedly.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/kafka.sh install
# Reinstall node modules only when the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm 11 writes lockfiles without other platforms' optional binaries (@swc/core-*,
  # unrs-resolver bindings) and then `npm ci` rejects them as out of sync; `npm install`
  # installs the same locked versions.
  npm ci --no-audit --no-fund 2>/dev/null || npm install --no-audit --no-fund
fi
npm run build --silent
