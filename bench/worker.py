"""One measurement in a fresh process: `python -m bench.worker IMPL CASE N`.

Prints the seconds one run of CASE with N operations took on IMPL
(asyncio, uvloop or pyasync), after a warm-up run of a tenth of N; for a
memory case, the bytes it reports instead; for a network case, the
seconds its load generator measured.
"""
import asyncio
import gc
import sys
import time

from bench.cases import CASES, MEMORY


def loop_and_module(impl):
    if impl == "asyncio":
        return asyncio.new_event_loop(), asyncio
    if impl == "uvloop":
        import uvloop
        return uvloop.new_event_loop(), asyncio
    if impl == "pyasync":
        import pyasync
        return pyasync.new_event_loop(), pyasync
    raise SystemExit(f"unknown implementation {impl!r}")


def measure(impl, case, n):
    func = CASES[case][0]
    loop, aio = loop_and_module(impl)
    try:
        if case in MEMORY:
            # No warm-up: peak RSS must be the run's own.
            return loop.run_until_complete(func(aio, n))
        loop.run_until_complete(func(aio, max(1, n // 10)))
        gc.collect()
        start = time.perf_counter()
        measured = loop.run_until_complete(func(aio, n))
        elapsed = time.perf_counter() - start
        # Network cases time themselves (in the load generator).
        return elapsed if measured is None else measured
    finally:
        loop.close()


if __name__ == "__main__":
    impl, case, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(repr(measure(impl, case, n)))
