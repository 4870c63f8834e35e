# shellcheck shell=bash
# Helpers shared by redis.sh and redis-cluster.sh. Sourced after lib.sh, not run.
#
# Secure mode (STACK_SECURE=1, which `stack.sh start --secure` exports): Redis listens on TLS
# only (port 0, tls-port), with the certificates of scripts/certs.sh; clients may present a
# certificate signed by the stack's CA, but need not (tls-auth-clients optional: the ACL
# password authenticates them). ACL users: `default` is off; `winchester` (the product) may
# run everything but the dangerous admin commands (INFO excepted: clients' ready checks use
# it); `winchester-admin` (these scripts, replication) may run everything. Passwords are
# random, made once under $STATE_DIR/secrets (mode 600); the ACL file holds their SHA-256
# only, and redis-cli gets them through REDISCLI_AUTH, never on a command line.

SECURE="${STACK_SECURE:-0}"
SECRETS_DIR="$STATE_DIR/secrets"
CERTS_DIR="$STATE_DIR/certs"
PRODUCT_USER=winchester
ADMIN_USER=winchester-admin
PRODUCT_PASSWORD_FILE="$SECRETS_DIR/redis.password"
ADMIN_PASSWORD_FILE="$SECRETS_DIR/redis-admin.password"
PRODUCT_ACL="~* &* +@all -@dangerous +info"

redis_install() {
  command -v redis-server >/dev/null && return
  log "installing redis-server from Debian"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-server >/dev/null
  # Debian starts a system instance on 6379; ours run on their own ports, so leave that alone.
}

# secret_file <path>: a random password in <path> (mode 600), made once.
secret_file() {
  [[ -s "$1" ]] && return
  mkdir -p "$SECRETS_DIR"; chmod 700 "$SECRETS_DIR"
  (umask 077; openssl rand -hex 24 >"$1.new")
  mv "$1.new" "$1"
}

# The SHA-256 of a password file's content (without its newline), as ACL files take it.
password_hash() { tr -d '\n' <"$1" | sha256sum | cut -d' ' -f1; }

# secure_prepare <dir>: certificates, passwords, the ACL file and the replication
# credentials (an include file, mode 600) an instance under <dir> reads.
secure_prepare() {
  local dir="$1"
  bash "$(dirname "$0")/certs.sh" ensure >/dev/null
  secret_file "$PRODUCT_PASSWORD_FILE"
  secret_file "$ADMIN_PASSWORD_FILE"
  (
    umask 077
    printf 'user default off\n' >"$dir/users.acl"
    printf 'user %s on #%s %s\n' "$PRODUCT_USER" "$(password_hash "$PRODUCT_PASSWORD_FILE")" "$PRODUCT_ACL" >>"$dir/users.acl"
    printf 'user %s on #%s ~* &* +@all\n' "$ADMIN_USER" "$(password_hash "$ADMIN_PASSWORD_FILE")" >>"$dir/users.acl"
    printf 'masteruser %s\nmasterauth %s\n' "$ADMIN_USER" "$(tr -d '\n' <"$ADMIN_PASSWORD_FILE")" >"$dir/replication.conf"
  )
}

# listener_conf <dir> <port>: redis.conf lines for the client listener (and, in secure mode,
# TLS for replication and the cluster bus, and the ACL users).
listener_conf() {
  local dir="$1" port="$2"
  if [[ "$SECURE" != 1 ]]; then
    printf 'port %s\n' "$port"
    return
  fi
  cat <<CONF
port 0
tls-port $port
tls-cert-file $CERTS_DIR/server.pem
tls-key-file $CERTS_DIR/server.key
tls-ca-cert-file $CERTS_DIR/ca.pem
tls-auth-clients optional
tls-replication yes
tls-cluster yes
aclfile $dir/users.acl
include $dir/replication.conf
CONF
}

# rcli <port> <args...>: redis-cli for these scripts (the admin user over TLS in secure mode).
rcli() {
  local port="$1"; shift
  if [[ "$SECURE" != 1 ]]; then
    redis-cli -h 127.0.0.1 -p "$port" "$@"
    return
  fi
  REDISCLI_AUTH="$(tr -d '\n' <"$ADMIN_PASSWORD_FILE")" redis-cli -h 127.0.0.1 -p "$port" \
    --tls --cacert "$CERTS_DIR/ca.pem" --user "$ADMIN_USER" "$@"
}

redis_answers() { rcli "$1" ping 2>/dev/null | grep -q PONG; } # redis_answers <port>

# The URL scheme and user part of the address `start` prints: redis:// or rediss://winchester@.
url_prefix() { # url_prefix <scheme suffix, e.g. "" or "-cluster">
  if [[ "$SECURE" == 1 ]]; then echo "rediss$1://$PRODUCT_USER@"; else echo "redis$1://"; fi
}

# The `env` subcommand: the variables a client needs beyond the URL (none in plain mode).
secure_env() {
  [[ "$SECURE" == 1 ]] || return 0
  echo "REDIS_PASSWORD_FILE=$PRODUCT_PASSWORD_FILE"
  echo "REDIS_TLS_CA_FILE=$CERTS_DIR/ca.pem"
}
