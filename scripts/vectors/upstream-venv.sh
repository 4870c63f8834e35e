#!/usr/bin/env bash
# Prints the python of a virtualenv holding upstream StackDistiller 0.12 from PyPI, creating it
# on first use (in /tmp, or $STACKDISTILLER_VENV). The package's enum34 requirement breaks
# Python 3.11, so everything is installed with --no-deps at pinned versions: stackdistiller's
# real dependencies (jsonpath-rw and its ply/decorator/six, iso8601, PyYAML).
# With --winchester (winchester-venv.sh) the virtualenv is $WINCHESTER_VENV and also holds
# SQLAlchemy 1.4, for upstream Winchester's models and queries.
# Used by the vector and benchmark scripts; never by the tests.
set -euo pipefail

VENV="${STACKDISTILLER_VENV:-/tmp/winchester-stackdistiller-0.12}"
PINS=(stackdistiller==0.12 jsonpath-rw==1.4.0 ply==3.11 decorator==5.3.1 six==1.17.0 iso8601==2.1.0 PyYAML==6.0.3)
# stackdistiller.distiller imports jsonpath_rw, iso8601, yaml and six.
MODULES=stackdistiller.distiller
if [[ "${1:-}" == --winchester ]]; then
  VENV="${WINCHESTER_VENV:-/tmp/winchester-upstream-py3}"
  PINS+=(SQLAlchemy==1.4.54)
  MODULES+=" sqlalchemy.orm"
fi
PYTHON="${PYTHON:-python3}"

ready() {
  MODULES="$MODULES" "$VENV/bin/python" - "${PINS[@]}" <<'PY' >/dev/null 2>&1
import importlib, os, sys
from importlib import metadata
for pin in sys.argv[1:]:
    name, version = pin.split('==')
    assert metadata.version(name) == version, pin
for module in os.environ['MODULES'].split():
    importlib.import_module(module)
PY
}

if ! ready; then
  echo "creating $VENV with ${PINS[*]}" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "${PINS[@]}" >&2
  ready || { echo "upstream-venv: $VENV is not usable" >&2; exit 1; }
fi
echo "$VENV/bin/python"
