"""Bad input, table-driven and differential: every public function and
method, fed wrong types, wrong values, closed loops and already-done
futures, must end the same way on pyasync as on asyncio: the same exception
type (or success on both), never a crash.

The table is generated: each TARGET has a list of good argument factories;
each argument position in turn is replaced by each BAD value.  STATE rows
add the closed-loop, done-future and misuse cases by hand.  The row count is
checked (test_table_size) so the table cannot silently shrink.

Each row runs on a fresh loop of its implementation (asyncio's loop with the
asyncio module, pyasync's loop with pyasync); what a call returns that is
awaitable is awaited in that loop, with a watchdog that stops the loop after
WATCHDOG seconds (asyncio then raises RuntimeError, and so must pyasync).
"""
import asyncio
import gc
import inspect
import math
import sys
import re
import signal
import socket
import warnings

import pytest

import pyasync

WATCHDOG = 0.05


class F:
    """A value made per run: F(lambda aio, loop: value)."""

    def __init__(self, make, name):
        self.make, self.name = make, name

    def __repr__(self):
        return self.name


async def _coro():
    return 1


def _done_future(aio, loop):
    f = loop.create_future()
    f.set_result(1)
    return f


def _cancelled_future(aio, loop):
    f = loop.create_future()
    f.cancel()
    return f


def _foreign_future(aio, loop):
    other = aio.new_event_loop()
    f = other.create_future()
    other.close()
    return f


BAD = [
    None, 0, -1, 2 ** 70, 1.5, math.nan, math.inf, -math.inf, "s", b"b",
    [], {}, (), object(), int, ValueError("v"), print,
    F(lambda aio, loop: _coro(), "coroutine"),
    F(_done_future, "done_future"),
    F(_cancelled_future, "cancelled_future"),
    F(_foreign_future, "foreign_future"),
]


def _sock(aio, loop):
    s = socket.socket()
    s.setblocking(False)
    return s


def _socketpair_end(aio, loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    loop._test_keep = (a, b) if hasattr(loop, "__dict__") else None
    _KEEP.append((a, b))
    return a


_KEEP = []
CORO = F(lambda aio, loop: _coro(), "coro")
FUT = F(lambda aio, loop: loop.create_future(), "future")
DONE = F(_done_future, "done")
SOCK = F(_sock, "sock")
PAIR = F(_socketpair_end, "pair")


def _m(name):
    return lambda aio, loop, *a: getattr(loop, name)(*a)


OUTSIDE = "outside"     # a call that needs the loop not running

# name -> (call(aio, loop, *args), [good args][, OUTSIDE])
# Calls run inside a coroutine on the running loop unless marked OUTSIDE.
TARGETS = {
    # loop scheduling
    "loop.call_soon": (_m("call_soon"), [print]),
    "loop.call_soon(args)": (_m("call_soon"), [print, 1]),
    "loop.call_later": (_m("call_later"), [1, print]),
    "loop.call_at": (_m("call_at"), [1, print]),
    "loop.call_soon_threadsafe": (_m("call_soon_threadsafe"), [print]),
    "loop.create_task": (_m("create_task"), [CORO]),
    "loop.create_task(name)": (lambda aio, loop, c, n:
                               loop.create_task(c, name=n), [CORO, "n"]),
    "loop.run_until_complete": (_m("run_until_complete"), [DONE], OUTSIDE),
    "loop.run_in_executor": (_m("run_in_executor"), [None, print]),
    "loop.set_exception_handler": (_m("set_exception_handler"), [None]),
    "loop.call_exception_handler": (_m("call_exception_handler"),
                                    [{"message": "m"}]),
    "loop.default_exception_handler": (_m("default_exception_handler"),
                                       [{"message": "m"}]),
    "loop.set_task_factory": (_m("set_task_factory"), [None]),
    "loop.set_default_executor": (_m("set_default_executor"), [None]),
    "loop.add_reader": (_m("add_reader"), [PAIR, print]),
    "loop.add_writer": (_m("add_writer"), [PAIR, print]),
    "loop.remove_reader": (_m("remove_reader"), [PAIR]),
    "loop.remove_writer": (_m("remove_writer"), [PAIR]),
    "loop.add_signal_handler": (_m("add_signal_handler"),
                                [signal.SIGUSR2, print]),
    "loop.remove_signal_handler": (_m("remove_signal_handler"),
                                   [signal.SIGUSR2]),
    "loop.sock_recv": (_m("sock_recv"), [PAIR, 10]),
    "loop.sock_recv_into": (_m("sock_recv_into"), [PAIR, bytearray(4)]),
    "loop.sock_sendall": (_m("sock_sendall"), [PAIR, b"x"]),
    "loop.sock_connect": (_m("sock_connect"), [SOCK, ("127.0.0.1", 9)]),
    "loop.sock_accept": (_m("sock_accept"), [SOCK]),
    "loop.getaddrinfo": (_m("getaddrinfo"), ["127.0.0.1", 80]),
    "loop.getnameinfo": (_m("getnameinfo"), [("127.0.0.1", 80)]),
    # Future
    "Future(loop)": (lambda aio, loop, l: aio.Future(loop=l), [None]),
    "future.set_result": (lambda aio, loop, f, v: f.set_result(v), [FUT, 1]),
    "future.set_exception": (lambda aio, loop, f, e: f.set_exception(e),
                             [FUT, ValueError("e")]),
    "future.add_done_callback": (lambda aio, loop, f, cb:
                                 f.add_done_callback(cb), [FUT, print]),
    "future.add_done_callback(context)": (
        lambda aio, loop, f, c: f.add_done_callback(print, context=c),
        [FUT, None]),
    "future.remove_done_callback": (lambda aio, loop, f, cb:
                                    f.remove_done_callback(cb), [FUT, print]),
    "future.cancel(msg)": (lambda aio, loop, f, m: f.cancel(msg=m),
                           [FUT, "m"]),
    # Task
    "Task(coro)": (lambda aio, loop, c: aio.Task(c, loop=loop), [CORO]),
    "Task(loop)": (lambda aio, loop, l: aio.Task(_coro(), loop=l), [loop_ := None]),
    "Task(name)": (lambda aio, loop, n: aio.Task(_coro(), loop=loop, name=n),
                   ["n"]),
    "task.cancel(msg)": (lambda aio, loop, m: loop.create_task(_coro())
                         .cancel(m), ["m"]),
    "task.set_name": (lambda aio, loop, n: loop.create_task(_coro())
                      .set_name(n), ["n"]),
    "task.add_done_callback": (lambda aio, loop, cb: loop.create_task(
        _coro()).add_done_callback(cb), [print]),
    # module functions (their awaitables are awaited)
    "sleep": (lambda aio, loop, d: aio.sleep(d), [0]),
    "sleep(result)": (lambda aio, loop, r: aio.sleep(0, r), [1]),
    "gather": (lambda aio, loop, a: aio.gather(a), [CORO]),
    "gather(2)": (lambda aio, loop, a, b: aio.gather(a, b), [CORO, DONE]),
    "gather(return_exceptions)": (lambda aio, loop, r: aio.gather(
        _coro(), return_exceptions=r), [True]),
    "wait": (lambda aio, loop, fs: aio.wait(fs), [F(lambda a, l: [_done_future(a, l)], "[done]")]),
    "wait(timeout)": (lambda aio, loop, t: aio.wait([_done_future(aio, loop)],
                                                    timeout=t), [1]),
    "wait(return_when)": (lambda aio, loop, r: aio.wait(
        [_done_future(aio, loop)], return_when=r), ["ALL_COMPLETED"]),
    "wait_for": (lambda aio, loop, a, t: aio.wait_for(a, t), [CORO, 1]),
    "shield": (lambda aio, loop, a: aio.shield(a), [CORO]),
    "ensure_future": (lambda aio, loop, a: aio.ensure_future(a), [CORO]),
    "as_completed": (lambda aio, loop, fs: list(aio.as_completed(fs)),
                     [F(lambda a, l: [_done_future(a, l)], "[done]")]),
    "as_completed(timeout)": (lambda aio, loop, t: list(aio.as_completed(
        [_done_future(aio, loop)], timeout=t)), [1]),
    "wrap_future": (lambda aio, loop, f: aio.wrap_future(f), [DONE]),
    "run_coroutine_threadsafe": (lambda aio, loop, c, l:
                                 aio.run_coroutine_threadsafe(c, l),
                                 [CORO, F(lambda a, l: l, "loop")]),
    "to_thread": (lambda aio, loop, f: aio.to_thread(f), [print]),
    # primitives: constructors and methods
    "Semaphore(value)": (lambda aio, loop, v: aio.Semaphore(v), [1]),
    "BoundedSemaphore(value)": (lambda aio, loop, v: aio.BoundedSemaphore(v),
                                [1]),
    "Condition(lock)": (lambda aio, loop, l: aio.Condition(l), [None]),
    "Barrier(parties)": (lambda aio, loop, n: aio.Barrier(n), [1]),
    "Queue(maxsize)": (lambda aio, loop, n: aio.Queue(n), [0]),
    "PriorityQueue.put_nowait": (lambda aio, loop, a, b: (
        lambda q: (q.put_nowait(a), q.put_nowait(b)))(aio.PriorityQueue()),
        [1, 2]),
    "Queue.put": (lambda aio, loop, v: aio.Queue(1).put(v), [1]),
    "Condition.wait_for": (lambda aio, loop, p: _cond_wait_for(aio, p),
                           [F(lambda a, l: (lambda: True), "pred")]),
    "Condition.notify(n)": (lambda aio, loop, n: _cond_notify(aio, n), [1]),
    "Lock.acquire+release": (lambda aio, loop, x: _lock_cycle(aio, x), [None]),
}


async def _cond_wait_for(aio, pred):
    c = aio.Condition()
    async with c:
        return await c.wait_for(pred)


async def _cond_notify(aio, n):
    c = aio.Condition()
    async with c:
        c.notify(n)


async def _lock_cycle(aio, x):
    lock = aio.Lock()
    async with lock:
        return x


def _closed(call):
    def run(aio, loop):
        loop.close()
        return call(aio, loop)
    return run


def _raise_on(cb):
    def run(aio, loop):
        return cb(aio, loop)
    return run


# Hand-written rows: closed loops, done futures, misuse of state.
STATE = {
    "closed.call_soon": _closed(lambda aio, loop: loop.call_soon(print)),
    "closed.call_later": _closed(lambda aio, loop: loop.call_later(1, print)),
    "closed.call_at": _closed(lambda aio, loop: loop.call_at(1, print)),
    "closed.call_soon_threadsafe": _closed(
        lambda aio, loop: loop.call_soon_threadsafe(print)),
    "closed.create_task": _closed(lambda aio, loop: loop.create_task(_coro())),
    "closed.create_future": _closed(lambda aio, loop: loop.create_future()),
    "closed.run_forever": _closed(lambda aio, loop: loop.run_forever()),
    "closed.run_until_complete": _closed(
        lambda aio, loop: loop.run_until_complete(_coro())),
    "closed.run_in_executor": _closed(
        lambda aio, loop: loop.run_in_executor(None, print)),
    "closed.add_reader": _closed(
        lambda aio, loop: loop.add_reader(_socketpair_end(aio, loop), print)),
    "closed.add_writer": _closed(
        lambda aio, loop: loop.add_writer(_socketpair_end(aio, loop), print)),
    "closed.remove_reader": _closed(
        lambda aio, loop: loop.remove_reader(_socketpair_end(aio, loop))),
    "closed.add_signal_handler": _closed(
        lambda aio, loop: loop.add_signal_handler(signal.SIGUSR2, print)),
    "closed.remove_signal_handler": _closed(
        lambda aio, loop: loop.remove_signal_handler(signal.SIGUSR2)),
    "closed.close_again": _closed(lambda aio, loop: loop.close()),
    "closed.stop": _closed(lambda aio, loop: loop.stop()),
    "closed.time": _closed(lambda aio, loop: loop.time()),
    "closed.is_running": _closed(lambda aio, loop: loop.is_running()),
    "closed.shutdown_asyncgens": _closed(
        lambda aio, loop: loop.shutdown_asyncgens()),
    "closed.shutdown_default_executor": _closed(
        lambda aio, loop: loop.shutdown_default_executor()),
    "closed.getaddrinfo": _closed(
        lambda aio, loop: loop.getaddrinfo("127.0.0.1", 80)),
    "closed.sock_recv": _closed(
        lambda aio, loop: loop.sock_recv(_socketpair_end(aio, loop), 1)),
    "closed.Future": _closed(lambda aio, loop: aio.Future(loop=loop)),
    "closed.Task": _closed(lambda aio, loop: aio.Task(_coro(), loop=loop)),
    "done.set_result": lambda aio, loop: _done_future(aio, loop).set_result(2),
    "done.set_exception": lambda aio, loop: _done_future(
        aio, loop).set_exception(ValueError()),
    "done.cancel": lambda aio, loop: _done_future(aio, loop).cancel(),
    "done.result": lambda aio, loop: _done_future(aio, loop).result(),
    "done.exception": lambda aio, loop: _done_future(aio, loop).exception(),
    "cancelled.result": lambda aio, loop: _cancelled_future(aio, loop).result(),
    "cancelled.exception": lambda aio, loop: _cancelled_future(
        aio, loop).exception(),
    "cancelled.set_result": lambda aio, loop: _cancelled_future(
        aio, loop).set_result(1),
    "pending.result": lambda aio, loop: loop.create_future().result(),
    "pending.exception": lambda aio, loop: loop.create_future().exception(),
    "future.set_exception(StopIteration)": lambda aio, loop: loop.create_future(
    ).set_exception(StopIteration()),
    "future.set_exception(class)": lambda aio, loop: loop.create_future(
    ).set_exception(ValueError),
    "future.set_exception(CancelledError)": lambda aio, loop:
        loop.create_future().set_exception(aio.CancelledError()),
    "task.set_result": lambda aio, loop: loop.create_task(_coro()).set_result(1),
    "task.set_exception": lambda aio, loop: loop.create_task(
        _coro()).set_exception(ValueError()),
    "task.result(pending)": lambda aio, loop: loop.create_task(_coro()).result(),
    "task.get_stack(limit)": lambda aio, loop: loop.create_task(
        _coro()).get_stack(limit="x"),
    "future.__await__twice": lambda aio, loop: _await_twice(aio, loop),
    "run_until_complete(running)": lambda aio, loop: loop.run_until_complete(
        _nested_run(loop)),
    "run_forever(running)": lambda aio, loop: loop.run_until_complete(
        _nested_forever(loop)),
    "lock.release(unlocked)": lambda aio, loop: aio.Lock().release(),
    "bsem.release(over)": lambda aio, loop: aio.BoundedSemaphore(1).release(),
    "event.wait(no loop)": lambda aio, loop: aio.Event().wait(),
    "queue.get_nowait(empty)": lambda aio, loop: aio.Queue().get_nowait(),
    "queue.put_nowait(full)": lambda aio, loop: (lambda q: (
        q.put_nowait(1), q.put_nowait(2)))(aio.Queue(1)),
    "queue.task_done(too many)": lambda aio, loop: aio.Queue().task_done(),
    "cond.notify(unlocked)": lambda aio, loop: aio.Condition().notify(),
    "cond.notify_all(unlocked)": lambda aio, loop: aio.Condition().notify_all(),
    "cond.wait(unlocked)": lambda aio, loop: aio.Condition().wait(),
    "cond(other loop lock)": lambda aio, loop: aio.Condition(
        aio.Lock()).notify(),
    "barrier.wait(broken)": lambda aio, loop: _broken_barrier(aio),
    "sleep(negative)": lambda aio, loop: aio.sleep(-1),
    "wait(empty)": lambda aio, loop: aio.wait([]),
    "wait(coroutine)": lambda aio, loop: aio.wait([_coro()]),
    "gather(no args)": lambda aio, loop: aio.gather(),
    "run(not a coroutine)": lambda aio, loop: aio.run(1),
    "run(in a running loop)": lambda aio, loop: loop.run_until_complete(
        _nested_asyncio_run(aio)),
    "create_task(no loop)": lambda aio, loop: aio.create_task(_coro()),
    "get_running_loop(no loop)": lambda aio, loop: aio.get_running_loop(),
    "current_task(no loop)": lambda aio, loop: aio.current_task(),
    "all_tasks(no loop)": lambda aio, loop: aio.all_tasks(),
    "shield(no loop)": lambda aio, loop: aio.shield(_coro()),
    "ensure_future(no loop, 1)": lambda aio, loop: aio.ensure_future(1),
}


async def _await_twice(aio, loop):
    f = loop.create_future()
    it = f.__await__()
    next(it)
    f.set_result(1)
    try:
        next(it)
    except StopIteration as e:
        return e.value
    return next(it)


async def _nested_run(loop):
    c = _coro()
    try:
        return loop.run_until_complete(c)
    finally:
        c.close()


async def _nested_forever(loop):
    return loop.run_forever()


async def _nested_asyncio_run(aio):
    c = _coro()
    try:
        return aio.run(c)
    finally:
        c.close()


async def _broken_barrier(aio):
    b = aio.Barrier(2)
    await b.abort()
    await b.wait()


def _name(v):
    """A repr stable across runs (pytest ids must not contain addresses)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(v))


def _rows():
    rows = {}
    for name, (call, good, *flags) in TARGETS.items():
        inside = OUTSIDE not in flags
        for i in range(len(good)):
            for bad in BAD:
                args = list(good)
                args[i] = bad
                rows["%s[%d]=%s" % (name, i, _name(bad))] = (call, args,
                                                             inside)
        rows["%s(good)" % name] = (call, list(good), inside)
    for name, call in STATE.items():
        rows[name] = (call, [], False)
    return rows


ROWS = _rows()


def _make(v, aio, loop):
    return v.make(aio, loop) if isinstance(v, F) else v


def outcome(aio, call, args, inside):
    """'ok' or the exception type's name, for one row on one implementation."""
    loop = aio.new_event_loop()
    aio.set_event_loop(None)
    made = []

    def invoke():
        made[:] = [_make(a, aio, loop) for a in args]
        return call(aio, loop, *made)

    async def drive_inside():
        r = invoke()
        if inspect.isawaitable(r):
            r = await r
        return r

    async def drive(r):
        return await r

    try:
        try:
            watchdog = loop.call_later(WATCHDOG, loop.stop)
            if inside:
                loop.run_until_complete(drive_inside())
            else:
                r = invoke()
                if inspect.isawaitable(r) and not loop.is_closed():
                    loop.run_until_complete(drive(r))
                elif inspect.iscoroutine(r):
                    r.close()
            return "ok"
        except BaseException as e:                  # noqa: B902
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return type(e).__name__
        finally:
            watchdog.cancel()
    finally:
        for v in made:
            if inspect.iscoroutine(v):
                v.close()
        if not loop.is_closed():
            for t in asyncio.all_tasks(loop):
                t.cancel()
            loop.close()
        for a, b in _KEEP:
            a.close()
            b.close()
        _KEEP.clear()
        aio.set_event_loop(None)
        asyncio.set_event_loop(None)
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)


# Known, deliberate differences: pyasync keeps these values in C fields
# (Py_ssize_t counters, int fds), so it rejects at the
# call what asyncio stores and trips over later (or never).  Each is listed
# with its reason; strict xfail, so a row that starts agreeing is noticed.
def _known():
    known = {}
    floats = ("1.5", "inf", "nan", "-inf")
    for target in ("Semaphore(value)", "BoundedSemaphore(value)",
                   "Barrier(parties)"):
        for v in floats + ("1180591620717411303424",):
            known["%s[0]=%s" % (target, v)] = (
                "counter kept as a C Py_ssize_t: asyncio accepts floats and "
                "huge ints (and fails later or never)")
    for row in ROWS:
        if row.startswith("Condition.notify(n)[0]=") and not row.endswith(
                ("=0", "=-1")):
            known[row] = ("notify(n) converts n to a C integer at once; "
                          "asyncio compares n only against live waiters")
    for m in ("remove_reader", "remove_writer"):
        known["loop.%s[0]=1180591620717411303424" % m] = (
            "fd kept as a C int: OverflowError; asyncio's selector looks the "
            "huge fd up in its map and returns False")
    if sys.version_info < (3, 13):   # 3.13's sleep refuses NaN: both agree
        known["sleep[0]=nan"] = ("asyncio's sleep(nan) never wakes (its "
                                 "timer heap never reaches a NaN deadline); "
                                 "pyasync's returns at once")
    return known


def test_table_size():
    """The table's size is part of the report; it must not shrink unseen."""
    print("bad-input table: %d rows (%d targets x positions x %d bad values,"
          " plus %d state rows)" % (len(ROWS), len(TARGETS), len(BAD),
                                    len(STATE)))
    assert len(ROWS) >= 1500
    assert len(KNOWN) < 0.05 * len(ROWS)


KNOWN = _known()


def _param(name):
    if name in KNOWN:
        return pytest.param(name, marks=pytest.mark.xfail(
            reason=KNOWN[name], strict=True))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in sorted(ROWS)])
def test_bad_input_same_exception(name):
    call, args, inside = ROWS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = outcome(asyncio, call, args, inside)
        got = outcome(pyasync, call, args, inside)
        gc.collect()
    assert got == expected, name
