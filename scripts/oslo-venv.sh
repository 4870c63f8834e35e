#!/usr/bin/env bash
# Prints the python of a virtualenv holding OpenStack's own notifier, oslo.messaging, with the
# confluent-kafka client its kafka driver uses: what test/oslo/notify.py runs on.
#
# Everything comes from PyPI: oslo.messaging and confluent-kafka at the versions below, and their
# dependencies at the versions test/oslo/constraints.txt pins, so every machine sends with the
# same kombu, amqp and oslo.context. The virtualenv lives outside the checkout, in
# $CACHE_DIR/oslo-messaging-<version>; it is built once under a lock and a marker file, written
# last and naming the pins it was built from, says it is complete. A change of pins rebuilds it.
# Needs python3 (3.10 or later) with its venv module: Debian's python3-venv is installed when
# missing.
#
# usage: scripts/oslo-venv.sh      prints /…/oslo-messaging-18.3.1/bin/python
source "$(dirname "$0")/lib.sh"

OSLO_MESSAGING_VERSION=18.3.1
CONFLUENT_KAFKA_VERSION=2.16.1
CONSTRAINTS="$REPO_ROOT/test/oslo/constraints.txt"
VENV="$CACHE_DIR/oslo-messaging-$OSLO_MESSAGING_VERSION"
MARK="$VENV/.complete"
PYTHON="${PYTHON:-python3}"

# What the marker records: the pins, so that a venv built from others is not taken for this one.
pins() {
  { echo "oslo.messaging==$OSLO_MESSAGING_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION"
    cat "$CONSTRAINTS"; } | sha256sum | cut -c1-16
}

ready() { [[ -f "$MARK" && "$(cat "$MARK")" == "$(pins)" && -x "$VENV/bin/python" ]]; }

# Debian ships python3 without ensurepip unless python3-venv is installed: `-m venv` fails then.
install_venv_module() {
  command -v apt-get >/dev/null ||
    die "$PYTHON cannot create a virtualenv and there is no apt-get to install python3-venv"
  log "installing python3-venv from Debian"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv \
    >/dev/null
}

create_venv() {
  rm -rf "$VENV"
  if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then return; fi
  rm -rf "$VENV"
  install_venv_module
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv $VENV failed even with python3-venv installed"
}

build() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON is required to run oslo.messaging"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "oslo.messaging needs Python 3.10 or later; $PYTHON is $("$PYTHON" --version 2>&1)"
  local packages=("oslo.messaging==$OSLO_MESSAGING_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION")
  log "creating $VENV with ${packages[*]} from PyPI"
  local started=$SECONDS
  create_venv
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
    -c "$CONSTRAINTS" "${packages[@]}" >&2 ||
    die "pip could not install ${packages[*]} from PyPI (is pypi.org reachable?)"
  "$VENV/bin/python" - >&2 <<'PY' || die "$VENV does not import oslo.messaging's drivers"
from importlib import metadata
import warnings
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
import confluent_kafka
import oslo_messaging
from oslo_messaging._drivers import impl_kafka, impl_rabbit  # noqa: F401
names = ['oslo.messaging', 'oslo.context', 'kombu', 'amqp', 'confluent-kafka']
versions = ', '.join(f'{name} {metadata.version(name)}' for name in names)
print(f'[oslo-venv.sh] {versions}, librdkafka {confluent_kafka.libversion()[0]}')
PY
  pins >"$MARK"
  log "ready in $((SECONDS - started)) s"
}

if ! ready; then
  mkdir -p "$CACHE_DIR"
  # Two test runs at once: one builds, the other waits and then finds it ready.
  exec 9>"$CACHE_DIR/.oslo-venv.lock"
  flock 9
  ready || build
  exec 9>&-
fi
echo "$VENV/bin/python"
