#!/usr/bin/env bash
# Real libraries' own test suites (uvloop's, anyio's) on stdlib asyncio and
# on pyasync, compared test by test (tests/real_suites/run.py).
#
#   scripts/real_suites.sh                 every supported Python found
#   scripts/real_suites.sh 3.11 3.15       those versions
#
# Each Python gets a venv of its own, .venv-suites-X.Y, with pyasync (built
# from this tree, not editable) and tests/real_suites/requirements.txt.
# A version whose interpreter this machine lacks is skipped, and said so.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.11 3.12 3.13 3.14 3.15)
SUITES=${REAL_SUITES:-"uvloop anyio"}

if ! pkg-config --exists libuv 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libuv1-dev pkg-config
fi

status=0
for v in "${versions[@]}"; do
    if ! py=$(PYTHON=$v; source scripts/python_version.sh >/dev/null 2>&1 &&
              echo "$PYASYNC_PYTHON"); then
        echo "real_suites: no Python $v on this machine: skipped" >&2
        continue
    fi
    venv=.venv-suites-$v
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r tests/real_suites/requirements.txt
    "$venv/bin/python" -m pip install -q --force-reinstall --no-deps .
    for s in $SUITES; do
        "$venv/bin/python" tests/real_suites/run.py "$s" || status=1
    done
done
exit $status
