#!/usr/bin/env bash
# A local Redis from Debian's redis-server: loopback only, AOF (fsync every second), no eviction.
#   scripts/redis.sh install|start|stop|status|reset|env
# With STACK_SECURE=1 (stack.sh start --secure): TLS only, ACL users (see redis-lib.sh), state in
# $STATE_DIR/redis-secure, so a plain and a secure Redis run side by side; `start` prints
# rediss://winchester@127.0.0.1:PORT and `env` REDIS_PASSWORD_FILE and REDIS_TLS_CA_FILE.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis-lib.sh"

if [[ "$SECURE" == 1 ]]; then DIR="$STATE_DIR/redis-secure"; else DIR="$STATE_DIR/redis"; fi
PIDFILE="$DIR/redis.pid"

url() { echo "$(url_prefix "")127.0.0.1:$(cat "$DIR/port")"; }

write_conf() { # write_conf <port>
  {
    cat <<CONF
bind 127.0.0.1
protected-mode yes
daemonize yes
dir $DIR
pidfile $PIDFILE
logfile $DIR/redis.log
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
save ""
CONF
    listener_conf "$DIR" "$1"
  } >"$DIR/redis.conf"
}

start() {
  redis_install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE"; then log "redis already running (pid $(cat "$PIDFILE"))"; url; return; fi
  local port; port="$(sticky_port "$DIR/port")"
  [[ "$SECURE" != 1 ]] || secure_prepare "$DIR"
  write_conf "$port"
  redis-server "$DIR/redis.conf"
  wait_for 20 "redis" redis_answers "$port" || die "redis did not answer on port $port (see $DIR/redis.log)"
  log "redis up (pid $(cat "$PIDFILE"))"
  url
}

stop() {
  if ! pid_alive "$PIDFILE"; then log "redis not running"; return; fi
  local pid; pid="$(cat "$PIDFILE")"
  rcli "$(cat "$DIR/port")" shutdown >/dev/null 2>&1 || kill -TERM "$pid"
  wait_for 15 "redis stop" bash -c "! kill -0 $pid 2>/dev/null" || true
  rm -f "$PIDFILE"
  log "redis stopped"
}

status() {
  if pid_alive "$PIDFILE"; then url; else log "redis not running"; return 1; fi
}

case "${1:-}" in
  env) secure_env ;;
  install) redis_install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "redis state removed" ;;
  *) echo "usage: $0 install|start|stop|status|reset|env" >&2; exit 2 ;;
esac
