"""What making pyasync's Future/Task asyncio.Future subclasses costs
(docs/is_future.md): bytes per object, and what isinstance/is_future checks
cost on them, against asyncio's own objects.

    python bench/bench_is_future.py
"""
import asyncio
import sys
import timeit
import tracemalloc

import pyasync

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


def ns_per_call(func):
    return min(timeit.repeat(func, number=N, repeat=5)) / N * 1e9


def main():
    print(f"Python {sys.version.split()[0]}")
    loop = pyasync.new_event_loop()
    aloop = asyncio.new_event_loop()
    rows = {
        "pyasync.Future (tracemalloc)": per_object_bytes(loop.create_future),
        "asyncio.Future (tracemalloc)": per_object_bytes(aloop.create_future),
        "sys.getsizeof pyasync.Future": sys.getsizeof(loop.create_future()),
        "sys.getsizeof asyncio.Future": sys.getsizeof(aloop.create_future()),
    }
    for k, v in rows.items():
        print(f"{k:32} {v:8.0f} B")
    f, af = loop.create_future(), aloop.create_future()
    for label, obj in (("pyasync.Future", f), ("asyncio.Future", af)):
        ns = ns_per_call(lambda: isinstance(obj, asyncio.Future))
        print(f"isinstance({label}, asyncio.Future) {ns:6.0f} ns")
    try:
        import tornado.concurrent as tc
    except ImportError:
        return
    for label, obj in (("pyasync.Future", f), ("asyncio.Future", af)):
        ns = ns_per_call(lambda: tc.is_future(obj))
        print(f"tornado is_future({label}) -> {tc.is_future(obj)} {ns:6.0f} ns")


if __name__ == "__main__":
    main()
