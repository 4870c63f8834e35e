#!/usr/bin/env bash
# The whole local stack (Kafka, Redis, PostgreSQL). `start` writes .stack/env with
# KAFKA_BROKERS, REDIS_URL and EVENT_STORE_URL for tools and tests to pick up.
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"
case "${1:-}" in
  install) bash "$here/redis.sh" install; bash "$here/postgres.sh" install; bash "$here/kafka.sh" install ;;
  start)
    mkdir -p "$STATE_DIR"
    redis_url="$(bash "$here/redis.sh" start)"
    store_url="$(bash "$here/postgres.sh" start)"
    brokers="$(bash "$here/kafka.sh" start)"
    printf 'KAFKA_BROKERS=%s\nREDIS_URL=%s\nEVENT_STORE_URL=%s\n' "$brokers" "$redis_url" "$store_url" | tee "$STATE_DIR/env"
    ;;
  stop) bash "$here/kafka.sh" stop; bash "$here/redis.sh" stop; bash "$here/postgres.sh" stop ;;
  status) bash "$here/kafka.sh" status && bash "$here/redis.sh" status && bash "$here/postgres.sh" status ;;
  reset) bash "$here/kafka.sh" reset; bash "$here/redis.sh" reset; bash "$here/postgres.sh" reset ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
