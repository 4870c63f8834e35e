#!/usr/bin/env bash
# Prints the python of a virtualenv that can run upstream Winchester under Python 3, creating
# it on first use (in /tmp, or $WINCHESTER_VENV): what upstream-venv.sh holds (StackDistiller
# 0.12 from PyPI, the same code as stacktach-stackdistiller's last commit with code,
# 38cc32994cc5411c3f7c76f31ef3ea8b3245e871, and its dependencies) plus SQLAlchemy 1.4, since
# Winchester's models and queries use the 1.x API. Winchester and timex themselves are not
# installed: winchester_upstream.py loads them from their sources (upstream-sdist.sh).
# Used by make-winchester-vectors.sh; never by the tests.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/upstream-venv.sh" --winchester
