#!/usr/bin/env bash
# Build a SEPARATE copy of pyasync._core with AddressSanitizer and
# UndefinedBehaviorSanitizer and run the test suite against it.
#
# The normal in-place extension (pyasync/_core*.so) is never touched: the
# tree is copied to a temporary directory, built there, and the suite runs
# from that copy (its pyasync/ comes first on sys.path, ahead of the editable
# install).  Any ASan or UBSan report fails the run: ASan aborts on its first
# error, UBSan is made fatal with halt_on_error=1, and the logs are grepped
# as a second guard (a report inside a subprocess would otherwise be lost).
#
# Leak detection is off (detect_leaks=0): CPython itself "leaks" interned
# objects and arenas by design at exit, which drowns any real report.
# Leaks are covered by tests/test_rel_leaks.py instead.
#
# Usage: scripts/sanitize.sh [extra pytest args]
#   e.g. scripts/sanitize.sh -x tests/test_future_diff.py
#        PYTHON=3.13 scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# PYTHON=3.12 sanitizes the build for that version (its venv from setup.sh).
source scripts/python_version.sh
PY=$ROOT/$PYASYNC_VENV/bin/python

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyasync-asan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The tracked files plus any new ones not yet committed (not .venv, not .so).
git ls-files -co --exclude-standard -z | grep -zv '^\.venv' |
    xargs -0 cp --parents -t "$WORK" 2>/dev/null || tar -c --exclude=.venv --exclude='*.so' . | tar -x -C "$WORK"
rm -f "$WORK"/pyasync/_core*.so
find "$WORK" -name __pycache__ -prune -exec rm -rf {} +

echo "sanitize: building in $WORK" >&2
(cd "$WORK" &&
 PYASYNC_CFLAGS='-fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g' \
 PYASYNC_LDFLAGS='-fsanitize=address,undefined' \
 "$PY" setup.py -q build_ext --inplace --force --build-temp "$WORK/build" \
     >"$WORK/build.log" 2>&1) || { cat "$WORK/build.log"; exit 1; }

SO=$(ls "$WORK"/pyasync/_core*.so)
SYMS=$(nm -D "$SO")      # (not piped into grep -q: SIGPIPE under pipefail)
grep -q __asan_report <<<"$SYMS" || { echo "sanitize: $SO has no ASan instrumentation" >&2; exit 1; }
grep -q __ubsan_handle <<<"$SYMS" || { echo "sanitize: $SO has no UBSan instrumentation" >&2; exit 1; }

LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
LOGDIR="$WORK/san-logs"
mkdir -p "$LOGDIR"

export LD_PRELOAD="$LIBASAN $LIBUBSAN"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=$LOGDIR/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGDIR/ubsan"
export PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}"
export PYASYNC_SANITIZED=1
# The differential fuzzer runs under ASan too (memory errors on odd paths are
# what it is best at finding), with a smaller budget than the normal run.
export PYASYNC_FUZZ_EXAMPLES=${PYASYNC_FUZZ_EXAMPLES:-60}
# CPython's own allocator hides heap errors from ASan inside Python objects.
# (A free-threaded build accepts no allocator but mimalloc: there ASan sees
# the C heap -- libuv's, the C library's -- but not inside Python objects.)
if "$PY" -c 'import sys, sysconfig; sys.exit(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))'; then
    export PYTHONMALLOC=malloc
fi

cd "$WORK"
# Canary: ASan must be live and its reports must land in $LOGDIR.
ASAN_OPTIONS="detect_leaks=0:log_path=$WORK/canary" "$PY" -c '
import ctypes; libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p; libc.free.argtypes = [ctypes.c_void_p]
p = libc.malloc(16); libc.free(p); ctypes.string_at(p, 8)' 2>/dev/null || true
grep -q heap-use-after-free "$WORK"/canary* 2>/dev/null ||
    { echo "sanitize: ASan canary not reported; sanitizer inactive" >&2; exit 1; }

"$PY" - <<'EOF'
import pyasync._core as c, os, sys
assert os.path.dirname(c.__file__).startswith(os.environ["PYTHONPATH"].split(":")[0]), c.__file__
print("sanitize: testing", c.__file__, file=sys.stderr)
EOF

rc=0
# Tests marked `slow_under_sanitizer` are the heavy load tests (1M tasks,
# 8x100k threadsafe calls): under ASan they run several times slower and test
# load, not memory safety, which the rest of the suite already covers.
"$PY" -m pytest -q -p no:cacheprovider -m "not slow_under_sanitizer" "$@" || rc=$?

if compgen -G "$LOGDIR/*" >/dev/null; then
    echo "sanitize: sanitizer reports:" >&2
    cat "$LOGDIR"/* >&2
    rc=1
fi
echo "sanitize: pytest/sanitizer exit status $rc" >&2
exit $rc
