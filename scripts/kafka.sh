#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker+controller in one JVM) from Maven Central jars.
#   scripts/kafka.sh install   resolve the jars into the cache (no download when cached)
#   scripts/kafka.sh start     format storage if new, start, wait until it answers, print bootstrap
#   scripts/kafka.sh stop      stop cleanly (SIGTERM, then wait)
#   scripts/kafka.sh status    print bootstrap and exit 0 when running, exit 1 otherwise
source "$(dirname "$0")/lib.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO_ROOT/scripts/kafka/pom.xml")"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DIR="$STATE_DIR/kafka"
PIDFILE="$DIR/kafka.pid"
HEAP="${KAFKA_HEAP:-512m}"

install() { install_maven_libs kafka "$KAFKA_VERSION" "$REPO_ROOT/scripts/kafka/pom.xml" "$LIBS"; }

bootstrap() { echo "127.0.0.1:$(cat "$DIR/port")"; }

answering() { port_open "$(cat "$DIR/port")" && grep -q 'Kafka Server started' "$DIR/server.log"; }

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE"; then
    log "kafka already running (pid $(cat "$PIDFILE"))"
    bootstrap; return
  fi
  local port cport
  port="$(sticky_port "$DIR/port")"
  cport="$(sticky_port "$DIR/controller.port")"
  [[ "$port" != "$cport" ]] || cport="$(free_port | tee "$DIR/controller.port")"
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
message.max.bytes=10485760
PROPS
  cat >"$DIR/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  local cp="$LIBS/*"
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    java -cp "$cp" -Dlog4j.configuration="file:$DIR/log4j.properties" kafka.tools.StorageTool format \
      -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
      -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 || { cat "$DIR/format.log" >&2; die "formatting KRaft storage failed"; }
  fi
  : >"$DIR/server.log"
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$DIR/log4j.properties" -cp "$cp" \
    kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for 90 "kafka" answering; then
    tail -n 30 "$DIR/server.log" "$DIR/stdout.log" >&2 || true
    stop; die "kafka did not answer on $(bootstrap) within 90 s"
  fi
  log "kafka $KAFKA_VERSION up (pid $(cat "$PIDFILE"))"
  bootstrap
}

stop() {
  if ! pid_alive "$PIDFILE"; then log "kafka not running"; rm -f "$PIDFILE"; return; fi
  local pid; pid="$(cat "$PIDFILE")"
  kill -TERM "$pid"
  # A controlled shutdown takes a few seconds; force it only if it hangs.
  wait_for 30 "kafka stop" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  log "kafka stopped"
}

status() {
  if pid_alive "$PIDFILE" && port_open "$(cat "$DIR/port")"; then bootstrap; else log "kafka not running"; return 1; fi
}

case "${1:-}" in
  env) ;; # nothing beyond the URL `start` prints
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; log "kafka state removed" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
