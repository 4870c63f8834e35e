#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker+controller in one JVM) from Maven Central jars.
#   scripts/kafka.sh install   resolve the jars into the cache (no download when cached)
#   scripts/kafka.sh start     format storage if new, start, wait until it answers, print bootstrap
#   scripts/kafka.sh stop      stop cleanly (SIGTERM, then wait)
#   scripts/kafka.sh status    print bootstrap and exit 0 when running, exit 1 otherwise
#   scripts/kafka.sh env       the client variables of secure mode (nothing in plain mode)
#
# Secure mode (STACK_SECURE=1, which `stack.sh start --secure` exports), state in
# $STATE_DIR/kafka-secure so a plain and a secure broker run side by side:
#   - a SASL_SSL listener (PLAIN and SCRAM-SHA-512), the bootstrap `start` prints;
#   - an SSL listener that requires a client certificate (mutual TLS), KAFKA_SSL_BROKERS in `env`;
#   - the controller on a listener of its own (TLS, the broker's certificate both ways).
# Certificates come from scripts/certs.sh as PEM files, which Kafka reads directly
# (ssl.keystore.type=PEM): no keystore passwords to make, keep or leak.
# Users (SCRAM-SHA-512 credentials written at format time with Kafka's StorageTool, and the
# same passwords for PLAIN): admin (super user), winchester (the product) and limited (no
# rights, for the authorization errors). Passwords are random, made once in
# $STATE_DIR/secrets/kafka-<user>.password (mode 600), and reach the tools through files
# (an argument file, properties files of mode 600), never a command line.
# ACLs (StandardAuthorizer): winchester and the mutual-TLS principal User:CN=winchester may do
# everything on topics, consumer groups and transactional ids whose names start with one of
# KAFKA_ACL_PREFIXES (the namespaces the product, its demo, its tests and benchmarks use, and
# OpenStack's notifications.<priority> topics). The broker's own principal, User:CN=localhost
# (server.pem), is a super user too.
source "$(dirname "$0")/lib.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO_ROOT/scripts/kafka/pom.xml")"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
SECURE="${STACK_SECURE:-0}"
if [[ "$SECURE" == 1 ]]; then DIR="$STATE_DIR/kafka-secure"; else DIR="$STATE_DIR/kafka"; fi
PIDFILE="$DIR/kafka.pid"
HEAP="${KAFKA_HEAP:-512m}"
CERTS_DIR="$STATE_DIR/certs"
SECRETS_DIR="$STATE_DIR/secrets"
USERS=(admin winchester limited)
ACL_PREFIXES="${KAFKA_ACL_PREFIXES:-winchester notifications dev- chaos soak bench t.}"
# Kafka's command-line tools start faster without the optimising JIT; they run for seconds.
TOOL_JVM=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m)

install() { install_maven_libs kafka "$KAFKA_VERSION" "$REPO_ROOT/scripts/kafka/pom.xml" "$LIBS"; }

bootstrap() { echo "127.0.0.1:$(cat "$DIR/port")"; }

answering() { port_open "$(cat "$DIR/port")" && grep -q 'Kafka Server started' "$DIR/server.log"; }

password_file() { echo "$SECRETS_DIR/kafka-$1.password"; }
password_of() { tr -d '\n' <"$(password_file "$1")"; }

# kafka_tool <main class> <args...>: one of Kafka's tools from the jars, logging to tools.log.
kafka_tool() {
  java "${TOOL_JVM[@]}" -cp "$LIBS/*" -Dlog4j.configuration="file:$DIR/log4j.properties" "$@" \
    >>"$DIR/tools.log" 2>&1
}

plain_listeners() { # plain_listeners <port> <controller port>
  cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$1,CONTROLLER://127.0.0.1:$2
advertised.listeners=PLAINTEXT://127.0.0.1:$1
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
PROPS
}

secure_listeners() { # secure_listeners <SASL_SSL port> <SSL port> <controller port>
  local plain_users="" user
  for user in "${USERS[@]}"; do plain_users+=" user_$user=\"$(password_of "$user")\""; done
  cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$1,SSL://127.0.0.1:$2,CONTROLLER://127.0.0.1:$3
advertised.listeners=SASL_SSL://127.0.0.1:$1,SSL://127.0.0.1:$2
inter.broker.listener.name=SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS_DIR/ca.pem
ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:CN=localhost
PROPS
}

# secret_file <path>: a random password in <path> (mode 600), made once.
secret_file() {
  [[ -s "$1" ]] && return
  mkdir -p "$SECRETS_DIR"; chmod 700 "$SECRETS_DIR"
  (umask 077; openssl rand -hex 24 >"$1.new")
  mv "$1.new" "$1"
}

# Certificates, passwords, the broker's PEM keystore (key and certificate in one file) and the
# admin's client properties for Kafka's tools.
secure_prepare() {
  bash "$(dirname "$0")/certs.sh" ensure >/dev/null
  local user
  for user in "${USERS[@]}"; do secret_file "$(password_file "$user")"; done
  (
    umask 077
    cat "$CERTS_DIR/server.key" "$CERTS_DIR/server.pem" >"$DIR/server-keystore.pem"
    cat >"$DIR/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password_of admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS_DIR/ca.pem
PROPS
  )
}

write_properties() {
  local port cport
  port="$(sticky_port "$DIR/port")"
  cport="$(sticky_port "$DIR/controller.port")"
  [[ "$port" != "$cport" ]] || cport="$(free_port | tee "$DIR/controller.port")"
  (
    umask 077 # the PLAIN users' passwords are in it
    {
      cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
PROPS
      if [[ "$SECURE" == 1 ]]; then
        local sslport; sslport="$(sticky_port "$DIR/ssl.port")"
        [[ "$sslport" != "$port" && "$sslport" != "$cport" ]] || sslport="$(free_port | tee "$DIR/ssl.port")"
        secure_listeners "$port" "$sslport" "$cport"
      else
        plain_listeners "$port" "$cport"
      fi
      cat <<PROPS
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
    } >"$DIR/server.properties"
  )
}

write_log4j() {
  cat >"$DIR/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
}

# A new KRaft cluster id as Kafka makes them (16 random bytes, base64url without padding, not
# starting with '-'), without starting a JVM for StorageTool's random-uuid.
cluster_id() {
  local id="-"
  while [[ "$id" == -* ]]; do
    id="$(node -e 'process.stdout.write(require("crypto").randomBytes(16).toString("base64url"))')"
  done
  echo "$id"
}

# Formats new storage; in secure mode with the users' SCRAM credentials. The tool and its
# arguments are in a Java argument file (mode 600, removed after), so no password shows in `ps`.
format_storage() {
  local args="$DIR/format.args" user
  (
    umask 077
    printf '"%s"\n' kafka.tools.StorageTool format -t "$(cluster_id)" -c "$DIR/server.properties" >"$args"
    if [[ "$SECURE" == 1 ]]; then
      for user in "${USERS[@]}"; do
        printf '"%s"\n' --add-scram "SCRAM-SHA-512=[name=$user,password=$(password_of "$user")]" >>"$args"
      done
    fi
  )
  java "${TOOL_JVM[@]}" -cp "$LIBS/*" -Dlog4j.configuration="file:$DIR/log4j.properties" "@$args" \
    >"$DIR/format.log" 2>&1 || { rm -f "$args"; cat "$DIR/format.log" >&2; die "formatting KRaft storage failed"; }
  rm -f "$args"
}

# The product's ACLs, added once per prefix list (adding an existing ACL changes nothing), as
# the admin user over SASL_SSL with SCRAM-SHA-512, which checks those credentials on the way.
ensure_acls() {
  [[ "$(cat "$DIR/acls.done" 2>/dev/null)" != "$ACL_PREFIXES" ]] || return 0
  local args=(--bootstrap-server "$(bootstrap)" --command-config "$DIR/admin.properties" --add
    --allow-principal User:winchester --allow-principal User:CN=winchester --operation All
    --resource-pattern-type prefixed) prefix
  for prefix in $ACL_PREFIXES; do args+=(--topic "$prefix" --group "$prefix" --transactional-id "$prefix"); done
  kafka_tool kafka.admin.AclCommand "${args[@]}" ||
    { tail -n 20 "$DIR/tools.log" >&2; die "adding the ACLs failed (see $DIR/tools.log)"; }
  echo "$ACL_PREFIXES" >"$DIR/acls.done"
  log "ACLs for User:winchester and User:CN=winchester on prefixes: $ACL_PREFIXES"
}

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE"; then
    log "kafka already running (pid $(cat "$PIDFILE"))"
    bootstrap; return
  fi
  [[ "$SECURE" != 1 ]] || secure_prepare
  write_properties
  write_log4j
  [[ -f "$DIR/data/meta.properties" ]] || format_storage
  : >"$DIR/server.log"
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$DIR/log4j.properties" -cp "$LIBS/*" \
    kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for 90 "kafka" answering; then
    tail -n 30 "$DIR/server.log" "$DIR/stdout.log" >&2 || true
    stop; die "kafka did not answer on $(bootstrap) within 90 s"
  fi
  [[ "$SECURE" != 1 ]] || ensure_acls
  log "kafka $KAFKA_VERSION up (pid $(cat "$PIDFILE"))$([[ "$SECURE" != 1 ]] || echo ', SASL_SSL')"
  bootstrap
}

# The client variables of secure mode: SCRAM-SHA-512 as winchester over SASL_SSL. For mutual
# TLS instead: KAFKA_BROKERS=$KAFKA_SSL_BROKERS KAFKA_SECURITY_PROTOCOL=SSL, the client
# certificate and key of certs.sh, and no KAFKA_SASL_* (docs/operations.md, Kafka security).
secure_env() {
  [[ "$SECURE" == 1 ]] || return 0
  cat <<ENV
KAFKA_SECURITY_PROTOCOL=SASL_SSL
KAFKA_SASL_MECHANISM=scram-sha-512
KAFKA_SASL_USERNAME=winchester
KAFKA_SASL_PASSWORD_FILE=$(password_file winchester)
KAFKA_SSL_CA_FILE=$CERTS_DIR/ca.pem
KAFKA_SSL_BROKERS=127.0.0.1:$(cat "$DIR/ssl.port")
ENV
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
  env) secure_env ;;
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DIR"; [[ "$SECURE" != 1 ]] || rm -f "$SECRETS_DIR"/kafka-*.password; log "kafka state removed" ;;
  *) echo "usage: $0 install|start|stop|status|reset|env" >&2; exit 2 ;;
esac
