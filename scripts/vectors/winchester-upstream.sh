#!/usr/bin/env bash
# Runs scripts/vectors/winchester_upstream.py (arguments passed on) with upstream Winchester and
# timex checkouts and the virtualenv of winchester-venv.sh. Give the checkouts in WINCHESTER_SRC
# and TIMEX_SRC, or the script clones them into /tmp. The commits are the last ones with code
# (each repository's final commit only empties it). The driver copies the code to a temporary
# directory to run it under Python 3; the checkouts are not changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

WINCHESTER_COMMIT=54f3ffc4a8fd84b6fb29ad9b65adb018e8927956
TIMEX_COMMIT=2c143c84cf91bc18ce9175022f4d9295e1fee18c

# checkout NAME COMMIT DIR PACKAGE: DIR holds NAME at COMMIT (cloned when it lacks PACKAGE).
checkout() {
  local name=$1 commit=$2 dir=$3 package=$4
  if [ ! -d "$dir/$package" ]; then
    echo "cloning $name into $dir" >&2
    rm -rf "$dir"
    git clone --quiet "https://opendev.org/openstack/$name" "$dir"
    git -C "$dir" checkout --quiet "$commit"
  fi
  if git -C "$dir" rev-parse --git-dir >/dev/null 2>&1; then
    local head
    head="$(git -C "$dir" rev-parse HEAD)"
    [ "$head" = "$commit" ] || echo "warning: $dir is at $head, not $commit" >&2
  fi
}

WINCHESTER_SRC="${WINCHESTER_SRC:-/tmp/stacktach-winchester-$WINCHESTER_COMMIT}"
TIMEX_SRC="${TIMEX_SRC:-/tmp/stacktach-timex-$TIMEX_COMMIT}"
checkout stacktach-winchester "$WINCHESTER_COMMIT" "$WINCHESTER_SRC" winchester
checkout stacktach-timex "$TIMEX_COMMIT" "$TIMEX_SRC" timex

PY="$(bash scripts/vectors/winchester-venv.sh)"
PYTHONDONTWRITEBYTECODE=1 exec "$PY" scripts/vectors/winchester_upstream.py \
  --winchester-src "$WINCHESTER_SRC" --timex-src "$TIMEX_SRC" "$@"
