#!/usr/bin/env bash
# Prints the directory of an upstream release's source from PyPI, fetching it on first use into
# /tmp/winchester-upstream-sdists (or $UPSTREAM_SDISTS): `pip download` of the sdist (these
# releases have no wheels), its sha256 checked against the pin below, then extracted to
# NAME-VERSION/. Upstream's git repositories are retired and their host may be unreachable;
# PyPI is what every machine that can build the virtualenvs can also reach.
#   winchester 0.56   built from stacktach-winchester b6dc37a (the release before its last
#                     code changes: see winchester_upstream.py for what that means here)
#   timex 0.20.0      built from stacktach-timex 686f706 (later commits only restyle it and
#                     fix one NameError)
# PYTHON is the interpreter whose pip downloads (a virtualenv of upstream-venv.sh is enough).
# Usage: upstream-sdist.sh winchester|timex
set -euo pipefail

NAME="${1:?usage: upstream-sdist.sh winchester|timex}"
case "$NAME" in
  winchester)
    VERSION=0.56
    SHA256=e1034010df88eb76c02f23f96e906a6d6784c436612623aba48035cd263aaf71
    ;;
  timex)
    VERSION=0.20.0
    SHA256=fe53a423717f9379b928fd9066ba4d84bff08df22ed61f93053df82d495512b6
    ;;
  *)
    echo "upstream-sdist: no pinned release for $NAME" >&2
    exit 2
    ;;
esac
CACHE="${UPSTREAM_SDISTS:-/tmp/winchester-upstream-sdists}"
DIR="$CACHE/$NAME-$VERSION"
PYTHON="${PYTHON:-python3}"

# fetch: downloads and checks the archive, then extracts it next to DIR and renames it into
# place, so a run interrupted half way (or a concurrent one) never leaves a partial DIR.
fetch() {
  local archive
  mkdir -p "$CACHE"
  WORK="$(mktemp -d "$CACHE/.fetch-$NAME-XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  echo "downloading $NAME $VERSION from PyPI into $DIR" >&2
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary "$NAME" -d "$WORK" "$NAME==$VERSION" >&2
  archive="$WORK/$NAME-$VERSION.tar.gz"
  echo "$SHA256  $archive" | sha256sum --check --quiet >&2 ||
    { echo "upstream-sdist: $archive is not the pinned $NAME $VERSION" >&2; exit 1; }
  tar -xzf "$archive" --no-same-owner -C "$WORK"
  rm -rf "$DIR"
  mv "$WORK/$NAME-$VERSION" "$DIR"
}

[ -f "$DIR/$NAME/__init__.py" ] || fetch
echo "$DIR"
