"""Loops in threads: the same work on one loop in one thread, and on N
loops in N threads at once (N = the machine's cores), for asyncio, uvloop
and pyasync.

    python -m bench --suite threads      (the table, into RESULTS.md)
    python -m bench.threads_bench worker IMPL THREADS   (one measurement)

Each thread runs its own loop through a fixed mix of the project's own
cases (tasks gathered, sleep(0) switches, a queue ping-pong, a contended
lock, call_soon callbacks).  Throughput is the mix's operations per second
over all threads; with the GIL, more threads cannot add throughput, and on
a free-threaded build (3.14t) they can: the table shows the ratio.
"""
import os
import statistics
import subprocess
import sys
import threading
import time

from bench.cases import CASES

# The mix each thread runs: (case, operations).
MIX = (("gather_tasks", 20_000), ("sleep0_switch", 40_000),
       ("queue_pingpong", 10_000), ("lock_counter", 2_000),
       ("call_soon", 40_000))
OPERATIONS = sum(n for _, n in MIX)
HERE = os.path.dirname(os.path.abspath(__file__))


def _new_loop(impl):
    if impl == "asyncio":
        import asyncio
        return asyncio.new_event_loop(), asyncio
    if impl == "uvloop":
        import asyncio
        import uvloop
        return uvloop.new_event_loop(), asyncio
    import pyasync
    return pyasync.new_event_loop(), pyasync


def _run_mix(impl, scale):
    loop, aio = _new_loop(impl)
    try:
        for case, n in MIX:
            loop.run_until_complete(CASES[case][0](aio, max(1, int(n * scale))))
    finally:
        loop.close()


def measure(impl, threads):
    """Seconds for `threads` threads, each running the mix on its own loop,
    started together (after a warm-up at a tenth of the size)."""
    _run_mix(impl, 0.1)
    start = threading.Barrier(threads + 1)
    errors = []

    def run():
        try:
            start.wait()
            _run_mix(impl, 1.0)
        except BaseException as exc:         # reported by the parent
            errors.append(exc)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def collect(impls, reps, threads):
    """{(impl, n): [ops per second, ...]} for n in (1, threads)."""
    out = {(i, n): [] for i in impls for n in (1, threads)}
    for rep in range(reps):
        for n in (1, threads):
            for impl in impls:
                proc = subprocess.run(
                    [sys.executable, "-m", "bench.threads_bench", "worker",
                     impl, str(n)], capture_output=True, text=True,
                    cwd=os.path.dirname(HERE), timeout=900)
                if proc.returncode != 0:
                    raise SystemExit(f"{impl} x{n}: {proc.stderr[-2000:]}")
                out[(impl, n)].append(n * OPERATIONS / float(proc.stdout))
        print(f"repetition {rep + 1}/{reps} done", file=sys.stderr,
              flush=True)
    return out


def table(impls, results, threads):
    """Markdown rows: throughput at 1 and N threads, the scaling, and
    pyasync's ratio to each peer at both."""
    med = {k: statistics.median(v) for k, v in results.items()}
    head = ["loop", "1 thread (ops/s)", f"{threads} threads (ops/s)",
            f"{threads} threads / 1"]
    rows = []
    for impl in impls:
        rows.append([impl, f"{med[(impl, 1)]:,.0f}",
                     f"{med[(impl, threads)]:,.0f}",
                     f"{med[(impl, threads)] / med[(impl, 1)]:.2f}x"])
    if "pyasync" in impls:
        for peer in impls:
            if peer == "pyasync":
                continue
            rows.append([f"pyasync / {peer}",
                         f"{med[('pyasync', 1)] / med[(peer, 1)]:.2f}x",
                         f"{med[('pyasync', threads)] / med[(peer, threads)]:.2f}x",
                         ""])
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        print(repr(measure(sys.argv[2], int(sys.argv[3]))))
    else:
        raise SystemExit(__doc__)
