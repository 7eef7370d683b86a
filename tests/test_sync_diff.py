"""The synchronization primitives and queues, differentially: each scenario
runs on asyncio's classes and on pyasync's and the traces must match.

Reprs are compared by their bracket part only: the class is
asyncio.locks.Lock on one side and pyasync.Lock on the other."""
import asyncio
import re
import sys

import pytest

from difftrace import assert_same, run_both


def extras(obj):
    """The '[...]' part of a primitive's repr."""
    m = re.search(r"\[(.*)\]>$", repr(obj))
    return m.group(1) if m else repr(obj)


def gather(aio, *aws, **kw):
    return getattr(aio, "gather", asyncio.gather)(*aws, **kw)


async def settle(aio, n=5):
    for _ in range(n):
        await aio.sleep(0)


async def outcome(trace, label, task):
    try:
        trace(label, "result", await task)
    except asyncio.CancelledError:
        trace(label, "cancelled", task.cancelled())
    except Exception as exc:
        trace.exc(label, exc)


# ---- Lock ------------------------------------------------------------------

def test_lock_waiter_cancelled_after_wakeup_passes_it_on():
    async def scenario(aio, trace):
        lock = aio.Lock()
        await lock.acquire()

        async def worker(name):
            await lock.acquire()
            trace("acquired", name, extras(lock))
            lock.release()
            return name

        t1 = aio.create_task(worker("t1"))
        t2 = aio.create_task(worker("t2"))
        t3 = aio.create_task(worker("t3"))
        await settle(aio)
        trace("queued", extras(lock))
        lock.release()          # wakes t1 ...
        t1.cancel()             # ... which is cancelled before it runs
        trace("released", extras(lock), lock.locked())
        for name, t in (("t1", t1), ("t2", t2), ("t3", t3)):
            await outcome(trace, name, t)
        trace("end", extras(lock), lock.locked())
    assert_same(scenario)


def test_lock_waiter_cancelled_while_waiting():
    async def scenario(aio, trace):
        lock = aio.Lock()
        await lock.acquire()
        t1 = aio.create_task(lock.acquire())
        t2 = aio.create_task(lock.acquire())
        await settle(aio)
        t1.cancel()
        await settle(aio)
        trace("after cancel", extras(lock), t1.cancelled())
        lock.release()
        await outcome(trace, "t2", t2)
        trace("end", extras(lock))
        lock.release()
        try:
            lock.release()
        except RuntimeError as exc:
            trace.exc("double release", exc)
    assert_same(scenario)


def test_lock_no_barging_past_live_waiters():
    async def scenario(aio, trace):
        lock = aio.Lock()
        order = []

        async def user(name):
            async with lock:
                order.append(name)
                await aio.sleep(0)

        await lock.acquire()
        t1 = aio.create_task(user("waiter"))
        await settle(aio)
        lock.release()
        # A newcomer arriving after the release must queue behind t1.
        t2 = aio.create_task(user("newcomer"))
        trace("locked after release", lock.locked(), extras(lock))
        await gather(aio, t1, t2)
        trace("order", order)
    assert_same(scenario)


def test_notebook_lock_counter_10000():
    async def scenario(aio, trace):
        state = {"counter": 0}
        lock = aio.Lock()

        async def increment_counter():
            async with lock:
                current = state["counter"]
                await aio.sleep(0)
                current += 1
                await aio.sleep(0)
                state["counter"] = current

        await gather(aio, *[increment_counter() for _ in range(10000)])
        trace("counter", state["counter"], extras(lock))
    traces = assert_same(scenario)
    assert traces == [("counter", 10000, "unlocked")]


# ---- Event -----------------------------------------------------------------

def test_event_fan_out_1000_waiters():
    async def scenario(aio, trace):
        ev = aio.Event()
        woken = []

        async def waiter(i):
            r = await ev.wait()
            woken.append(i)
            return r

        tasks = [aio.create_task(waiter(i)) for i in range(1000)]
        await settle(aio)
        trace("before", extras(ev), ev.is_set())
        ev.set()
        trace("set", extras(ev), ev.is_set())
        results = await gather(aio, *tasks)
        trace("after", extras(ev), all(results), woken == list(range(1000)))
        ev.clear()
        trace("cleared", extras(ev), ev.is_set())
    assert_same(scenario)


def test_event_wait_cancelled():
    async def scenario(aio, trace):
        ev = aio.Event()
        t = aio.create_task(ev.wait())
        await settle(aio)
        trace("waiting", extras(ev))
        t.cancel()
        await outcome(trace, "t", t)
        trace("after", extras(ev))
        ev.set()
        trace("wait when set", await ev.wait())
    assert_same(scenario)


# ---- Condition -------------------------------------------------------------

def test_condition_wait_reacquires_then_raises():
    async def scenario(aio, trace):
        cond = aio.Condition()

        async def waiter():
            async with cond:
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    trace("cancelled, lock held", cond.locked())
                    raise

        t = aio.create_task(waiter())
        await settle(aio)
        trace("waiting", extras(cond))
        async with cond:
            cond.notify()
            t.cancel()          # cancelled after its wake-up, lock still ours
            await aio.sleep(0)
            trace("holding", extras(cond), t.done())
        await outcome(trace, "t", t)
        trace("end", extras(cond))
    assert_same(scenario)


def test_condition_cancelled_while_waiting_for_notify():
    async def scenario(aio, trace):
        cond = aio.Condition()
        await cond.acquire()

        async def waiter():
            async with cond:
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    trace("waiter cancelled, locked", cond.locked())
                    raise

        t = aio.create_task(waiter())
        cond.release()
        await settle(aio)
        await cond.acquire()   # the waiter is in wait(): lock free
        t.cancel()
        await aio.sleep(0)
        trace("main holds", extras(cond), t.done())
        cond.release()
        await outcome(trace, "t", t)
        try:
            await cond.wait()
        except RuntimeError as exc:
            trace.exc("wait unlocked", exc)
        try:
            cond.notify()
        except RuntimeError as exc:
            trace.exc("notify unlocked", exc)
    assert_same(scenario)


def test_condition_notify_n_notify_all_and_wait_for():
    async def scenario(aio, trace):
        lock = aio.Lock()
        cond = aio.Condition(lock)
        state = {"value": 0}

        async def waiter(i):
            async with cond:
                r = await cond.wait()
                trace("woken", i, r, lock.locked())

        async def predicate_waiter():
            async with cond:
                r = await cond.wait_for(lambda: state["value"] >= 3 and state["value"])
                trace("predicate", r)

        tasks = [aio.create_task(waiter(i)) for i in range(5)]
        pw = aio.create_task(predicate_waiter())
        await settle(aio)
        trace("waiters", extras(cond))
        for n in (2, 1):
            async with cond:
                state["value"] += 1
                cond.notify(n)
            await settle(aio)
            trace("after notify", n, extras(cond))
        async with cond:
            state["value"] += 1
            cond.notify_all()
        await gather(aio, *tasks, pw)
        trace("end", extras(cond))
    assert_same(scenario)


# ---- Semaphore -------------------------------------------------------------

def test_semaphore_fairness_and_locked():
    async def scenario(aio, trace):
        sem = aio.Semaphore(2)
        order = []

        async def user(name):
            async with sem:
                order.append(name)
                await aio.sleep(0)
                await aio.sleep(0)

        tasks = [aio.create_task(user(i)) for i in range(6)]
        await aio.sleep(0)
        trace("running", extras(sem), sem.locked())
        late = aio.create_task(user("late"))
        await gather(aio, *tasks, late)
        trace("order", order, extras(sem), sem.locked())
    assert_same(scenario)


def test_semaphore_cancelled_after_wakeup():
    async def scenario(aio, trace):
        sem = aio.Semaphore(0)
        t1 = aio.create_task(sem.acquire())
        t2 = aio.create_task(sem.acquire())
        t3 = aio.create_task(sem.acquire())
        await settle(aio)
        trace("queued", extras(sem), sem.locked())
        sem.release()           # hands the unit to t1 ...
        t1.cancel()             # ... which gives it back to t2
        t3.cancel()
        trace("released", extras(sem), sem.locked())
        for name, t in (("t1", t1), ("t2", t2), ("t3", t3)):
            await outcome(trace, name, t)
        trace("end", extras(sem), sem.locked(), sem._value)
    assert_same(scenario)


def test_semaphore_values_and_bounded():
    async def scenario(aio, trace):
        for args in ((-1,), (0,), (3,)):
            try:
                s = aio.Semaphore(*args)
                trace("made", extras(s))
            except ValueError as exc:
                trace.exc("semaphore", exc)
        b = aio.BoundedSemaphore(2)
        await b.acquire()
        b.release()
        try:
            b.release()
        except ValueError as exc:
            trace.exc("bounded", exc)
        trace("bounded", extras(b))
    assert_same(scenario)


# ---- Barrier ---------------------------------------------------------------

def test_barrier_wait_abort_reset():
    async def scenario(aio, trace):
        barrier = aio.Barrier(3)

        async def party(i):
            try:
                index = await barrier.wait()
                trace("passed", i, index)
            except aio.BrokenBarrierError as exc:
                trace.exc(f"broken {i}", exc)

        tasks = [aio.create_task(party(i)) for i in range(3)]
        await gather(aio, *tasks)
        trace("after round", extras(barrier), barrier.n_waiting, barrier.broken)
        tasks = [aio.create_task(party(i)) for i in range(2)]
        await settle(aio)
        trace("two waiting", extras(barrier), barrier.n_waiting)
        await barrier.reset()
        await gather(aio, *tasks)
        trace("after reset", extras(barrier))
        tasks = [aio.create_task(party(i)) for i in range(2)]
        await settle(aio)
        await barrier.abort()
        await gather(aio, *tasks)
        trace("after abort", extras(barrier), barrier.broken)
        try:
            aio.Barrier(0)
        except ValueError as exc:
            trace.exc("parties", exc)
    assert_same(scenario)


# ---- Queues ----------------------------------------------------------------

def test_queue_getter_cancelled_after_wakeup_passes_it_on():
    async def scenario(aio, trace):
        q = aio.Queue()
        g1 = aio.create_task(q.get())
        g2 = aio.create_task(q.get())
        await settle(aio)
        trace("getters", str(q))
        q.put_nowait("item")    # wakes g1 ...
        g1.cancel()             # ... cancelled: g2 must get the item
        await outcome(trace, "g1", g1)
        await outcome(trace, "g2", g2)
        trace("end", str(q), q.qsize())
    assert_same(scenario)


def test_queue_putter_cancelled_after_wakeup_passes_it_on():
    async def scenario(aio, trace):
        q = aio.Queue(maxsize=1)
        q.put_nowait(0)
        p1 = aio.create_task(q.put(1))
        p2 = aio.create_task(q.put(2))
        await settle(aio)
        trace("putters", str(q), q.full())
        trace("got", q.get_nowait())    # wakes p1 ...
        p1.cancel()                     # ... cancelled: p2 puts
        await outcome(trace, "p1", p1)
        await outcome(trace, "p2", p2)
        trace("end", str(q), q.get_nowait(), q.empty())
        try:
            q.get_nowait()
        except aio.QueueEmpty as exc:
            trace.exc("empty", exc)
        q.put_nowait(5)
        try:
            q.put_nowait(6)
        except aio.QueueFull as exc:
            trace.exc("full", exc)
    assert_same(scenario)


def test_queue_maxsize1_ping_pong():
    async def scenario(aio, trace):
        q = aio.Queue(maxsize=1)
        log = []

        async def producer():
            for i in range(200):
                await q.put(i)
                log.append(("put", i))
            await q.put(None)

        async def consumer():
            total = 0
            while (item := await q.get()) is not None:
                log.append(("get", item))
                total += item
                q.task_done()
            q.task_done()
            return total

        results = await gather(aio, producer(), consumer())
        await q.join()
        trace("results", results, str(q))
        trace("log", log)
        try:
            q.task_done()
        except ValueError as exc:
            trace.exc("task_done", exc)
    assert_same(scenario)


def test_queue_join_and_kinds():
    async def scenario(aio, trace):
        for cls in (aio.Queue, aio.LifoQueue, aio.PriorityQueue):
            q = cls()
            for item in (3, 1, 2):
                await q.put(item)
            trace(cls.__name__, str(q), [q.get_nowait() for _ in range(3)])
        q = aio.Queue()
        for i in range(3):
            q.put_nowait(i)
        done = []

        async def joiner():
            await q.join()
            done.append(True)

        t = aio.create_task(joiner())
        while not q.empty():
            await aio.sleep(0)
            q.get_nowait()
            q.task_done()
            trace("done?", bool(done), str(q))
        await t
        trace("joined", done)
    assert_same(scenario)


def test_queue_subclass_hooks():
    async def scenario(aio, trace):
        class SetQueue(aio.Queue):
            def _init(self, maxsize):
                self._queue = []
                trace("init", maxsize)

            def _put(self, item):
                if item not in self._queue:
                    self._queue.append(item)

            def _get(self):
                return self._queue.pop(0)

        q = SetQueue(2)
        for item in (1, 1, 2):
            q.put_nowait(item)
        trace("queue", str(q), q.qsize(), q.full(), q._unfinished_tasks)
        trace("get", await q.get(), await q.get(), q.empty())
    assert_same(scenario)


# ---- Queue.shutdown (3.13+) ------------------------------------------------

needs_shutdown = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="Queue.shutdown() and QueueShutDown are new in Python 3.13")

QUEUE_KINDS = ("Queue", "LifoQueue", "PriorityQueue")


@needs_shutdown
def test_queue_shutdown_wakes_blocked_getters():
    async def scenario(aio, trace):
        for kind in QUEUE_KINDS:
            q = getattr(aio, kind)()
            getters = [aio.create_task(q.get()) for _ in range(3)]
            await settle(aio)
            trace(kind, "blocked", str(q))
            getters[1].cancel()     # a cancelled waiter stays in _getters
            q.shutdown()
            trace(kind, "shut", str(q), q._is_shutdown, len(q._getters))
            for i, g in enumerate(getters):
                await outcome(trace, f"{kind} g{i}", g)
            for label, call in (("put_nowait", lambda: q.put_nowait(1)),
                                ("get_nowait", q.get_nowait)):
                try:
                    call()
                except aio.QueueShutDown as exc:
                    trace.exc(f"{kind} {label}", exc)
            for label, aw in (("put", q.put(1)), ("get", q.get())):
                try:
                    await aw
                except aio.QueueShutDown as exc:
                    trace.exc(f"{kind} {label}", exc)
            trace(kind, "end", str(q), q.qsize(), q._unfinished_tasks)
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_wakes_blocked_putters():
    async def scenario(aio, trace):
        for kind in QUEUE_KINDS:
            q = getattr(aio, kind)(maxsize=2)
            q.put_nowait(5)
            q.put_nowait(4)
            putters = [aio.create_task(q.put(i)) for i in range(3)]
            await settle(aio)
            trace(kind, "blocked", str(q), q.full())
            q.shutdown()
            trace(kind, "shut", str(q), len(q._putters))
            for i, p in enumerate(putters):
                await outcome(trace, f"{kind} p{i}", p)
            # Not immediate: what was queued can still be got.
            trace(kind, "got", await q.get(), q.get_nowait(), str(q))
            try:
                await q.get()
            except aio.QueueShutDown as exc:
                trace.exc(f"{kind} get", exc)
            q.task_done()
            q.task_done()
            await q.join()
            trace(kind, "end", str(q))
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_putter_woken_by_get_then_shut_down():
    async def scenario(aio, trace):
        q = aio.Queue(maxsize=1)
        q.put_nowait("a")
        p = aio.create_task(q.put("b"))
        await settle(aio)
        trace("got", q.get_nowait())    # wakes p: there is room ...
        q.shutdown()                    # ... but put_nowait now refuses
        await outcome(trace, "p", p)
        trace("end", str(q), q.empty())
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_immediate_releases_join():
    async def scenario(aio, trace):
        for kind in QUEUE_KINDS:
            q = getattr(aio, kind)()
            for item in (3, 1, 2, 5):
                q.put_nowait(item)
            trace(kind, "first", q.get_nowait())    # not task_done yet
            joined = []

            async def joiner(name):
                await q.join()
                joined.append(name)

            joiners = [aio.create_task(joiner(f"j{i}")) for i in range(2)]
            await settle(aio)
            trace(kind, "before", str(q), list(joined))
            q.shutdown(immediate=True)
            trace(kind, "shut", str(q), q.qsize(), q._unfinished_tasks,
                  q._finished.is_set())
            await settle(aio)
            trace(kind, "still joined?", list(joined))
            for label, call in (("get_nowait", q.get_nowait),
                                ("put_nowait", lambda: q.put_nowait(0))):
                try:
                    call()
                except aio.QueueShutDown as exc:
                    trace.exc(f"{kind} {label}", exc)
            q.task_done()           # the one got before the shutdown
            for j in joiners:
                await j
            trace(kind, "joined", list(joined), str(q))
            try:
                q.task_done()
            except ValueError as exc:
                trace.exc(f"{kind} task_done", exc)
            q.shutdown(immediate=True)      # again: nothing changes
            trace(kind, "again", str(q))
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_immediate_after_tasks_done_early():
    # task_done() called before the items are got: shutdown(immediate=True)
    # only counts unfinished tasks down to zero.
    async def scenario(aio, trace):
        q = aio.Queue()
        for i in range(3):
            q.put_nowait(i)
        q.task_done()
        q.task_done()
        trace("before", str(q), q._finished.is_set())
        q.shutdown(True)
        trace("after", str(q), q._unfinished_tasks, q._finished.is_set())
        await q.join()
        trace("joined")
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_immediate_with_getter_woken_by_put():
    async def scenario(aio, trace):
        q = aio.Queue()
        g1 = aio.create_task(q.get())
        g2 = aio.create_task(q.get())
        await settle(aio)
        q.put_nowait("x")               # wakes g1 ...
        q.shutdown(immediate=True)      # ... whose item is dropped
        trace("shut", str(q))
        await outcome(trace, "g1", g1)
        await outcome(trace, "g2", g2)
        trace("end", str(q), q._unfinished_tasks)
    assert_same(scenario)


@needs_shutdown
def test_queue_get_after_shutdown_on_non_empty_queue():
    async def scenario(aio, trace):
        for kind in QUEUE_KINDS:
            q = getattr(aio, kind)(maxsize=5)
            for item in (3, 1, 4, 1, 5):
                await q.put(item)
            q.shutdown()
            trace(kind, str(q), q.full())
            got = [await q.get(), q.get_nowait()]
            while not q.empty():
                got.append(await q.get())
                q.task_done()
            trace(kind, "got", got, str(q))
            try:
                q.get_nowait()
            except aio.QueueShutDown as exc:
                trace.exc(kind, exc)
            # A getter started now does not wait.
            t = aio.create_task(q.get())
            await outcome(trace, f"{kind} late getter", t)
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_repr():
    async def scenario(aio, trace):
        q = aio.Queue(maxsize=3)
        trace("fresh", str(q), extras(q))
        q.shutdown()
        trace("empty shut", str(q))
        q = aio.LifoQueue(maxsize=3)
        q.put_nowait(1)
        q.put_nowait(2)
        g = q.get_nowait()
        q.put_nowait(3)
        q.put_nowait(4)
        p = aio.create_task(q.put(9))
        await settle(aio)
        trace("before", g, str(q), normalise_repr(q))
        q.shutdown()
        trace("after", str(q), normalise_repr(q), q._format())
        await outcome(trace, "p", p)
        q.shutdown(immediate=True)
        trace("immediate", str(q), q._format())
        q = aio.PriorityQueue()
        g = aio.create_task(q.get())
        await settle(aio)
        trace("getter", str(q))
        q.shutdown(immediate=True)
        trace("getter shut", str(q))   # shutdown took it off _getters
        await outcome(trace, "g", g)
    assert_same(scenario)


def normalise_repr(q):
    """repr(q) with the address cut out: 'at 0x...' differs per object."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(q))


@needs_shutdown
def test_queue_shutdown_subclass_hooks():
    async def scenario(aio, trace):
        class Tracked(aio.Queue):
            def _init(self, maxsize):
                self._queue = []

            def _put(self, item):
                self._queue.append(item)

            def _get(self):
                item = self._queue.pop()
                trace("_get", item)
                return item

            def empty(self):
                e = super().empty()
                trace("empty", e)
                return e

            def _format(self):
                return super()._format() + " tracked"

        q = Tracked()
        g = aio.create_task(q.get())
        await settle(aio)
        q.shutdown()
        await outcome(trace, "g", g)
        q = Tracked()
        for i in range(3):
            q.put_nowait(i)
        trace("repr", str(q))
        q.shutdown(immediate=True)
        trace("shut", str(q), q._unfinished_tasks)
        try:
            await q.get()
        except aio.QueueShutDown as exc:
            trace.exc("get", exc)
    assert_same(scenario)


@needs_shutdown
def test_queue_shutdown_arguments_and_exception_class():
    async def scenario(aio, trace):
        q = aio.Queue()
        q.put_nowait(1)
        for args, kwargs in (((1, 2), {}), ((), {"later": True}),
                             ((True,), {"immediate": True})):
            try:
                q.shutdown(*args, **kwargs)
            except TypeError as exc:
                trace.exc("args", exc)
        trace("untouched", str(q))

        class Truth:
            def __bool__(self):
                raise ZeroDivisionError("no truth")

        try:
            q.shutdown(Truth())
        except ZeroDivisionError as exc:
            trace.exc("truth", exc)
        trace("marked shut before the truth test", str(q))
        q.shutdown(immediate=[0])       # any true object
        trace("immediate", str(q))
        try:
            q.put_nowait(2)
        except asyncio.QueueShutDown as exc:    # asyncio's own class
            trace.exc("caught as asyncio's", exc)
            trace("args", exc.args)
        trace("same class", aio.QueueShutDown is asyncio.QueueShutDown)
        trace("not a QueueEmpty", issubclass(aio.QueueShutDown,
                                             aio.QueueEmpty))
    assert_same(scenario)


def test_queue_shutdown_only_where_asyncio_has_it():
    import pyasync
    has = sys.version_info >= (3, 13)
    assert hasattr(asyncio.Queue, "shutdown") == has
    for kind in QUEUE_KINDS:
        assert hasattr(getattr(pyasync, kind), "shutdown") == has
        assert hasattr(getattr(pyasync, kind)(), "_is_shutdown") == has
    assert hasattr(pyasync, "QueueShutDown") == has
    if has:
        assert pyasync.QueueShutDown is asyncio.QueueShutDown
        assert "QueueShutDown" in pyasync.__all__


# ---- everything: async with, wrong loop, awaitable protocol -----------------

def test_async_with_and_acquire_results():
    async def scenario(aio, trace):
        for cls in (aio.Lock, aio.Semaphore, aio.BoundedSemaphore, aio.Condition):
            prim = cls()
            async with prim as value:
                trace(cls.__name__, "inside", value, extras(prim))
            trace(cls.__name__, "outside", extras(prim), await prim.acquire())
        async with aio.Barrier(1) as index:
            trace("barrier", index)
    assert_same(scenario)


def test_bound_to_a_different_loop():
    def scenario(aio, trace):
        lock = aio.Lock()

        async def hold_and_wait():
            await lock.acquire()
            t = aio.create_task(lock.acquire())
            await aio.sleep(0)
            t.cancel()
            lock.release()

        async def contend():
            await lock.acquire()
            try:
                await lock.acquire()
            except RuntimeError as exc:
                # The repr names asyncio.locks.Lock or pyasync.Lock.
                trace("other loop", type(exc).__name__,
                      re.sub(r"<[\w.]+ object at 0x[0-9a-f]+", "<Lock>", str(exc)))

        aio.run(hold_and_wait())
        aio.run(contend())
    assert_same(scenario, via_run=False)


def test_coroutine_protocol():
    async def scenario(aio, trace):
        lock = aio.Lock()
        coro = lock.acquire()
        trace("iscoroutine", asyncio.iscoroutine(coro))
        coro.close()
        trace("closed unawaited", lock.locked())
        await lock.acquire()
        coro = lock.acquire()
        fut = coro.send(None)
        trace("yielded a future", asyncio.isfuture(fut), extras(lock))
        coro.close()
        trace("closed", extras(lock))
        try:
            coro.send(None)
        except RuntimeError as exc:
            trace.exc("reuse", exc)
        coro = lock.acquire()
        try:
            coro.throw(ValueError("boom"))
        except ValueError as exc:
            trace.exc("throw before start", exc)
        try:
            await lock
        except TypeError as exc:
            trace.exc("await lock", exc)
    traces = run_both(scenario)
    # The await message names the class: Lock on both sides.
    assert traces["pyasync"] == traces["asyncio"]


def test_condition_cancelled_during_reacquire_3_11_loop():
    async def scenario(aio, trace):
        cond = aio.Condition()

        async def waiter():
            async with cond:
                try:
                    await cond.wait()
                except asyncio.CancelledError as exc:
                    ctx = exc.__context__
                    trace("raised", exc.args, type(ctx).__name__,
                          ctx.args if ctx is not None else None, cond.locked())
                    raise

        t = aio.create_task(waiter())
        await settle(aio)
        async with cond:
            cond.notify()
            await settle(aio)       # the waiter now waits to re-acquire
            trace("reacquiring", extras(cond), extras(cond._lock))
            t.cancel("first")
            await settle(aio)
            t.cancel("second")
            await settle(aio)
            trace("still waiting", t.done(), extras(cond._lock))
        await outcome(trace, "t", t)
    assert_same(scenario)


def test_cancel_messages_pass_through():
    async def scenario(aio, trace):
        lock = aio.Lock()
        q = aio.Queue()
        ev = aio.Event()
        await lock.acquire()
        for name, aw in (("lock", lock.acquire()), ("get", q.get()),
                         ("event", ev.wait())):
            t = aio.create_task(aw)
            await aio.sleep(0)
            t.cancel(f"stop {name}")
            try:
                await t
            except asyncio.CancelledError as exc:
                trace(name, exc.args)
        trace("end", extras(lock), str(q), extras(ev))
    assert_same(scenario)


# ---- wake-ups after cancellation (3.13 changed them; each version is its
# own spec, so these run on every version) ---------------------------------

def test_condition_notified_waiter_cancelled_passes_notification_on():
    """3.13: a waiter cancelled after notify() hands the notification to
    another waiter; 3.11/3.12 lose it."""
    async def scenario(aio, trace):
        cond = aio.Condition()

        async def waiter(name):
            async with cond:
                try:
                    trace(name, "woke", await cond.wait())
                except asyncio.CancelledError:
                    trace(name, "cancelled")
                    raise

        tasks = [aio.create_task(waiter(n)) for n in "abc"]
        await settle(aio)
        async with cond:
            cond.notify(1)
            tasks[0].cancel()
        await settle(aio, 10)
        trace("states", [t.done() for t in tasks])
        async with cond:
            cond.notify_all()
        for name, t in zip("abc", tasks):
            await outcome(trace, name, t)
    assert_same(scenario)


def test_condition_cancelled_during_reacquire_reraises():
    """Cancelled twice while re-acquiring: 3.13 re-raises the last
    CancelledError itself (its message shows), 3.11/3.12 a fresh one."""
    async def scenario(aio, trace):
        cond = aio.Condition()

        async def waiter():
            async with cond:
                await cond.wait()

        t = aio.create_task(waiter())
        await settle(aio)
        await cond.acquire()
        cond.notify()
        await aio.sleep(0)      # the waiter now waits for the lock
        t.cancel("first")
        await aio.sleep(0)
        t.cancel("second")
        await aio.sleep(0)
        cond.release()
        try:
            await t
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args, t.cancelled(), t.cancelling())
    assert_same(scenario)


def test_semaphore_woken_waiter_cancelled_gives_unit_on():
    async def scenario(aio, trace):
        sem = aio.Semaphore(0)

        async def user(name):
            try:
                async with sem:
                    trace(name, "in", extras(sem))
                    await aio.sleep(0)
            except asyncio.CancelledError:
                trace(name, "cancelled", extras(sem))
                raise

        tasks = [aio.create_task(user(n)) for n in "abcd"]
        await settle(aio)
        sem.release()
        sem.release()
        tasks[0].cancel()       # woken, not yet run: its unit goes on
        tasks[2].cancel()       # still queued
        await settle(aio, 10)
        trace("after", extras(sem), sem.locked())
        for name, t in zip("abcd", tasks):
            await outcome(trace, name, t)
        trace("end", extras(sem), sem.locked())
    assert_same(scenario)


def test_semaphore_fifo_with_units_free_for_newcomers():
    """A newcomer queues behind live waiters even when units are free;
    3.13 wakes as many as there are units when a waiter leaves."""
    async def scenario(aio, trace):
        sem = aio.Semaphore(1)
        await sem.acquire()
        order = []

        async def user(name):
            async with sem:
                order.append(name)
                await aio.sleep(0)

        first = [aio.create_task(user(n)) for n in "ab"]
        await aio.sleep(0)
        sem.release()
        late = [aio.create_task(user(n)) for n in "cd"]
        first[0].cancel()
        sem.release()
        await gather(aio, *first, *late, return_exceptions=True)
        trace("order", order, extras(sem))
    assert_same(scenario)
