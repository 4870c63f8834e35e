#!/usr/bin/env bash
# Apicurio Registry from its Maven Central tarball: a schema registry with the Confluent API at
# /apis/ccompat/v7, loopback only, its H2 database under .stack/schema-registry (schema ids
# survive restarts, so Avro records already on Kafka keep decoding).
# With STACK_SECURE=1 (scripts/stack.sh start --secure) another instance, under
# .stack/schema-registry-secure, serves only HTTPS (scripts/certs.sh's server certificate) and
# wants HTTP basic auth: user winchester, its password generated once into
# .stack/secrets/registry.password (mode 600). Apicurio checks it itself, against Quarkus's
# embedded user store (quarkus.http.auth.basic), so no OIDC server or proxy is needed.
#   scripts/schema-registry.sh install   fetch and unpack the tarball into the cache (once)
#   scripts/schema-registry.sh start     start, wait until /health/ready, print the client URL
#   scripts/schema-registry.sh stop      stop cleanly (SIGTERM, then wait)
#   scripts/schema-registry.sh kill      SIGKILL: a crash; the next `start` keeps its schemas
#   scripts/schema-registry.sh status    print the client URL and exit 0 when ready, 1 otherwise
#   scripts/schema-registry.sh reset     stop and remove its data
#   scripts/schema-registry.sh env       secure mode: SCHEMA_REGISTRY_USERNAME, _PASSWORD_FILE, _CA_FILE
# SCHEMA_REGISTRY_DIR=/some/dir runs a private instance there instead.
source "$(dirname "$0")/lib.sh"

# 3.0.x is the last line that runs on Java 17 (3.1 and later need Java 21).
SCHEMA_REGISTRY_VERSION=3.0.9
ARTIFACT="io.apicurio:apicurio-registry-app:$SCHEMA_REGISTRY_VERSION:tar.gz:all"
APP="$CACHE_DIR/apicurio-registry-$SCHEMA_REGISTRY_VERSION"
SECURE="${STACK_SECURE:-0}"
if [[ "$SECURE" == 1 ]]; then
  DIR="${SCHEMA_REGISTRY_DIR:-$STATE_DIR/schema-registry-secure}"
else
  DIR="${SCHEMA_REGISTRY_DIR:-$STATE_DIR/schema-registry}"
fi
CERTS="$STATE_DIR/certs"
USERNAME=winchester
PASSWORD_FILE="$STATE_DIR/secrets/registry.password"
PIDFILE="$DIR/schema-registry.pid"
HEAP="${SCHEMA_REGISTRY_HEAP:-256m}"

install() {
  if [[ -f "$APP/.complete" ]]; then log "apicurio registry $SCHEMA_REGISTRY_VERSION cached in $APP"; return; fi
  command -v mvn >/dev/null || die "maven (mvn) is required to fetch Apicurio Registry"
  command -v java >/dev/null || die "java (17+) is required to run Apicurio Registry"
  log "fetching apicurio registry $SCHEMA_REGISTRY_VERSION from Maven Central into $APP"
  rm -rf "$APP" "$APP.download"
  mkdir -p "$APP.download"
  # No project: run where no pom.xml is found. The tarball stays in the local repository, so
  # unpacking again needs no network.
  (cd "$APP.download" && mvn -q -B -Dmaven.repo.local="$CACHE_DIR/m2" dependency:copy \
    -Dartifact="$ARTIFACT" -DoutputDirectory="$APP.download" -Dstyle.color=never >&2)
  mkdir -p "$APP"
  # tar, not Maven's unpack goal: that one truncates long entry names and breaks jars.
  tar -xzf "$APP.download"/*.tar.gz -C "$APP"
  rm -rf "$APP.download"
  [[ -f "$APP/apicurio-registry-app-$SCHEMA_REGISTRY_VERSION-runner.jar" ]] || die "the tarball holds no runner jar"
  touch "$APP/.complete"
}

scheme() { if [[ "$SECURE" == 1 ]]; then echo https; else echo http; fi; }
base_url() { echo "$(scheme)://127.0.0.1:$(cat "$DIR/port")"; }
client_url() { echo "$(base_url)/apis/ccompat/v7"; }

get_request() { printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1"; }

# The HTTP status line of GET <path>, over bash's /dev/tcp or openssl (curl may not be installed).
http_status() {
  [[ -f "$DIR/port" ]] || return 0
  local port; port="$(cat "$DIR/port")"
  if [[ "$SECURE" == 1 ]]; then
    get_request "$1" | timeout 3 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" \
      -CAfile "$CERTS/ca.pem" -verify_return_error 2>/dev/null | head -n 1 || true
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port" && get_request "$1" >&3 && timeout 3 head -n 1 <&3) 2>/dev/null || true
  fi
}

ready() { [[ "$(http_status /health/ready)" =~ ^HTTP/1\.[01]\ 200 ]]; }

# True once it is ready, or once it cannot be: its process is gone.
settled() { ready || ! pid_alive "$PIDFILE"; }

# The password, made once: 24 random bytes as hex, readable by the owner only.
ensure_password() {
  [[ -s "$PASSWORD_FILE" ]] && return
  mkdir -p "$(dirname "$PASSWORD_FILE")"; chmod 700 "$(dirname "$PASSWORD_FILE")"
  (umask 077 && openssl rand -hex 24 >"$PASSWORD_FILE")
  log "registry password made in $PASSWORD_FILE"
}

# Quarkus reads config/application.properties of its working directory: TLS from PEM files,
# no plain HTTP, and basic auth against one embedded user. The file holds the password's
# digest (SHA-512 of user:realm:password, which Quarkus checks against), not the password,
# and no secret reaches the java command line.
write_secure_config() {
  local digest
  digest="$(printf '%s' "$USERNAME:Quarkus:$(<"$PASSWORD_FILE")" | sha512sum | cut -d' ' -f1)"
  mkdir -p "$DIR/config"
  (umask 077 && cat >"$DIR/config/application.properties" <<PROPS
quarkus.http.ssl-port=$1
quarkus.http.insecure-requests=disabled
quarkus.http.ssl.certificate.files=$CERTS/server.pem
quarkus.http.ssl.certificate.key-files=$CERTS/server.key
quarkus.http.auth.basic=true
quarkus.security.users.embedded.enabled=true
quarkus.security.users.embedded.plain-text=false
quarkus.security.users.embedded.algorithm=digest-sha-512
quarkus.security.users.embedded.users.$USERNAME=$digest
quarkus.security.users.embedded.roles.$USERNAME=sr-admin
PROPS
  )
}

# Where it listens: plain HTTP on <port>, or only HTTPS there with the secure configuration.
configure_listener() {
  if [[ "$SECURE" == 1 ]]; then
    bash "$(dirname "$0")/certs.sh" ensure >/dev/null
    ensure_password
    write_secure_config "$1"
  else
    rm -f "$DIR/config/application.properties"
    echo "-Dquarkus.http.port=$1"
  fi
}

start() {
  install
  mkdir -p "$DIR/data"
  if pid_alive "$PIDFILE"; then
    log "schema registry already running (pid $(cat "$PIDFILE"))"
    client_url; return
  fi
  local port listener; port="$(sticky_port "$DIR/port")"
  listener="$(configure_listener "$port")"
  # A killed server leaves its Vert.x file cache behind; nothing in it outlives the process.
  rm -rf "$DIR"/vertx-cache*
  [[ ! -f "$DIR/server.log" ]] || mv -f "$DIR/server.log" "$DIR/server.log.prev"
  # C1 JIT and the serial collector: it starts in about 3 s and stays near 200 MB. WRITE_DELAY=0
  # commits each registration to disk at once, so a SIGKILL loses none. Two database
  # connections instead of twenty: nothing here is busy. Vert.x's file cache stays in $DIR.
  (cd "$DIR" && exec nohup java -Xms32m -Xmx"$HEAP" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Djava.awt.headless=true -Dvertx.cacheDirBase="$DIR/vertx-cache" \
    -Dquarkus.http.host=127.0.0.1 ${listener:+"$listener"} \
    -Dapicurio.datasource.url="jdbc:h2:file:$DIR/data/registry;WRITE_DELAY=0" \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 \
    -Dapicurio.datasource.jdbc.max-size=20 \
    -jar "$APP/apicurio-registry-app-$SCHEMA_REGISTRY_VERSION-runner.jar" >"$DIR/server.log" 2>&1) &
  echo $! >"$PIDFILE"
  wait_for 90 "schema registry" settled || true
  if ! ready; then
    tail -n 30 "$DIR/server.log" >&2 || true
    stop; die "the schema registry did not become ready on $(base_url) within 90 s"
  fi
  log "apicurio registry $SCHEMA_REGISTRY_VERSION up (pid $(cat "$PIDFILE"))"
  client_url
}

stop() { stop_pidfile "$PIDFILE" "schema registry"; }
# Named crash, not kill: a function called kill would hide the shell's builtin.
crash() { crash_pidfile "$PIDFILE" "schema registry"; }

status() {
  if pid_alive "$PIDFILE" && ready; then client_url; else log "schema registry not running"; return 1; fi
}

# The client's variables beyond the URL `start` prints: none in plain mode.
client_env() {
  [[ "$SECURE" == 1 ]] || return 0
  printf 'SCHEMA_REGISTRY_USERNAME=%s\n' "$USERNAME"
  printf 'SCHEMA_REGISTRY_PASSWORD_FILE=%s\n' "$PASSWORD_FILE"
  printf 'SCHEMA_REGISTRY_CA_FILE=%s\n' "$CERTS/ca.pem"
}

case "${1:-}" in
  env) client_env ;;
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  reset)
    stop; rm -rf "$DIR"
    [[ "$SECURE" == 0 ]] || rm -f "$PASSWORD_FILE"
    log "schema registry state removed"
    ;;
  *) echo "usage: $0 install|start|stop|kill|status|reset|env" >&2; exit 2 ;;
esac
