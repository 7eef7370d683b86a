#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite.
# PYTHON=3.12 scripts/test.sh runs it on Python 3.12 in .venv-3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python_version.sh
exec "$PYASYNC_VENV/bin/python" -m pytest "$@"
