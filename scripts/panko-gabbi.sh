#!/usr/bin/env bash
# Runs upstream Panko's own API tests (gabbi YAML files from the panko 10.0.0 sdist on PyPI)
# against this checkout's /v2 API, then, when pankoclient installs, lists and filters events
# with OpenStack's Panko client library (scripts/panko-client-check.py).
#
#   api-events-no-data.yaml, basic.yaml, capabilities.yaml  against a server with an empty store
#   api-events-with-data.yaml, the client check              against one holding upstream's
#                                                            3-event fixture
#
# The servers are test/support/panko-fixture-server.ts (in-memory store, identity headers
# trusted), run from the TypeScript sources: no build, no Kafka, Redis or PostgreSQL.
# Nothing upstream is copied into the checkout: the sdist and a virtualenv (gabbi, pankoclient)
# live in $CACHE_DIR/panko-gabbi. Needs python3 >= 3.9 with venv (gabbi 4), node, network
# access to PyPI on the first run.
#
# usage: scripts/panko-gabbi.sh      exit 0 when every test passes; gabbi's output otherwise
source "$(dirname "$0")/lib.sh"

PANKO_VERSION=10.0.0
PANKO_SDIST_SHA256=61dc7bba8302840fa6c6f4ab035fca2d56067e62bef95d643fcdb4495994aecb
GABBI_VERSION=4.2.3
PANKOCLIENT_VERSION=1.2.0
WORK="$CACHE_DIR/panko-gabbi"
VENV="$WORK/venv"
GABBITS="$WORK/panko-$PANKO_VERSION/panko/tests/functional/gabbi/gabbits"

make_venv() {
  [[ -x "$VENV/bin/gabbi-run" ]] && return
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
    die "gabbi $GABBI_VERSION needs Python 3.9 or later; python3 is $(python3 --version 2>&1)"
  log "creating $VENV with gabbi $GABBI_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "gabbi==$GABBI_VERSION"
}

fetch_gabbits() {
  [[ -d "$GABBITS" ]] && return
  local sdist="$WORK/panko-$PANKO_VERSION.tar.gz"
  if [[ ! -f "$sdist" ]]; then
    log "downloading the panko $PANKO_VERSION sdist from PyPI"
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: "panko==$PANKO_VERSION" -d "$WORK"
  fi
  echo "$PANKO_SDIST_SHA256  $sdist" | sha256sum -c --quiet - || die "$sdist is not the panko $PANKO_VERSION sdist"
  tar -xzf "$sdist" -C "$WORK" "panko-$PANKO_VERSION/panko/tests/functional/gabbi/gabbits"
}

# start_server <variable> <log> [--with-data]: starts a fixture server; its base URL goes to <variable>.
SERVER_PIDS=()
start_server() {
  local variable="$1" log="$2"
  shift 2
  node -r "$REPO_ROOT/test/support/swc-register.cjs" "$REPO_ROOT/test/support/panko-fixture-server.ts" "$@" \
    >"$log" 2>&1 &
  SERVER_PIDS+=($!)
  wait_for 60 "the fixture server" grep -q '^panko fixture API on ' "$log" || die "the fixture server did not start: $(cat "$log")"
  printf -v "$variable" '%s' "$(sed -n 's/^panko fixture API on //p' "$log")"
}

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# gabbi <base url> <file>: runs one upstream file; its output goes to ours.
FAILED=()
gabbi() {
  log "gabbi-run $1 -- $2"
  "$VENV/bin/gabbi-run" "$1" -- "$GABBITS/$2" || FAILED+=("$2")
}

# The client check, when pankoclient installs in the virtualenv (it is not required).
client_check() {
  if ! "$VENV/bin/python" -c 'import pankoclient' 2>/dev/null &&
    ! "$VENV/bin/pip" install -q "pankoclient==$PANKOCLIENT_VERSION"; then
    log "pankoclient did not install: skipping the client check"
    return
  fi
  log "pankoclient $PANKOCLIENT_VERSION against $1"
  "$VENV/bin/python" "$REPO_ROOT/scripts/panko-client-check.py" "$1" || FAILED+=(panko-client-check.py)
}

main() {
  mkdir -p "$WORK"
  make_venv
  fetch_gabbits
  local empty with_data
  LOGS="$(mktemp -d)"
  trap 'stop_servers; rm -rf "$LOGS"' EXIT
  start_server empty "$LOGS/empty.log"
  start_server with_data "$LOGS/with-data.log" --with-data
  for file in api-events-no-data.yaml basic.yaml capabilities.yaml; do gabbi "$empty" "$file"; done
  gabbi "$with_data" api-events-with-data.yaml
  client_check "$with_data"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
  log "every upstream gabbi test passed"
}

main "$@"
