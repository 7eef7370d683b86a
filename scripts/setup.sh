#!/usr/bin/env bash
# Install everything pyasync needs on a fresh Debian/Ubuntu machine:
# libuv's headers (apt-get, when pkg-config cannot find libuv), a venv, and
# pyasync built from csrc/ with its test extras.  The venv is .venv for the
# default python3, or .venv-X.Y for PYTHON=X.Y (see scripts/python_version.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_version.sh

if ! pkg-config --exists libuv 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libuv1-dev pkg-config
fi

if [ ! -x "$PYASYNC_VENV/bin/python" ]; then
    "$PYASYNC_PYTHON" -m venv "$PYASYNC_VENV"
fi
# setuptools too: scripts/sanitize.sh builds with `setup.py build_ext`, which
# needs the SPDX license form of pyproject.toml (setuptools >= 77).
"$PYASYNC_VENV/bin/python" -m pip install -q --upgrade pip 'setuptools>=77' wheel
"$PYASYNC_VENV/bin/python" -m pip install -q -e '.[test,notebook]'
