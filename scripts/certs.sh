#!/usr/bin/env bash
# A private certificate authority for the local stack's secure mode, made with openssl:
#   scripts/certs.sh ensure   (re)uses $STATE_DIR/certs, printing its path
# Files: ca.pem (the CA to trust), server.pem/server.key (for 127.0.0.1 and localhost, used by
# Kafka, Redis and the registry) and client.pem/client.key (CN=winchester, for mutual TLS).
# Keys are unencrypted PEM, readable by the owner only. Certificates last 825 days.
source "$(dirname "$0")/lib.sh"

DIR="$STATE_DIR/certs"
DAYS=825

make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=winchester-local-ca" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
}

# make_leaf <name> <subject> <extensions>: a key and a certificate signed by the CA.
make_leaf() {
  local name="$1" subject="$2" extensions="$3"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" \
    -keyout "$DIR/$name.key" -out "$DIR/$name.csr" 2>/dev/null
  printf '%s\n' "$extensions" >"$DIR/$name.ext"
  openssl x509 -req -in "$DIR/$name.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days "$DAYS" -extfile "$DIR/$name.ext" -out "$DIR/$name.pem" 2>/dev/null
  rm -f "$DIR/$name.csr" "$DIR/$name.ext"
}

ensure() {
  command -v openssl >/dev/null || die "openssl is needed for the secure stack (apt-get install openssl)"
  if [[ -f "$DIR/client.pem" ]]; then echo "$DIR"; return; fi
  mkdir -p "$DIR"; chmod 700 "$DIR"
  make_ca
  make_leaf server "/CN=localhost" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
  make_leaf client "/CN=winchester" "extendedKeyUsage=clientAuth"
  chmod 600 "$DIR"/*.key
  log "certificates made in $DIR"
  echo "$DIR"
}

case "${1:-}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
