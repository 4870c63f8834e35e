#!/usr/bin/env bash
# A local Redis Cluster from Debian's redis-server: three masters with one replica each, on
# loopback, AOF (fsync every second), no eviction, failover after cluster-node-timeout (5 s).
#   scripts/redis-cluster.sh install|start|stop|status|reset|env|kill-master [SLOT]|reshard FROM TO COUNT
# `start` starts the nodes that are not running, joins six new nodes into a cluster
# (redis-cli --cluster create), waits until every node reports cluster_state:ok and prints
# redis-cluster://127.0.0.1:P1,...,127.0.0.1:P6 (every node, so the list stays a valid seed
# list whichever nodes are masters after a failover). Each node keeps its ports and its
# nodes.conf, so a restarted cluster re-forms as it was.
# `kill-master [SLOT]` SIGKILLs the master serving SLOT (default 0), waits until its replica
# has taken over and prints the port it killed; `start` brings the node back (as a replica).
# `reshard FROM TO COUNT` moves COUNT slots (the lowest-numbered ones FROM serves, as
# `redis-cli --cluster reshard` picks them) with their keys from the master on port FROM to
# the master on port TO, while clients keep using the cluster.
# With STACK_SECURE=1: TLS only (client port, replication and cluster bus), ACL users (see
# redis-lib.sh), state in $STATE_DIR/redis-cluster-secure; the URL is
# rediss-cluster://winchester@127.0.0.1:P1,... and `env` prints REDIS_PASSWORD_FILE and
# REDIS_TLS_CA_FILE.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis-lib.sh"

if [[ "$SECURE" == 1 ]]; then DIR="$STATE_DIR/redis-cluster-secure"; else DIR="$STATE_DIR/redis-cluster"; fi
NODES=(1 2 3 4 5 6)
NODE_TIMEOUT_MS=5000

node_dir() { echo "$DIR/node-$1"; }
node_port() { cat "$DIR/node-$1/port"; }
node_alive() { pid_alive "$DIR/node-$1/redis.pid"; }

url() {
  local addresses=() node
  for node in "${NODES[@]}"; do addresses+=("127.0.0.1:$(node_port "$node")"); done
  echo "$(url_prefix "-cluster")$(IFS=,; echo "${addresses[*]}")"
}

write_node_conf() { # write_node_conf <node> <port> <bus port>
  local dir; dir="$(node_dir "$1")"
  {
    cat <<CONF
bind 127.0.0.1
protected-mode yes
daemonize yes
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
save ""
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $NODE_TIMEOUT_MS
cluster-port $3
repl-diskless-sync-delay 0
CONF
    listener_conf "$dir" "$2"
  } >"$dir/redis.conf"
}

start_node() { # start_node <node>
  local dir port bus; dir="$(node_dir "$1")"
  mkdir -p "$dir"
  node_alive "$1" && return
  port="$(sticky_port "$dir/port")"
  bus="$(sticky_port "$dir/bus-port")"
  while [[ "$bus" == "$port" ]]; do bus="$(free_port)"; echo "$bus" >"$dir/bus-port"; done
  [[ "$SECURE" != 1 ]] || secure_prepare "$dir"
  write_node_conf "$1" "$port" "$bus"
  redis-server "$dir/redis.conf"
  wait_for 20 "redis node $1" redis_answers "$port" || die "redis node $1 did not answer on port $port (see $dir/redis.log)"
}

cluster_field() { # cluster_field <node> <field of CLUSTER INFO>
  rcli "$(node_port "$1")" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# Joins the nodes when none has slots yet (a new cluster); a cluster that knows its nodes is
# left to re-form from nodes.conf.
create_if_new() {
  local node assigned
  for node in "${NODES[@]}"; do
    assigned="$(cluster_field "$node" cluster_slots_assigned)"
    [[ "$assigned" == 0 ]] || return 0
  done
  local addresses=()
  for node in "${NODES[@]}"; do addresses+=("127.0.0.1:$(node_port "$node")"); done
  log "creating the cluster: ${addresses[*]}"
  rcli "$(node_port 1)" --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 ||
    die "redis-cli --cluster create failed (see $DIR/create.log)"
}

all_ok() {
  local node
  for node in "${NODES[@]}"; do
    node_alive "$node" || continue
    [[ "$(cluster_field "$node" cluster_state)" == ok ]] || return 1
  done
}

# Every running replica has a live link to its master: only a replica in sync can take over.
replicas_synced() {
  local node info
  for node in "${NODES[@]}"; do
    node_alive "$node" || continue
    info="$(rcli "$(node_port "$node")" info replication 2>/dev/null | tr -d '\r')"
    grep -q '^role:master' <<<"$info" || grep -q '^master_link_status:up' <<<"$info" || return 1
  done
}

start() {
  redis_install
  mkdir -p "$DIR"
  local node running=1
  for node in "${NODES[@]}"; do node_alive "$node" || running=0; done
  if [[ "$running" == 1 ]] && all_ok && replicas_synced; then log "redis cluster already running"; url; return; fi
  for node in "${NODES[@]}"; do start_node "$node"; done
  create_if_new
  wait_for 60 "cluster_state:ok" all_ok || die "the cluster did not reach cluster_state:ok (see $DIR/node-*/redis.log)"
  wait_for 30 "replicas in sync" replicas_synced || die "the replicas did not sync with their masters (see $DIR/node-*/redis.log)"
  log "redis cluster up (3 masters, 3 replicas)"
  url
}

stop() {
  local node pids=() dir
  for node in "${NODES[@]}"; do
    dir="$(node_dir "$node")"
    node_alive "$node" || continue
    pids+=("$(cat "$dir/redis.pid")")
    kill -TERM "$(cat "$dir/redis.pid")"
  done
  if ((${#pids[@]} == 0)); then log "redis cluster not running"; return; fi
  wait_for 20 "redis cluster stop" bash -c "! kill -0 ${pids[*]} 2>/dev/null" || true
  rm -f "$DIR"/node-*/redis.pid
  log "redis cluster stopped"
}

status() {
  local node
  for node in "${NODES[@]}"; do
    node_alive "$node" || { log "redis cluster not running (node $node is down)"; return 1; }
  done
  url
}

# The port of a node that runs (the first one), to ask about the cluster.
alive_port() {
  local node
  for node in "${NODES[@]}"; do node_alive "$node" && { node_port "$node"; return; }; done
  return 1
}

# The port of the master serving a slot, as the first running node sees the cluster.
master_port_of_slot() { # master_port_of_slot <slot>
  rcli "$(alive_port)" cluster nodes | tr -d '\r' |
    awk -v slot="$1" '$3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue # a slot being migrated: "[slot->-id]" or "[slot-<-id]"
        n = split($i, range, "-")
        if (slot + 0 >= range[1] + 0 && slot + 0 <= range[n] + 0) { split($2, a, "[:@]"); print a[2] }
      }
    }'
}

taken_over() { # taken_over <slot> <port of the killed master>
  local now; now="$(master_port_of_slot "$1")"
  [[ -n "$now" && "$now" != "$2" ]] && all_ok
}

node_of_port() { # node_of_port <port>: the node (1-6) listening there
  local node
  for node in "${NODES[@]}"; do [[ "$(node_port "$node")" == "$1" ]] && { echo "$node"; return; }; done
  return 1
}

kill_master() { # kill_master [slot]
  local slot="${1:-0}" port victim
  if ! [[ "$slot" =~ ^[0-9]{1,5}$ ]] || ((10#$slot > 16383)); then die "kill-master: SLOT is 0 to 16383, not $slot"; fi
  port="$(master_port_of_slot "$slot")"
  [[ -n "$port" ]] || die "no master serves slot $slot"
  victim="$(node_of_port "$port")" || die "the master on port $port is not one of this cluster's nodes"
  kill -KILL "$(cat "$(node_dir "$victim")/redis.pid")"
  rm -f "$(node_dir "$victim")/redis.pid"
  log "killed node $victim (port $port, serving slot $slot); waiting for its replica to take over"
  wait_for 60 "failover" taken_over "$slot" "$port" || die "no replica took over from the master on port $port"
  echo "$port"
}

# Every node agrees on the slot map and no slot is left half-migrated (what reshard requires).
consistent() {
  local port; port="$(alive_port)" || return 1
  rcli "$port" --cluster check "127.0.0.1:$port" >/dev/null 2>&1
}

reshard() { # reshard <from port> <to port> <count>
  local from="${1:-}" to="${2:-}" count="${3:-}" from_id to_id
  [[ "$from" =~ ^[0-9]+$ && "$to" =~ ^[0-9]+$ && "$count" =~ ^[0-9]+$ ]] ||
    die "usage: $0 reshard FROM-PORT TO-PORT COUNT"
  local port
  for port in "$from" "$to"; do
    node_of_port "$port" >/dev/null || die "no node of this cluster listens on port $port"
    [[ "$(rcli "$port" role 2>/dev/null | head -1 | tr -d '\r')" == master ]] || die "the node on port $port is not a master"
  done
  wait_for 60 "a consistent cluster" consistent || die "the cluster is not consistent (redis-cli --cluster check)"
  from_id="$(rcli "$from" cluster myid | tr -d '\r')"
  to_id="$(rcli "$to" cluster myid | tr -d '\r')"
  log "moving $count slots from port $from to port $to"
  rcli "$from" --cluster reshard "127.0.0.1:$from" --cluster-from "$from_id" --cluster-to "$to_id" \
    --cluster-slots "$count" --cluster-yes >"$DIR/reshard.log" 2>&1 ||
    die "redis-cli --cluster reshard failed (see $DIR/reshard.log)"
  wait_for 60 "a consistent cluster" consistent || die "the cluster is not consistent after the reshard"
  log "moved $count slots from port $from to port $to"
}

case "${1:-}" in
  env) secure_env ;;
  install) redis_install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill-master) kill_master "${2:-0}" ;;
  reshard) shift; reshard "$@" ;;
  reset) stop; rm -rf "$DIR"; log "redis cluster state removed" ;;
  *) echo "usage: $0 install|start|stop|status|reset|env|kill-master [SLOT]|reshard FROM TO COUNT" >&2; exit 2 ;;
esac
