#!/usr/bin/env bash
# Build a SEPARATE copy of pyasync._core with ThreadSanitizer, against a
# free-threaded CPython built with ThreadSanitizer (python3.14t-tsan, from
# ../shared/tools/build-cpython.sh GIT_DIR 3.14t-tsan), and run the tests
# that drive loops from many threads with the GIL off.
#
# A TSan report whose stack goes through pyasync's code is a defect, unless
# scripts/tsan.supp names it with the reason it is benign.  Reports entirely
# inside CPython or libuv are not pyasync's: they are listed, not failed on.
#
# Usage: scripts/tsan.sh [pytest args]   (default: the threaded tests)
# Without python3.14t-tsan on this machine it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TSAN_PY=${TSAN_PYTHON:-$(command -v python3.14t-tsan || true)}
if [ -z "$TSAN_PY" ] || ! "$TSAN_PY" -c 'import sys' 2>/dev/null; then
    echo "tsan: no python3.14t-tsan on this machine: SKIPPED (build it with" \
         "build-cpython.sh GIT_DIR 3.14t-tsan)" >&2
    exit 0
fi
VENV=$ROOT/.venv-3.14t-tsan
if ! "$VENV/bin/python" -c 'import pytest, hypothesis' 2>/dev/null; then
    "$TSAN_PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 'setuptools>=77' wheel
    "$VENV/bin/python" -m pip install -q pytest pytest-timeout hypothesis
fi
PY=$VENV/bin/python

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyasync-tsan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
git ls-files -co --exclude-standard -z | grep -zv '^\.venv' |
    xargs -0 cp --parents -t "$WORK"
rm -f "$WORK"/pyasync/_core*.so
echo "tsan: building in $WORK" >&2
(cd "$WORK" &&
 PYASYNC_CFLAGS='-fsanitize=thread -fno-omit-frame-pointer -O1 -g' \
 PYASYNC_LDFLAGS='-fsanitize=thread' \
 "$PY" setup.py -q build_ext --inplace --force --build-temp "$WORK/build" \
     >"$WORK/build.log" 2>&1) || { cat "$WORK/build.log"; exit 1; }
SO=$(ls "$WORK"/pyasync/_core*.so)
SYMS=$(nm -D "$SO")
grep -q __tsan_ <<<"$SYMS" || { echo "tsan: $SO has no TSan instrumentation" >&2; exit 1; }

LOGDIR=$WORK/tsan-logs
mkdir -p "$LOGDIR"
# exitcode=0: a report fails the run through its log (below), not by
# changing the exit status of every subprocess a test starts.
export TSAN_OPTIONS="suppressions=$ROOT/scripts/tsan.supp:log_path=$LOGDIR/tsan:exitcode=0:second_deadlock_stack=1:history_size=4"
export PYTHONPATH=$WORK
export PYTHON_GIL=0
export PYASYNC_SANITIZED=1
cd "$WORK"
[ $# -gt 0 ] || set -- tests/test_free_threading.py tests/test_loop_threads.py tests/test_rel_threads.py
rc=0
"$PY" -m pytest -q -p no:cacheprovider -m "not slow_under_sanitizer" "$@" || rc=$?

# Each report is a block; ours are those with a frame in pyasync's code.
ours=0
for f in "$LOGDIR"/*; do
    [ -e "$f" ] || continue
    if grep -q '_core\.cpython\|/csrc/' "$f"; then
        ours=$((ours + 1))
        cat "$f" >&2
    else
        echo "tsan: report inside CPython/libuv only (not pyasync's): $f" >&2
        grep -m3 'WARNING: ThreadSanitizer' "$f" >&2 || true
    fi
done
if [ $ours -gt 0 ]; then
    echo "tsan: $ours report(s) through pyasync's code" >&2
    rc=1
fi
echo "tsan: pytest/TSan exit status $rc" >&2
exit $rc
