#!/usr/bin/env bash
# Regenerates test/vectors/timex/vectors.json with upstream timex (openstack/stacktach-timex,
# the last commit with code) run by scripts/vectors/timex_upstream.py. Upstream needs ply and
# six, which the virtualenv of upstream-venv.sh has. Give a checkout in TIMEX_SRC, or the
# script clones one into /tmp. The tests read the committed JSON and need no Python.
set -euo pipefail
cd "$(dirname "$0")/../.."

COMMIT=2c143c84cf91bc18ce9175022f4d9295e1fee18c
SRC="${TIMEX_SRC:-/tmp/stacktach-timex-$COMMIT}"
if [ ! -f "$SRC/timex/expression.py" ]; then
  rm -rf "$SRC"
  git clone --quiet https://opendev.org/openstack/stacktach-timex "$SRC"
  git -C "$SRC" checkout --quiet "$COMMIT"
fi

PY="$(bash scripts/vectors/upstream-venv.sh)"
mkdir -p test/vectors/timex
PYTHONPATH="$SRC" PYTHONDONTWRITEBYTECODE=1 "$PY" scripts/vectors/timex_upstream.py "$COMMIT" \
  > test/vectors/timex/vectors.json.tmp
mv test/vectors/timex/vectors.json.tmp test/vectors/timex/vectors.json
