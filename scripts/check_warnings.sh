#!/usr/bin/env bash
# The extension builds without a single warning (setup.py's -Wall -Wextra)
# on every supported Python this machine has: each is built again with
# -Werror into a scratch directory, through the venv its suite ran in
# (.venv for python3, .venv-X.Y[t] for the others: scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pyasync-warnings.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
built=0
for venv in .venv .venv-3.11 .venv-3.12 .venv-3.13 .venv-3.14 .venv-3.14t \
            .venv-3.15; do
    [ -x "$venv/bin/python" ] || continue
    if ! PYASYNC_CFLAGS=-Werror "$venv/bin/python" setup.py -q build_ext \
            --force --build-temp "$scratch/$venv" --build-lib "$scratch/lib" \
            >"$scratch/log" 2>&1; then
        echo "warnings: the build with $venv warns:" >&2
        grep -B2 -A4 -E "warning|error" "$scratch/log" >&2 || cat "$scratch/log" >&2
        exit 1
    fi
    built=$((built + 1))
done
echo "warnings: none, in $built builds"
