#!/usr/bin/env bash
# Regenerates test/vectors/timex/vectors.json with upstream timex run by
# scripts/vectors/timex_upstream.py: the timex 0.20.0 release from PyPI (upstream-sdist.sh), or
# a checkout of openstack/stacktach-timex given in TIMEX_SRC. Upstream needs ply and six, which
# the virtualenv of upstream-venv.sh has. The tests read the committed JSON and need no Python.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The vectors record the upstream they were made from: the last commit with code, whose answers
# the release gives too once the fix below is applied.
LAST_COMMIT=2c143c84cf91bc18ce9175022f4d9295e1fee18c

PY="$(bash scripts/vectors/upstream-venv.sh)"
if [ -n "${TIMEX_SRC:-}" ]; then
  SRC="$TIMEX_SRC"
  LABEL="$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo "$SRC")"
else
  SRC="$(PYTHON="$PY" bash scripts/vectors/upstream-sdist.sh timex)"
  LABEL="$LAST_COMMIT"
fi
[ -f "$SRC/timex/expression.py" ] || { echo "make-timex-vectors: $SRC holds no timex package" >&2; exit 1; }

# timex 0.20.0 names an undefined `microsecond` in Duration.in_context, so a bare number on a
# range shorter than a minute raises NameError; the next commit (fb16776, otherwise restyling)
# quoted it. A copy gets that fix, so the release answers as the last commit does.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -R "$SRC/timex" "$WORK/timex"
sed -i "s/^\( *\)unit = microsecond\$/\1unit = 'microsecond'/" "$WORK/timex/expression.py"

mkdir -p test/vectors/timex
PYTHONPATH="$WORK" PYTHONDONTWRITEBYTECODE=1 "$PY" scripts/vectors/timex_upstream.py "$LABEL" \
  > test/vectors/timex/vectors.json.tmp
mv test/vectors/timex/vectors.json.tmp test/vectors/timex/vectors.json
