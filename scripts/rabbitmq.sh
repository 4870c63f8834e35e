#!/usr/bin/env bash
# A local RabbitMQ from Debian's rabbitmq-server: loopback only, no plugins, its own Erlang port
# mapper (epmd) and node name, data under .stack/rabbitmq, the default guest user (which
# RabbitMQ admits from loopback only).
#   scripts/rabbitmq.sh install   install rabbitmq-server from Debian
#   scripts/rabbitmq.sh start     start, wait until the broker runs, print amqp://guest:guest@127.0.0.1:PORT
#   scripts/rabbitmq.sh stop      stop cleanly (queues and messages on disk survive)
#   scripts/rabbitmq.sh kill      SIGKILL: a crash; the next `start` recovers on the same port
#   scripts/rabbitmq.sh status    print the URL and exit 0 when it runs, 1 otherwise
#   scripts/rabbitmq.sh reset     stop and remove its data
# RABBITMQ_DIR=/some/dir runs a private instance there instead.
source "$(dirname "$0")/lib.sh"

DIR="${RABBITMQ_DIR:-$STATE_DIR/rabbitmq}"
PIDFILE="$DIR/rabbitmq.pid"
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
CTL=/usr/lib/rabbitmq/bin/rabbitmqctl

install() {
  [[ -x "$SERVER" ]] && return
  log "installing rabbitmq-server from Debian"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  # Debian's package would start a system broker on 5672 where it can; ours runs on its own ports.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
}

url() { echo "amqp://guest:guest@127.0.0.1:$(cat "$DIR/port")"; }

# Everything the server and rabbitmqctl read, pointed into $DIR: the Erlang cookie lives in
# $HOME, so a private HOME keeps this node apart from any other broker on the host.
node_env() {
  export HOME="$DIR" RABBITMQ_NODENAME="winchester-$(cat "$DIR/port")@localhost"
  export ERL_EPMD_PORT="$(cat "$DIR/epmd-port")" RABBITMQ_DIST_PORT="$(cat "$DIR/dist-port")"
  export RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log" RABBITMQ_PID_FILE="$PIDFILE"
  export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
}

write_config() {
  cat >"$DIR/rabbitmq.conf" <<CFG
listeners.tcp.1 = 127.0.0.1:$(cat "$DIR/port")
# A backlog of a million notifications is normal while a consumer is away.
vm_memory_high_watermark.relative = 0.4
disk_free_limit.absolute = 200MB
log.file.level = warning
log.console = false
CFG
  echo '[].' >"$DIR/enabled_plugins"
  : >"$DIR/rabbitmq-env.conf"
}

running() { pid_alive "$PIDFILE" && (node_env; "$CTL" -q status >/dev/null 2>&1); }

start() {
  install
  mkdir -p "$DIR"
  if [[ -f "$DIR/port" ]] && running; then log "rabbitmq already running (pid $(cat "$PIDFILE"))"; url; return; fi
  sticky_port "$DIR/port" >/dev/null; sticky_port "$DIR/epmd-port" >/dev/null; sticky_port "$DIR/dist-port" >/dev/null
  write_config
  node_env
  epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 -daemon
  nohup "$SERVER" >"$DIR/server.out" 2>&1 &
  if ! "$CTL" -q wait "$PIDFILE" --timeout 90 >>"$DIR/server.out" 2>&1; then
    tail -n 30 "$DIR/server.out" >&2 || true
    die "rabbitmq did not start on port $(cat "$DIR/port"): see $DIR/log"
  fi
  log "rabbitmq up (pid $(cat "$PIDFILE"))"
  url
}

stop() {
  if ! pid_alive "$PIDFILE"; then log "rabbitmq not running"; stop_epmd; return; fi
  (node_env; "$CTL" -q stop "$PIDFILE" >/dev/null 2>&1) || halt_pidfile "$PIDFILE" rabbitmq TERM 20
  rm -f "$PIDFILE"
  stop_epmd
  log "rabbitmq stopped"
}

# The node's own epmd, once no node is registered with it.
stop_epmd() {
  [[ -f "$DIR/epmd-port" ]] || return 0
  epmd -port "$(cat "$DIR/epmd-port")" -kill >/dev/null 2>&1 || true
}

# Named crash, not kill: a function called kill would hide the shell's builtin.
crash() { crash_pidfile "$PIDFILE" "rabbitmq"; }

status() {
  if [[ -f "$DIR/port" ]] && running; then url; else log "rabbitmq not running"; return 1; fi
}

case "${1:-}" in
  env) ;; # nothing beyond the URL `start` prints
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "rabbitmq state removed" ;;
  *) echo "usage: $0 install|start|stop|kill|status|reset" >&2; exit 2 ;;
esac
