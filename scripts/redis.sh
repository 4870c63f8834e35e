#!/usr/bin/env bash
# A local Redis from Debian's redis-server: loopback only, AOF (fsync every second), no eviction.
#   scripts/redis.sh install|start|stop|status|reset
source "$(dirname "$0")/lib.sh"

DIR="$STATE_DIR/redis"
PIDFILE="$DIR/redis.pid"

install() {
  command -v redis-server >/dev/null && return
  log "installing redis-server from Debian"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-server >/dev/null
  # Debian starts a system instance on 6379; ours runs on its own port, so leave that alone.
}

url() { echo "redis://127.0.0.1:$(cat "$DIR/port")"; }

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE"; then log "redis already running (pid $(cat "$PIDFILE"))"; url; return; fi
  local port; port="$(sticky_port "$DIR/port")"
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes --daemonize yes \
    --dir "$DIR" --pidfile "$PIDFILE" --logfile "$DIR/redis.log" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --save ""
  wait_for 20 "redis" bash -c "redis-cli -p $port ping 2>/dev/null | grep -q PONG" || die "redis did not answer on port $port"
  log "redis up (pid $(cat "$PIDFILE"))"
  url
}

stop() {
  if ! pid_alive "$PIDFILE"; then log "redis not running"; return; fi
  local pid; pid="$(cat "$PIDFILE")"
  redis-cli -p "$(cat "$DIR/port")" shutdown >/dev/null 2>&1 || kill -TERM "$pid"
  wait_for 15 "redis stop" bash -c "! kill -0 $pid 2>/dev/null" || true
  rm -f "$PIDFILE"
  log "redis stopped"
}

status() {
  if pid_alive "$PIDFILE"; then url; else log "redis not running"; return 1; fi
}

case "${1:-}" in
  env) ;; # nothing beyond the URL `start` prints
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "redis state removed" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
