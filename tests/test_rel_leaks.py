"""Leaks under load: memory stays flat after warm-up while tasks, timers,
futures and connections churn; gc collects cycles through every pyasync
type; loop.close() leaves no fd behind (libuv's epoll fd is closed only when
every libuv handle of the loop has been closed, so a leaked handle shows up
as a leaked fd).

Memory is checked two ways: RSS (catches C allocations, libuv's included)
with a tolerance for allocator noise, and tracemalloc (every PyMem/PyObject
allocation, exact) over a shorter stretch since tracing is slow.
"""
import gc
import os
import socket
import tracemalloc
import weakref

import pytest

import pyasync

KB = 1024


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // KB


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


def flat(make_round, rounds, traced_rounds, *, rss_slack_kb=4 * KB,
         traced_slack=64 * KB):
    """Run `make_round()` (an async function doing one round of churn) on a
    pyasync loop: warm up, measure RSS over `rounds`, then tracemalloc over
    `traced_rounds`.  Return (rss growth in KB, traced bytes still held)."""
    async def main():
        for _ in range(3):                       # warm-up: free lists, arenas
            await make_round()
        gc.collect()
        before = rss_kb()
        for _ in range(rounds):
            await make_round()
        gc.collect()
        grown = rss_kb() - before
        tracemalloc.start()
        try:
            await make_round()                   # allocations settle
            gc.collect()
            snap0 = tracemalloc.take_snapshot()
            for _ in range(traced_rounds):
                await make_round()
            gc.collect()
            snap1 = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        stats = snap1.compare_to(snap0, "lineno")
        held = sum(s.size_diff for s in stats)
        return grown, held, stats[:5]

    grown, held, top = pyasync.run(main())
    # Under scripts/sanitize.sh, ASan's quarantine keeps freed memory out of
    # reuse on purpose, so RSS grows without a leak: only tracemalloc counts.
    if not os.environ.get("PYASYNC_SANITIZED"):
        assert grown < rss_slack_kb, "RSS grew %d KB" % grown
    assert held < traced_slack, "tracemalloc: %d bytes held\n%s" % (
        held, "\n".join(map(str, top)))
    return grown, held


async def _noop():
    pass


def _nothing(*args):
    pass


@pytest.mark.slow_under_sanitizer
def test_million_tasks_flat():
    async def one_round():                   # 10k tasks created and finished
        loop = pyasync.get_running_loop()
        tasks = [loop.create_task(_noop()) for _ in range(10_000)]
        await pyasync.sleep(0)
        await pyasync.sleep(0)
        assert all(t.done() for t in tasks)
    # 3 warm-up + 100 RSS rounds + 21 traced: 1.24M tasks in all
    flat(one_round, rounds=100, traced_rounds=20)


def test_hundred_thousand_timers_scheduled_and_cancelled():
    async def one_round():                   # 10k timers
        loop = pyasync.get_running_loop()
        handles = [loop.call_later(100 + i * 1e-3, _nothing) for i in range(10_000)]
        for h in handles:
            h.cancel()
        await pyasync.sleep(0)
        await pyasync.sleep(0)
    flat(one_round, rounds=10, traced_rounds=3)
    # the cancelled timers left the loop's heap too
    loop = pyasync.new_event_loop()
    try:
        for h in [loop.call_later(100, _nothing) for _ in range(1000)]:
            h.cancel()
        loop.run_until_complete(pyasync.sleep(0))
        assert loop._scheduled_count == 0
    finally:
        loop.close()


def test_ten_thousand_futures_with_callbacks():
    async def one_round():
        loop = pyasync.get_running_loop()
        seen = []
        futs = [loop.create_future() for _ in range(10_000)]
        for f in futs:
            f.add_done_callback(seen.append)
            f.add_done_callback(lambda f: seen.append(f.cancelled()))
        for i, f in enumerate(futs):
            if i % 3 == 0:
                f.cancel()
            elif i % 3 == 1:
                f.set_exception(ValueError(i))
                f.exception()
            else:
                f.set_result(i)
        await pyasync.sleep(0)
        assert len(seen) == 20_000              # every callback ran once
        assert seen[0::2] == futs
        assert seen[1::2] == [i % 3 == 0 for i in range(10_000)]
    flat(one_round, rounds=10, traced_rounds=3)


def test_thousand_connections_opened_and_closed():
    fds_before = open_fds()

    async def echo_once(loop, srv):
        conn, _ = await loop.sock_accept(srv)
        with conn:
            data = await loop.sock_recv(conn, 100)
            await loop.sock_sendall(conn, data.upper())

    async def one_round():                   # 100 connections
        loop = pyasync.get_running_loop()
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(128)
        srv.setblocking(False)
        with srv:
            for i in range(100):
                server = loop.create_task(echo_once(loop, srv))
                cli = socket.socket()
                cli.setblocking(False)
                with cli:
                    await loop.sock_connect(cli, srv.getsockname())
                    await loop.sock_sendall(cli, b"ping%d" % i)
                    assert await loop.sock_recv(cli, 100) == b"PING%d" % i
                await server
    # 3 warm-up + 10 + 1 + 3 traced rounds of 100 connections: 1,700
    flat(one_round, rounds=10, traced_rounds=3, traced_slack=128 * KB)
    gc.collect()
    assert open_fds() == fds_before


def test_close_leaves_no_fd_or_handle():
    """A loop that used every kind of libuv handle it has (timers, the
    threadsafe wake-up, readers, writers, a signal handler, DNS, the default
    executor) gives back every fd when closed."""
    import signal
    # libuv opens one process-wide pipe (its signal lock) with the first loop
    # of the process and keeps it: not a per-loop resource.
    pyasync.new_event_loop().close()
    fds_before = open_fds()
    for _ in range(20):
        loop = pyasync.new_event_loop()
        a, b = socket.socketpair()

        async def main():
            loop.call_later(100, _nothing)
            loop.call_soon_threadsafe(_nothing)
            loop.add_reader(a, _nothing)
            loop.add_writer(b, _nothing)
            loop.add_signal_handler(signal.SIGUSR2, _nothing)
            await loop.getaddrinfo("127.0.0.1", 80)
            await loop.run_in_executor(None, sum, [1, 2])
            await pyasync.sleep(0.001)
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_default_executor())
        # readers, writers and the signal handler are still installed
        loop.close()
        a.close()
        b.close()
        del loop, main
    gc.collect()
    assert open_fds() == fds_before
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


class Marker:
    def cb(self, *args):
        pass


def _collected(build):
    """build(marker) makes a cycle marker -> pyasync object -> marker through
    the object's own C fields; after dropping it, gc must free the marker."""
    marker = Marker()
    build(marker)
    ref = weakref.ref(marker)
    del marker
    gc.collect()
    return ref() is None


def _in_loop(fn):
    loop = pyasync.new_event_loop()
    try:
        return loop.run_until_complete(fn(loop))
    finally:
        loop.close()


def _future(m):
    loop = pyasync.new_event_loop()
    f = loop.create_future()
    f.add_done_callback(m.cb)                # callbacks field
    m.obj = f
    loop.close()


def _future_result(m):
    loop = pyasync.new_event_loop()
    f = loop.create_future()
    f.set_result(m)                           # result field
    m.obj = f
    loop.close()


def _future_exception(m):
    loop = pyasync.new_event_loop()
    f = loop.create_future()
    exc = ValueError(m)
    f.set_exception(exc)                      # exception field
    f.exception()
    m.obj = f
    loop.close()


def _task(m):
    async def hold(m):
        return m

    async def main(loop):
        t = loop.create_task(hold(m))         # coro, then result
        m.obj = t
        await t
    _in_loop(main)


def _pending_task_coro(m):
    async def hold(m):
        await pyasync.sleep(10)

    async def main(loop):
        t = loop.create_task(hold(m))         # coro frame and fut_waiter
        m.obj = t
        await pyasync.sleep(0)
        t.cancel()
        await pyasync.sleep(0)
    _in_loop(main)


def _handle(m):
    loop = pyasync.new_event_loop()
    h = pyasync.Handle(m.cb, (m,), loop)      # callback and args
    m.obj = h
    loop.close()


def _timer_handle(m):
    loop = pyasync.new_event_loop()
    h = pyasync.TimerHandle(1.0, m.cb, (m,), loop)
    m.obj = h
    loop.close()


def _loop(m):
    loop = pyasync.new_event_loop()
    loop.call_soon(m.cb, m)                   # ready queue
    loop.call_later(10, m.cb, m)              # timer heap
    loop.set_exception_handler(m.cb)
    m.obj = loop
    loop.close = loop.close                   # __dict__ too
    # not closed on purpose: gc must reach the queues of a live loop
    m.loop = loop


def _waiting_on(make):
    """A task blocked on a primitive whose waiter queue leads back to the
    marker (marker -> primitive -> waiter -> task -> frame -> marker)."""
    def build(m):
        async def blocked(m, prim, how):
            await how(prim)

        async def main(loop):
            prim, how = make()
            m.obj = prim
            t = loop.create_task(blocked(m, prim, how))
            await pyasync.sleep(0)
            await pyasync.sleep(0)
            assert not t.done()
            t.cancel()                 # leaves no pending task behind
            await pyasync.sleep(0)
        _in_loop(main)
    return build


def _queue_item(cls):
    def build(m):
        q = cls()
        q.put_nowait((1, m))                  # the queue's items
        m.obj = q
    return build


def _gather(m):
    async def main(loop):
        inner = loop.create_future()
        g = pyasync.gather(inner)             # children and their callbacks
        m.obj = g
        g.marker = m
        inner.set_result(m)
        await g
    _in_loop(main)


def _shield(m):
    async def main(loop):
        inner = loop.create_future()
        s = pyasync.shield(inner)
        s.add_done_callback(m.cb)
        m.obj = (inner, s)
        inner.set_result(m)
        await s
    _in_loop(main)


def _locked_lock():
    lock = pyasync.Lock()
    lock._locked = True
    return lock, lambda p: p.acquire()


def _sem0():
    return pyasync.Semaphore(0), lambda p: p.acquire()


def _event():
    return pyasync.Event(), lambda p: p.wait()


def _cond():
    async def wait(c):
        async with c:
            await c.wait()
    return pyasync.Condition(), wait


def _queue_get():
    return pyasync.Queue(), lambda q: q.get()


def _barrier():
    return pyasync.Barrier(2), lambda b: b.wait()


def _sleep(m):
    async def main(loop):
        c = pyasync.sleep(10, m)              # result, then future and timer
        m.obj = c
        c.send(None)                          # left suspended on purpose
        d = pyasync.sleep(0, m)
        m.done = d
        await d                               # finished, result kept
    _in_loop(main)


CYCLES = {
    "Future.callbacks": _future,
    "Future.result": _future_result,
    "Future.exception": _future_exception,
    "Task.result": _task,
    "Task.coro": _pending_task_coro,
    "Handle": _handle,
    "TimerHandle": _timer_handle,
    "Loop.queues": _loop,
    "Lock.waiters": _waiting_on(_locked_lock),
    "Semaphore.waiters": _waiting_on(_sem0),
    "Event.waiters": _waiting_on(_event),
    "Condition.waiters": _waiting_on(_cond),
    "Queue.getters": _waiting_on(_queue_get),
    "Barrier.waiters": _waiting_on(_barrier),
    "Queue.items": _queue_item(pyasync.Queue),
    "LifoQueue.items": _queue_item(pyasync.LifoQueue),
    "PriorityQueue.items": _queue_item(pyasync.PriorityQueue),
    "gather": _gather,
    "shield": _shield,
    "sleep": _sleep,
}


@pytest.mark.parametrize("name", sorted(CYCLES))
def test_gc_collects_cycles_through(name):
    assert _collected(CYCLES[name]), "cycle through %s not collected" % name
