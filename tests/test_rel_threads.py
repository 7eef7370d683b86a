"""Threads: call_soon_threadsafe and run_coroutine_threadsafe hammered from
many threads while the loop runs; every callback runs exactly once, every
coroutine's result reaches its thread; wrong-thread use in debug mode raises
asyncio's RuntimeError."""
import threading
import time

import pytest

import pyasync

N_THREADS = 8
PER_THREAD = 100_000


@pytest.mark.slow_under_sanitizer
def test_eight_threads_call_soon_threadsafe_exactly_once():
    loop = pyasync.new_event_loop()
    counts = [0] * (N_THREADS * PER_THREAD)
    order_ok = [True] * N_THREADS
    last = [-1] * N_THREADS
    ran = 0

    def cb(k, i):
        nonlocal ran
        counts[k * PER_THREAD + i] += 1
        if i != last[k] + 1:
            order_ok[k] = False                 # FIFO per producing thread
        last[k] = i
        ran += 1
        if ran == N_THREADS * PER_THREAD:
            loop.stop()

    start = threading.Barrier(N_THREADS + 1)

    def producer(k):
        start.wait()
        for i in range(PER_THREAD):
            loop.call_soon_threadsafe(cb, k, i)

    threads = [threading.Thread(target=producer, args=(k,))
               for k in range(N_THREADS)]
    for t in threads:
        t.start()
    loop.call_soon(start.wait)
    watchdog = loop.call_later(120, loop.stop)
    t0 = time.monotonic()
    try:
        loop.run_forever()
    finally:
        for t in threads:
            t.join()
        watchdog.cancel()
        loop.close()
    assert ran == N_THREADS * PER_THREAD, (ran, time.monotonic() - t0)
    assert set(counts) == {1}
    assert all(order_ok)


def test_call_soon_threadsafe_while_loop_sleeps_on_timers():
    """Producers race with a loop that keeps going to sleep in the poll."""
    loop = pyasync.new_event_loop()
    got = []
    n, per = 4, 5000

    async def ticker():
        while len(got) < n * per:
            await pyasync.sleep(0.0005)

    def producer(k):
        for i in range(per):
            loop.call_soon_threadsafe(got.append, (k, i))
            if i % 500 == 0:
                time.sleep(0.001)

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    try:
        loop.run_until_complete(pyasync.wait_for(ticker(), 60))
    finally:
        for t in threads:
            t.join()
        loop.close()
    assert sorted(got) == [(k, i) for k in range(n) for i in range(per)]


def test_run_coroutine_threadsafe_from_many_threads():
    loop = pyasync.new_event_loop()
    ready = threading.Event()
    results = {}
    errors = []

    async def double(x):
        await pyasync.sleep(0)
        if x % 97 == 0:
            raise ValueError(x)
        return 2 * x

    def client(k):
        ready.wait()
        futs = [pyasync.run_coroutine_threadsafe(double(k * 1000 + i), loop)
                for i in range(300)]
        for i, f in enumerate(futs):
            x = k * 1000 + i
            try:
                results[x] = f.result(timeout=60)
            except ValueError as e:
                errors.append(e.args[0])

    runner = threading.Thread(target=loop.run_forever)
    loop.call_soon(ready.set)
    runner.start()
    clients = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    loop.call_soon_threadsafe(loop.stop)
    runner.join()
    loop.close()
    xs = [k * 1000 + i for k in range(8) for i in range(300)]
    assert results == {x: 2 * x for x in xs if x % 97}
    assert sorted(errors) == [x for x in xs if x % 97 == 0]


def test_run_coroutine_threadsafe_cancel_from_thread():
    loop = pyasync.new_event_loop()
    started = threading.Event()
    cancelled = threading.Event()

    async def slow():
        started.set()
        try:
            await pyasync.sleep(60)
        except pyasync.CancelledError:
            cancelled.set()
            raise

    def run():
        loop.run_forever()

    t = threading.Thread(target=run)
    t.start()
    try:
        fut = pyasync.run_coroutine_threadsafe(slow(), loop)
        assert started.wait(10)
        assert fut.cancel()
        assert cancelled.wait(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join()
        loop.close()


@pytest.mark.parametrize("call", [
    lambda loop: loop.call_soon(print),
    lambda loop: loop.call_later(1, print),
    lambda loop: loop.call_at(loop.time() + 1, print),
])
def test_wrong_thread_in_debug_mode(differential, call):
    def scenario(loop):
        loop.set_debug(True)
        out = []

        def other():
            try:
                call(loop).cancel()
                out.append("no error")
            except RuntimeError as e:
                out.append(str(e))

        async def main():
            t = threading.Thread(target=other)
            t.start()
            await loop.run_in_executor(None, t.join)
        loop.run_until_complete(main())
        return out
    assert differential(scenario) == [
        "Non-thread-safe operation invoked on an event loop other than the "
        "current one"]
