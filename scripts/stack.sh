#!/usr/bin/env bash
# The whole local stack (Kafka, Redis, PostgreSQL, ZooKeeper, a schema registry, RabbitMQ). `start`
# writes .stack/env with KAFKA_BROKERS, REDIS_URL, EVENT_STORE_URL, ZOOKEEPER_CONNECT,
# SCHEMA_REGISTRY_URL and AMQP_URL for tools and tests to pick up. Each service's `start` leaves it alone
# when it already runs, so `start` only starts what is missing.
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"
case "${1:-}" in
  install)
    bash "$here/redis.sh" install; bash "$here/postgres.sh" install
    bash "$here/kafka.sh" install; bash "$here/zookeeper.sh" install
    bash "$here/schema-registry.sh" install; bash "$here/rabbitmq.sh" install
    ;;
  start)
    mkdir -p "$STATE_DIR"
    redis_url="$(bash "$here/redis.sh" start)"
    store_url="$(bash "$here/postgres.sh" start)"
    brokers="$(bash "$here/kafka.sh" start)"
    zookeeper="$(bash "$here/zookeeper.sh" start)"
    registry="$(bash "$here/schema-registry.sh" start)"
    amqp="$(bash "$here/rabbitmq.sh" start)"
    printf 'KAFKA_BROKERS=%s\nREDIS_URL=%s\nEVENT_STORE_URL=%s\nZOOKEEPER_CONNECT=%s\nSCHEMA_REGISTRY_URL=%s\nAMQP_URL=%s\n' \
      "$brokers" "$redis_url" "$store_url" "$zookeeper" "$registry" "$amqp" | tee "$STATE_DIR/env"
    ;;
  stop)
    bash "$here/kafka.sh" stop; bash "$here/redis.sh" stop
    bash "$here/postgres.sh" stop; bash "$here/zookeeper.sh" stop
    bash "$here/schema-registry.sh" stop; bash "$here/rabbitmq.sh" stop
    ;;
  status)
    bash "$here/kafka.sh" status && bash "$here/redis.sh" status &&
      bash "$here/postgres.sh" status && bash "$here/zookeeper.sh" status &&
      bash "$here/schema-registry.sh" status && bash "$here/rabbitmq.sh" status
    ;;
  reset)
    bash "$here/kafka.sh" reset; bash "$here/redis.sh" reset
    bash "$here/postgres.sh" reset; bash "$here/zookeeper.sh" reset
    bash "$here/schema-registry.sh" reset; bash "$here/rabbitmq.sh" reset
    ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
