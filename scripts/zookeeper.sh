#!/usr/bin/env bash
# A standalone Apache ZooKeeper from Maven Central jars: loopback only, admin server off,
# the four-letter words ruok, srvr and stat allowed, data under .stack/zookeeper.
#   scripts/zookeeper.sh install   resolve the jars into the cache (no download when cached)
#   scripts/zookeeper.sh start     start, wait until it answers `ruok`, print 127.0.0.1:PORT
#   scripts/zookeeper.sh stop      stop cleanly (SIGTERM, then wait)
#   scripts/zookeeper.sh kill      SIGKILL: a crash, which the next `start` recovers from its
#                                  transaction log on the same data directory and port
#   scripts/zookeeper.sh status    print 127.0.0.1:PORT and exit 0 when it answers, 1 otherwise
#   scripts/zookeeper.sh reset     stop and remove its data
# ZOOKEEPER_DIR=/some/dir runs a private instance there instead (tests that crash a server).
source "$(dirname "$0")/lib.sh"

ZOOKEEPER_VERSION="$(sed -n 's:.*<zookeeper.version>\(.*\)</zookeeper.version>.*:\1:p' "$REPO_ROOT/scripts/zookeeper/pom.xml")"
LIBS="$CACHE_DIR/zookeeper-$ZOOKEEPER_VERSION/libs"
DIR="${ZOOKEEPER_DIR:-$STATE_DIR/zookeeper}"
PIDFILE="$DIR/zookeeper.pid"
HEAP="${ZOOKEEPER_HEAP:-128m}"

install() { install_maven_libs zookeeper "$ZOOKEEPER_VERSION" "$REPO_ROOT/scripts/zookeeper/pom.xml" "$LIBS"; }

connect_string() { echo "127.0.0.1:$(cat "$DIR/port")"; }

# The server's answer to a four-letter word; empty when nothing listens.
four_letter() {
  [[ -f "$DIR/port" ]] || return 0
  (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$DIR/port")" && printf '%s' "$1" >&3 && timeout 3 cat <&3) 2>/dev/null || true
}

# `ruok` answers as soon as the process listens; `srvr` names a mode only once it serves.
answering() { [[ "$(four_letter ruok)" == imok ]] && four_letter srvr | grep -q '^Mode: '; }

# True once the server answers, or once it cannot: its process is gone, or its main thread
# died (a missing class, a corrupt snapshot) while other threads keep the process alive.
settled() { answering || ! pid_alive "$PIDFILE" || grep -q '\[main\] ERROR' "$DIR/server.log" 2>/dev/null; }

write_config() {
  # tickTime 500 ms lets clients ask for sessions as short as 1 s (tests of expiry and
  # reconnection); the maximum stays generous for daemons on slow networks.
  cat >"$DIR/zoo.cfg" <<CFG
tickTime=500
minSessionTimeout=1000
maxSessionTimeout=60000
dataDir=$DIR/data
clientPortAddress=127.0.0.1
clientPort=$1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
preAllocSize=4096
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
}

start() {
  install
  mkdir -p "$DIR/data"
  if pid_alive "$PIDFILE"; then
    log "zookeeper already running (pid $(cat "$PIDFILE"))"
    connect_string; return
  fi
  local port; port="$(sticky_port "$DIR/port")"
  write_config "$port"
  # Kept for a look after a crash; and a stale log must not be read as this start's.
  [[ ! -f "$DIR/server.log" ]] || mv -f "$DIR/server.log" "$DIR/server.log.prev"
  nohup java -Xms32m -Xmx"$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.logFile="$DIR/server.log" -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -cp "$LIBS/*" org.apache.zookeeper.server.ZooKeeperServerMain "$DIR/zoo.cfg" >"$DIR/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 60 "zookeeper" settled || true
  if ! answering; then
    tail -n 30 "$DIR/server.log" "$DIR/stdout.log" >&2 || true
    stop; die "zookeeper did not answer on $(connect_string) within 60 s"
  fi
  log "zookeeper $ZOOKEEPER_VERSION up (pid $(cat "$PIDFILE"))"
  connect_string
}

stop() { stop_pidfile "$PIDFILE" "zookeeper"; }
# Named crash, not kill: a function called kill would hide the shell's builtin.
crash() { crash_pidfile "$PIDFILE" "zookeeper"; }

status() {
  if pid_alive "$PIDFILE" && answering; then connect_string; else log "zookeeper not running"; return 1; fi
}

case "${1:-}" in
  env) ;; # nothing beyond the URL `start` prints
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "zookeeper state removed" ;;
  *) echo "usage: $0 install|start|stop|kill|status|reset" >&2; exit 2 ;;
esac
