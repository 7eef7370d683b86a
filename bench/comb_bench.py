"""Combinators: asyncio's Python versions against pyasync's C ones.

    python bench/comb_bench.py            # both, on the current loop

Runs on asyncio's loop so only the combinators differ; after the merge
pass --pyasync-loop to run both on pyasync's loop.
"""
import asyncio
import sys
import time

import pyasync


async def leaf():
    return 1


async def suite(mod):
    loop = asyncio.get_running_loop()
    times = {}
    t = time.perf_counter()
    for _ in range(2000):
        await mod.gather(*[leaf() for _ in range(10)])
    times["gather(10 coros)"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(20000):
        f = loop.create_future()
        f.set_result(1)
        await mod.wait_for(f, 1)
    times["wait_for(done)"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(5000):
        fs = [loop.create_future() for _ in range(5)]
        for f in fs:
            f.set_result(1)
        await mod.wait(fs)
    times["wait(5 done)"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(20000):
        f = loop.create_future()
        f.set_result(1)
        await mod.shield(f)
    times["shield(done)"] = time.perf_counter() - t
    return times


def main():
    run = pyasync.run if "--pyasync-loop" in sys.argv else asyncio.run
    for name, mod in (("asyncio", asyncio), ("pyasync", pyasync)):
        times = run(suite(mod))
        print(f"{name:8}", "  ".join(f"{k} {v * 1000:7.1f} ms"
                                      for k, v in times.items()))


if __name__ == "__main__":
    main()
