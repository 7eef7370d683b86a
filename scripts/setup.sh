#!/usr/bin/env bash
# Install everything pyasync needs on a fresh Debian/Ubuntu machine:
# libuv's headers (apt-get, when pkg-config cannot find libuv), a venv in
# .venv, and pyasync built from csrc/ with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pkg-config --exists libuv 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libuv1-dev pkg-config
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,notebook]'
