#!/usr/bin/env bash
# Runs scripts/vectors/winchester_upstream.py (arguments passed on) with upstream Winchester and
# timex sources and the virtualenv of winchester-venv.sh. The sources are the releases on PyPI,
# winchester 0.56 and timex 0.20.0, fetched by upstream-sdist.sh; WINCHESTER_SRC and TIMEX_SRC
# may name checkouts instead (of openstack/stacktach-winchester and stacktach-timex). The driver
# copies the code to a temporary directory to run it under Python 3; the sources are not changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

# source_dir NAME DIR: prints DIR, which must hold the NAME package (a checkout given by the caller).
source_dir() {
  local name=$1 dir=$2
  if [ ! -f "$dir/$name/__init__.py" ]; then
    echo "winchester-upstream: $dir holds no $name package" >&2
    exit 1
  fi
  echo "$dir"
}

PY="$(bash scripts/vectors/winchester-venv.sh)"
if [ -n "${WINCHESTER_SRC:-}" ]; then
  WINCHESTER_SRC="$(source_dir winchester "$WINCHESTER_SRC")"
else
  WINCHESTER_SRC="$(PYTHON="$PY" bash scripts/vectors/upstream-sdist.sh winchester)"
fi
if [ -n "${TIMEX_SRC:-}" ]; then
  TIMEX_SRC="$(source_dir timex "$TIMEX_SRC")"
else
  TIMEX_SRC="$(PYTHON="$PY" bash scripts/vectors/upstream-sdist.sh timex)"
fi

PYTHONDONTWRITEBYTECODE=1 exec "$PY" scripts/vectors/winchester_upstream.py \
  --winchester-src "$WINCHESTER_SRC" --timex-src "$TIMEX_SRC" "$@"
