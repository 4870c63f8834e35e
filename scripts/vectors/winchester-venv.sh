#!/usr/bin/env bash
# Prints the python of a virtualenv that can run upstream Winchester under Python 3, creating
# it on first use (in /tmp, or $WINCHESTER_VENV). It holds what upstream-venv.sh holds
# (StackDistiller 0.12 from PyPI, the same code as stacktach-stackdistiller's last commit with
# code, 38cc32994cc5411c3f7c76f31ef3ea8b3245e871, and its dependencies) plus SQLAlchemy 1.4:
# Winchester's models and queries use the 1.x API. Winchester and timex themselves are not
# installed: winchester_upstream.py loads them from checkouts. Everything goes in with --no-deps
# at pinned versions (stackdistiller asks for enum34, which breaks Python 3.11).
# Used by make-winchester-vectors.sh and upstream-winchester-ingest.sh; never by the tests.
set -euo pipefail

VENV="${WINCHESTER_VENV:-/tmp/winchester-upstream-py3}"
PINS=(stackdistiller==0.12 jsonpath-rw==1.4.0 ply==3.11 decorator==5.3.1 six==1.17.0 iso8601==2.1.0 PyYAML==6.0.3
  SQLAlchemy==1.4.54)
PYTHON="${PYTHON:-python3}"

ready() {
  "$VENV/bin/python" - "${PINS[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib import metadata
for pin in sys.argv[1:]:
    name, version = pin.split('==')
    assert metadata.version(name) == version, pin
import sqlalchemy.orm  # noqa: F401
import stackdistiller.distiller  # noqa: F401  (imports jsonpath_rw, iso8601, yaml, six)
PY
}

if ! ready; then
  echo "creating $VENV with ${PINS[*]}" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "${PINS[@]}" >&2
  ready || { echo "winchester-venv: $VENV is not usable" >&2; exit 1; }
fi
echo "$VENV/bin/python"
