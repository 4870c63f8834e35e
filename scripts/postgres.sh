#!/usr/bin/env bash
# A local PostgreSQL from Debian for the event store: loopback only, data under
# .stack/postgres, database and superuser `winchester`, trust authentication (a local
# development stack: nothing outside this host can connect).
#   scripts/postgres.sh install|start|stop|kill|status|reset
# `kill` is an immediate stop (no checkpoint, clients cut off mid-statement): a crash, which the
# next `start` recovers from the write-ahead log on the same data directory and port.
# The server refuses to run as root, so under root it runs as the `postgres` user.
source "$(dirname "$0")/lib.sh"

DIR="$STATE_DIR/postgres"
DATA="$DIR/data"

install() {
  pg_bin >/dev/null 2>&1 && return
  log "installing postgresql from Debian"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian may start its own cluster on 5432; ours runs on its own port, so leave that alone.
}

# The newest installed server's bin directory (Debian keeps it off PATH).
pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -n "$bin" && -x "$bin/pg_ctl" ]] || return 1
  echo "$bin"
}

# Runs a server program as the user that owns the data: `postgres` when we are root.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgres://winchester@127.0.0.1:$(cat "$DIR/port")/winchester"; }

running() { [[ -d "$DATA" ]] && as_owner "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return
  mkdir -p "$DIR"
  if [[ "$(id -u)" == 0 ]]; then
    chown postgres: "$DIR"
    runuser -u postgres -- test -x "$DIR" || die "the postgres user cannot reach $DIR: give its parent directories o+x"
  fi
  as_owner "$(pg_bin)/initdb" -D "$DATA" -U winchester --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
    die "initdb failed: see $DIR/initdb.log"
}

start() {
  install
  init_cluster
  if running; then log "postgres already running"; url; return; fi
  local port; port="$(sticky_port "$DIR/port")"
  as_owner "$(pg_bin)/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 60 start \
    -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=on" >/dev/null ||
    die "postgres did not start: see $DIR/postgres.log"
  as_owner "$(pg_bin)/psql" -h 127.0.0.1 -p "$port" -U winchester -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'winchester'" | grep -q 1 ||
    as_owner "$(pg_bin)/createdb" -h 127.0.0.1 -p "$port" -U winchester winchester
  log "postgres up on port $port"
  url
}

stop() {
  if ! running; then log "postgres not running"; return; fi
  as_owner "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  log "postgres stopped"
}

# Named crash, not kill: a function called kill would hide the shell's builtin.
crash() {
  if ! running; then log "postgres not running"; return; fi
  as_owner "$(pg_bin)/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null
  log "postgres killed (immediate stop)"
}

status() {
  if running; then url; else log "postgres not running"; return 1; fi
}

case "${1:-}" in
  env) ;; # nothing beyond the URL `start` prints
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "postgres state removed" ;;
  *) echo "usage: $0 install|start|stop|kill|status|reset" >&2; exit 2 ;;
esac
