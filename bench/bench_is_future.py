"""What the two ways of passing tornado's is_future() cost (docs/is_future.md).

(i)  chosen: tornado.concurrent.FUTURES extended with pyasync.Future/Task
     (pyasync.kernel.allow_tornado): objects unchanged; is_future() checks
     a 4-tuple instead of a 2-tuple.
(ii) alternative: the loop hands out asyncio's own Task/Future (uvloop's
     model) in drop-in mode: per-object size and speed of _asyncio.Task.

    python bench/bench_is_future.py
"""
import asyncio
import sys
import time
import timeit
import tracemalloc

import pyasync
import tornado.concurrent as tc
from pyasync.kernel import allow_tornado

N = 100_000


def per_object_bytes(make, n=20_000):
    objs = []
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        objs.append(make())
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n - 8  # minus the list slot


def round_trip(loop, task_factory, n=N):
    async def child():
        return 1

    async def main():
        t0 = time.perf_counter()
        for _ in range(n):
            await task_factory(loop, child())
        return (time.perf_counter() - t0) / n * 1e9

    return loop.run_until_complete(main())


def main():
    loop = pyasync.new_event_loop()
    sizes = {
        "pyasync.Future": per_object_bytes(lambda: pyasync.Future(loop=loop)),
        "asyncio.Future (_asyncio)": per_object_bytes(lambda: asyncio.Future(loop=loop)),
        "sys.getsizeof pyasync.Future": sys.getsizeof(pyasync.Future(loop=loop)),
        "sys.getsizeof asyncio.Future": sys.getsizeof(asyncio.Future(loop=loop)),
    }
    for k, v in sizes.items():
        print(f"{k:32} {v:8.0f} B")

    pt = round_trip(loop, lambda l, c: pyasync.Task(c, loop=l))
    at = round_trip(loop, lambda l, c: asyncio.Task(c, loop=l))
    print(f"create_task+await on pyasync loop, pyasync.Task : {pt:7.0f} ns")
    print(f"create_task+await on pyasync loop, asyncio.Task : {at:7.0f} ns  ({at / pt:.2f}x)")
    loop.close()

    f = pyasync.Future(loop=pyasync.new_event_loop())
    before = timeit.timeit(lambda: tc.is_future(f), number=N) / N * 1e9
    allow_tornado()
    after = timeit.timeit(lambda: tc.is_future(f), number=N) / N * 1e9
    af = asyncio.Future(loop=asyncio.new_event_loop())
    after_a = timeit.timeit(lambda: tc.is_future(af), number=N) / N * 1e9
    print(f"tornado is_future(pyasync.Future): before {before:.0f} ns (False), "
          f"after allow_tornado {after:.0f} ns (True); asyncio.Future {after_a:.0f} ns")


if __name__ == "__main__":
    main()
