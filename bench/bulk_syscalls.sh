#!/usr/bin/env bash
# System calls and page faults of the bulk transfer (bench/bulk_stream.py,
# 200 MiB through streams) per implementation, counted by perf's syscall
# tracepoints (which, unlike strace, barely slow the run down).
#
#   bash bench/bulk_syscalls.sh [PYTHON] [IMPL...]
#
# PYTHON defaults to .venv/bin/python; IMPL to "asyncio uvloop pyasync".
# PYTHONPATH=<another checkout> measures that checkout's pyasync (built in
# place), e.g. to count before and after a change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift || true
IMPLS=${*:-asyncio uvloop pyasync}
CALLS="read recvfrom write sendto sendmsg epoll_wait epoll_pwait epoll_ctl io_uring_enter brk mmap munmap"
events=""
for c in $CALLS; do events+="syscalls:sys_enter_$c,"; done
events+="page-faults"
printf '| implementation | GB/s |'; for c in $CALLS; do printf ' %s |' "$c"; done; printf ' page faults |\n'
printf '|---|---|'; for c in $CALLS; do printf -- '---|'; done; printf -- '---|\n'
for impl in $IMPLS; do
    out=$(mktemp)
    speed=$(perf stat -e "$events" -x, -o "$out" "$PY" bench/bulk_stream.py "$impl" | sed -E 's/.*: ([0-9.]+) GB\/s.*/\1/')
    printf '| %s | %s |' "$impl" "$speed"
    for c in $CALLS; do
        printf ' %s |' "$(awk -F, -v e="syscalls:sys_enter_$c" '$3 == e {print $1}' "$out")"
    done
    printf ' %s |\n' "$(awk -F, '$3 == "page-faults" {print $1}' "$out")"
    rm -f "$out"
done
