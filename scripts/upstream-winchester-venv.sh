#!/usr/bin/env bash
# Prints the python of a throwaway virtualenv holding upstream Winchester 0.56 as released on
# PyPI, with the dependencies its ingest path imports, for `npm run bench:engine -- --upstream`.
#
# Everything comes from PyPI at the versions below, each installed with --no-deps: Winchester's
# and StackDistiller's requirement lists name packages that cannot install on Python 3 (see
# below). Winchester and timex are Python 2 code, not importable as installed:
# bench/upstream/winchester_ingest.py copies them out of site-packages into a temporary
# directory and patches their Python 2 spellings there (scripts/vectors/winchester_upstream.py's
# PY3_FIXES), leaving the installed files as released. The virtualenv lives outside the checkout,
# in $CACHE_DIR/winchester-upstream-0.56 (~/.cache/winchester); it is built once under a lock,
# and a marker file naming the pins, written last, says it is complete. A change of pins
# rebuilds it; deleting the directory throws it away.
#
# usage: scripts/upstream-winchester-venv.sh      prints …/winchester-upstream-0.56/bin/python
source "$(dirname "$0")/lib.sh"

VENV="$CACHE_DIR/winchester-upstream-0.56"
MARK="$VENV/.complete"
PYTHON="${PYTHON:-python3}"
# Build tools for the pbr-based sdists, pinned so a new setuptools cannot change the install.
BUILD_PINS=(setuptools==75.8.0 pbr==6.1.1 wheel==0.45.1)
PINS=(
  winchester==0.56 timex==0.20.0 stackdistiller==0.12 simport==0.2.dev16
  # stackdistiller's: jsonpath-rw (ply, decorator, six), iso8601, PyYAML
  jsonpath-rw==1.4.0 ply==3.11 decorator==5.3.1 six==1.17.0 iso8601==2.1.0 PyYAML==6.0.3
  # Winchester's models and queries use the SQLAlchemy 1.x API; psycopg2 reaches PostgreSQL.
  SQLAlchemy==1.4.54 psycopg2-binary==2.9.10
  # time_sync imports requests and dateutil at module level.
  python-dateutil==2.9.0.post0 requests==2.32.3 urllib3==2.2.3 idna==3.10 certifi==2024.8.30
  charset-normalizer==3.4.0
)
# Winchester's requirements left out, and why: MySQL-python (a Python 2 C extension; MySQL is
# not used, the bench stores in PostgreSQL or SQLite), enum34 (shadows the standard enum module
# and breaks Python 3.11), alembic (schema migrations; the bench creates the tables with
# SQLAlchemy), python-daemon (the worker's daemon mode), notabene (the notification handler),
# hacking (a linter).

# What the marker records: the pins, so a virtualenv built from others is not taken for this one.
pins() { echo "${BUILD_PINS[*]} ${PINS[*]}" | sha256sum | cut -c1-16; }

ready() { [[ -f "$MARK" && "$(cat "$MARK")" == "$(pins)" && -x "$VENV/bin/python" ]]; }

# Debian ships python3 without ensurepip unless python3-venv is installed: `-m venv` fails then.
create_venv() {
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 && return
  command -v apt-get >/dev/null || die "$PYTHON cannot create a virtualenv (install python3-venv)"
  log "installing python3-venv from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv $VENV failed even with python3-venv installed"
}

# The released files must be there (they are never imported from here, see above).
check_install() {
  local site
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  [[ -f "$site/winchester/pipeline_manager.py" && -f "$site/timex/expression.py" ]] ||
    die "$VENV holds no winchester and timex sources after the install"
  "$VENV/bin/python" -c 'import sqlalchemy.orm, psycopg2, stackdistiller.distiller, simport, requests' ||
    die "$VENV does not import upstream Winchester's dependencies"
}

build() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON is required to run upstream Winchester"
  log "creating $VENV with ${PINS[*]} from PyPI"
  local started=$SECONDS pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  create_venv
  "${pip[@]}" "${BUILD_PINS[@]}" >&2 || die "pip could not install ${BUILD_PINS[*]} (is PyPI reachable?)"
  "${pip[@]}" --no-deps --no-build-isolation "${PINS[@]}" >&2 ||
    die "pip could not install upstream Winchester's pins from PyPI (is PyPI reachable?)"
  check_install
  pins >"$MARK"
  log "ready in $((SECONDS - started)) s"
}

if ! ready; then
  mkdir -p "$CACHE_DIR"
  # Two runs at once: one builds, the other waits and then finds it ready.
  exec 9>"$CACHE_DIR/.winchester-upstream-venv.lock"
  flock 9
  ready || build
  exec 9>&-
fi
echo "$VENV/bin/python"
