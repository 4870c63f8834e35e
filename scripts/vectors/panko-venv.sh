#!/usr/bin/env bash
# Prints the path of a virtualenv that runs upstream Panko 10.0.0 (SQL storage driver and /v2
# API) on CPython 3.11, creating it on first use as
# ${WINCHESTER_CACHE:-$HOME/.cache/winchester}/panko-venv and reusing it afterwards.
# Use "$(panko-venv.sh)/bin/python", e.g. with panko_upstream.py.
#
# Everything comes from PyPI: panko-requirements.txt pins panko, psycopg2-binary and the whole
# import closure, installed with --no-deps (Panko's own requirements pull in mongo, elasticsearch
# and newer oslo libraries that no longer have what Panko calls). Then FIXUPS below rewrites the
# few Python 3.11 spellings in the installed copies, each of which must apply exactly once.
#
# panko-venv is a symlink to panko-venv-KEY, KEY hashing the pins, this script and the
# interpreter: a venv is built in its final directory under a lock, marked ready last, and only
# then does the symlink swap to it, so nobody sees a half-built one; a change of pins or of
# python3 builds a new one. PYTHON picks the interpreter (default python3).
# Used by the store benchmark and the /v2 differential test; never by the unit tests.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PINS="$HERE/panko-requirements.txt"
CACHE="${WINCHESTER_CACHE:-$HOME/.cache/winchester}"
LINK="$CACHE/panko-venv"
PYTHON="${PYTHON:-python3}"
# Sources PyPI has no wheel for; all else must install from a wheel.
SOURCE_ONLY=SQLAlchemy,pecan,simplegeneric

INTERPRETER="$("$PYTHON" -c 'import sys; print(sys.executable, sys.version)')"
KEY="$({ cat "$PINS" "${BASH_SOURCE[0]}"; echo "$INTERPRETER"; } | sha256sum | cut -c1-12)"
DIR="$CACHE/panko-venv-$KEY"
MARK="$DIR/.panko-venv-ready"

# Python 3.11 removed inspect.getargspec and the collections ABC aliases; these are the only
# uses on Panko's storage and API paths not guarded by a version check.
read -r -d '' FIXUPS <<'PY' || true
import os, sys, sysconfig
site = sysconfig.get_paths()['purelib']
FIXUPS = [  # (file, text, replacement, how many times the text occurs)
    # Panko's API Base.as_dict(db_model).
    ('panko/api/controllers/v2/base.py',
     'inspect.getargspec(db_model.__init__)', 'inspect.getfullargspec(db_model.__init__)', 1),
    # strutils.mask_dict_password: oslo.policy masks credentials with it when logging at DEBUG.
    ('oslo_utils/strutils.py', 'import collections\n', 'import collections.abc\n', 1),
    ('oslo_utils/strutils.py', 'collections.Mapping)', 'collections.abc.Mapping)', 2),
]
for path, old, new, expected in FIXUPS:
    full = os.path.join(site, path)
    with open(full) as f:
        text = f.read()
    count = text.count(old)
    if count != expected:
        sys.exit(f'panko-venv: {path}: expected {expected} of {old!r}, found {count}')
    with open(full, 'w') as f:
        f.write(text.replace(old, new))
PY

# Every pin installed at its version, and the driver and the API app import.
read -r -d '' CHECK <<'PY' || true
import sys
from importlib import metadata
for line in open(sys.argv[1]):
    pin = line.split('#')[0].strip()
    if pin:
        name, version = pin.split('==')
        if metadata.version(name) != version:
            sys.exit(f'panko-venv: {name} is {metadata.version(name)}, not {version}')
import panko.storage.impl_sqlalchemy, panko.api.app, psycopg2  # noqa: E401,F401
PY

ready() {
  [ -f "$MARK" ] && "$DIR/bin/python" -c 'import panko.storage' >/dev/null 2>&1
}

build() {
  echo "panko-venv: building $DIR with $INTERPRETER" >&2
  local started=$SECONDS
  rm -rf "$DIR"
  "$PYTHON" -m venv "$DIR"
  "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --use-pep517 --only-binary :all: --no-binary "$SOURCE_ONLY" -r "$PINS" >&2
  "$DIR/bin/python" -c "$FIXUPS"
  "$DIR/bin/python" -c "$CHECK" "$PINS" >&2
  touch "$MARK"
  echo "panko-venv: ready in $((SECONDS - started)) s" >&2
}

# Points LINK at DIR by renaming a new symlink over it (atomic), then drops other builds
# (those of older pins or another interpreter).
publish() {
  local tmp
  [ "$(readlink "$LINK" 2>/dev/null || true)" = "${DIR##*/}" ] && return
  tmp="$CACHE/.panko-venv-link-$$"
  ln -sfn "${DIR##*/}" "$tmp"
  mv -T "$tmp" "$LINK"
  find "$CACHE" -maxdepth 1 -name 'panko-venv-*' ! -name "${DIR##*/}" -exec rm -rf {} +
}

if ! ready || [ "$(readlink "$LINK" 2>/dev/null || true)" != "${DIR##*/}" ]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.panko-venv.lock"
  flock 9
  ready || build
  publish
  exec 9>&-
fi
echo "$LINK"
