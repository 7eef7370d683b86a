"""Misuse of the C primitives raises Python exceptions, never crashes."""
import asyncio
import gc
import weakref

import pytest

import pyasync

CLASSES = (pyasync.Lock, pyasync.Event, pyasync.Condition, pyasync.Semaphore,
           pyasync.BoundedSemaphore, pyasync.Barrier, pyasync.Queue,
           pyasync.PriorityQueue, pyasync.LifoQueue)

METHODS = ("acquire", "release", "locked", "wait", "set", "clear", "is_set",
           "notify", "notify_all", "put_nowait", "get_nowait", "qsize",
           "empty", "full", "task_done", "join", "get", "reset", "abort",
           "_format", "__aenter__", "_wake_up_first", "_wake_up_next",
           "shutdown")          # shutdown: 3.13+ queues only


def poke(obj):
    """Call everything on obj, driving any coroutine a couple of steps."""
    for name in METHODS:
        meth = getattr(obj, name, None)
        if meth is None:
            continue
        for args in ((), (1,)):
            try:
                res = meth(*args)
            except Exception:
                continue
            if asyncio.iscoroutine(res):
                for step in (lambda: res.send(None), lambda: res.throw(ValueError),
                             res.close):
                    try:
                        step()
                    except BaseException:
                        pass
    for fn in (repr, str):
        try:
            fn(obj)
        except Exception:
            pass


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_uninitialised_objects(cls):
    poke(cls.__new__(cls))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_hostile_attributes(cls):
    obj = cls(2) if cls in (pyasync.Barrier,) else cls()
    for attr in ("_waiters", "_queue", "_getters", "_putters", "_finished",
                 "_lock", "_loop", "_cond", "_maxsize", "_is_shutdown"):
        for value in (None, 1, "xy", [object()], object()):
            try:
                setattr(obj, attr, value)
            except (AttributeError, TypeError):
                continue
            poke(obj)
        try:
            delattr(obj, attr)
        except (AttributeError, TypeError):
            pass
        poke(obj)


def test_outside_a_loop_and_weakrefs_and_cycles():
    for cls in CLASSES:
        obj = cls(1) if cls is pyasync.Barrier else cls()
        ref = weakref.ref(obj)
        obj.cycle = obj
        del obj
        gc.collect()
        assert ref() is None
    lock = pyasync.Lock()
    coro = lock.acquire()
    with pytest.raises(StopIteration):       # the fast path needs no loop
        coro.send(None)
    lock2 = pyasync.Lock()
    lock2._locked = True
    coro = lock2.acquire()
    with pytest.raises(AttributeError):      # no running loop: None.create_future
        coro.send(None)


def test_coroutine_misuse():
    async def main():
        lock = pyasync.Lock()
        await lock.acquire()
        coro = lock.acquire()
        with pytest.raises(TypeError):
            coro.send(1)
        fut = coro.send(None)
        assert asyncio.isfuture(fut)
        with pytest.raises(TypeError):
            coro.throw(1)
        with pytest.raises(TypeError):
            coro.throw(ValueError(), 1)
        with pytest.raises(KeyError):
            coro.throw(KeyError, "k")
        with pytest.raises(RuntimeError):
            coro.send(None)
        coro.close()
        coro.close()
        assert lock._waiters is not None and len(lock._waiters) == 0
    asyncio.run(main())


def test_mixed_with_stdlib_and_subclasses():
    class CountingLock(pyasync.Lock):
        count = 0

        async def acquire(self):
            CountingLock.count += 1
            return await super().acquire()

    async def main():
        cond = pyasync.Condition(asyncio.Lock())     # a stdlib lock inside
        async with cond:
            t = asyncio.ensure_future(cond.wait_for(lambda: True))
            assert await t is True
        lock = CountingLock()
        async with lock:
            assert lock.locked()
        cond = pyasync.Condition(lock)

        async def wait():
            async with cond:
                return await cond.wait()

        waiter = asyncio.create_task(wait())
        await asyncio.sleep(0)
        async with cond:
            cond.notify()
        assert await waiter is True
        return CountingLock.count
    assert asyncio.run(main()) == 4


def test_no_reference_leaks_in_steady_state():
    import sys

    async def round_trip():
        lock = pyasync.Lock()
        await lock.acquire()
        t = asyncio.ensure_future(lock.acquire())
        await asyncio.sleep(0)
        repr(lock)
        lock.release()
        await t
        q = pyasync.Queue(1)
        t = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.put_nowait(1)
        str(q), repr(q)
        await t
        cond = pyasync.Condition()

        async def waiter():
            async with cond:
                await cond.wait()

        t = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        async with cond:
            cond.notify()
        await t
        t = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        sem = pyasync.Semaphore(0)
        t = asyncio.ensure_future(sem.acquire())
        await asyncio.sleep(0)
        sem.release()
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        repr(sem), repr(cond), repr(pyasync.Barrier(2)), repr(pyasync.Event())

    loop = asyncio.new_event_loop()
    try:
        def run(n):
            for _ in range(n):
                loop.run_until_complete(round_trip())
        run(300)
        gc.collect()
        before = sys.getallocatedblocks()
        run(2000)
        gc.collect()
        # A leak of one object per round would show as thousands of blocks.
        assert sys.getallocatedblocks() - before < 500
    finally:
        loop.close()
