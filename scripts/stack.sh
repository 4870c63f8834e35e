#!/usr/bin/env bash
# The whole local stack (Kafka, Redis, PostgreSQL, ZooKeeper, a schema registry, RabbitMQ). `start`
# writes .stack/env with KAFKA_BROKERS, REDIS_URL, EVENT_STORE_URL, ZOOKEEPER_CONNECT,
# SCHEMA_REGISTRY_URL and AMQP_URL (and, in secure mode, the credential and certificate
# variables) for tools and tests to pick up. Each service's `start` leaves it alone when it
# already runs, so `start` only starts what is missing.
#   scripts/stack.sh start [--redis-cluster] [--secure]
#     --redis-cluster  stream state on a Redis Cluster (3 masters, 1 replica each) instead of one Redis
#     --secure         Kafka over SASL_SSL and mutual TLS, Redis with ACL users over TLS, the
#                      registry over TLS with basic auth; certificates from scripts/certs.sh
# The modes keep their state apart (.stack/kafka-secure, .stack/redis-cluster, ...), so they
# can run side by side; .stack/env describes the one started last.
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"

parse_modes() {
  REDIS_SCRIPT=redis.sh
  export STACK_SECURE=0
  local flag
  for flag in "$@"; do
    case "$flag" in
      --redis-cluster) REDIS_SCRIPT=redis-cluster.sh ;;
      --secure) STACK_SECURE=1 ;;
      *) echo "unknown option $flag (use --redis-cluster and/or --secure)" >&2; exit 2 ;;
    esac
  done
}

# service_env <script> <VARIABLE>: starts the service and prints VARIABLE=<what start printed>,
# then the script's `env` lines (its secure-mode variables; none in plain mode).
service_env() {
  local value; value="$(bash "$here/$1" start)"
  printf '%s=%s\n' "$2" "$value"
  bash "$here/$1" env
}

start_all() {
  mkdir -p "$STATE_DIR"
  [[ "$STACK_SECURE" == 0 ]] || bash "$here/certs.sh" ensure >/dev/null
  {
    service_env kafka.sh KAFKA_BROKERS
    service_env "$REDIS_SCRIPT" REDIS_URL
    service_env postgres.sh EVENT_STORE_URL
    service_env zookeeper.sh ZOOKEEPER_CONNECT
    service_env schema-registry.sh SCHEMA_REGISTRY_URL
    service_env rabbitmq.sh AMQP_URL
  } >"$STATE_DIR/env.new"
  mv "$STATE_DIR/env.new" "$STATE_DIR/env"
  cat "$STATE_DIR/env"
}

# every_mode <action>: the action for each service in every mode it may run in.
every_mode() {
  local script
  for STACK_SECURE in 0 1; do
    export STACK_SECURE
    for script in kafka.sh redis.sh redis-cluster.sh postgres.sh zookeeper.sh schema-registry.sh rabbitmq.sh; do
      [[ "$STACK_SECURE" == 0 || "$script" =~ ^(kafka|redis|redis-cluster|schema-registry)\.sh$ ]] || continue
      bash "$here/$script" "$1"
    done
  done
}

case "${1:-}" in
  install)
    bash "$here/redis.sh" install; bash "$here/postgres.sh" install
    bash "$here/kafka.sh" install; bash "$here/zookeeper.sh" install
    bash "$here/schema-registry.sh" install; bash "$here/rabbitmq.sh" install
    ;;
  start) shift; parse_modes "$@"; mkdir -p "$STATE_DIR"; echo "$*" >"$STATE_DIR/modes.new"; start_all; mv "$STATE_DIR/modes.new" "$STATE_DIR/modes" ;;
  stop) every_mode stop ;;
  status)
    # shellcheck disable=SC2046 # the modes file holds the flags of the last start
    parse_modes $(cat "$STATE_DIR/modes" 2>/dev/null)
    bash "$here/kafka.sh" status && bash "$here/$REDIS_SCRIPT" status &&
      bash "$here/postgres.sh" status && bash "$here/zookeeper.sh" status &&
      bash "$here/schema-registry.sh" status && bash "$here/rabbitmq.sh" status
    ;;
  reset) every_mode reset; rm -rf "$STATE_DIR/certs" ;;
  *) echo "usage: $0 install|start [--redis-cluster] [--secure]|stop|status|reset" >&2; exit 2 ;;
esac
