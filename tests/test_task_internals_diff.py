"""Task internals, differentially: what anyio (and other libraries driving
asyncio's Task) read and call, at every point of a task's life.

anyio's cancel scopes read `task._fut_waiter` (whether it is a future and
done()), `task._must_cancel`, cancelling(), get_coro()/_coro, and call
cancel()/uncancel() at any moment, including after the future a task
awaits is done but before the task ran.  Each scenario runs on asyncio and
on pyasync and records a snapshot of those values after every step; the
traces must be equal.

The awaited future is described neutrally (task / gathering future /
future, done, cancelled), so asyncio.Future and pyasync.Future compare
equal; a waiter on one side where the other has None would show.

The grid (test_cancel_grid) does, for every primitive: two tasks wait on
it; task 1 is cancelled before its first step, while waiting, or after the
wake-up with 0..3 loop iterations in between (0: its awaited future is done
but it has not run, which is where asyncio's rules decide that it sees
CancelledError even though, say, the event is set, and that Lock, Queue,
Semaphore and Condition pass the wake-up on to task 2); with and without a
cancel message, and with an uncancel() right after the cancel() (3.13: the
last uncancel() withdraws a cancel not yet delivered)."""
import asyncio
import sys
import time

import pytest

import pyasync
from difftrace import assert_same

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)

TASK_TYPES = (asyncio.Task, pyasync.Task)
FUTURE_TYPES = (asyncio.Future, pyasync.Future)


def waiter_desc(w):
    """_fut_waiter without implementation names: None, or (kind, done,
    cancelled)."""
    if w is None:
        return None
    if isinstance(w, TASK_TYPES):
        kind = "task"
    elif type(w).__name__ == "_GatheringFuture":
        kind = "gathering"
    elif isinstance(w, FUTURE_TYPES):
        kind = "future"
    else:
        kind = "other:" + type(w).__name__
    return (kind, w.done(), w.cancelled())


def snap(t, coro=True):
    """What anyio reads off a task.  coro=False for eagerly finished tasks
    on 3.12: CPython 3.12.1's get_coro()/_coro crash on them (its bug, the
    coroutine pointer is cleared; pyasync returns None as 3.12.2+ does)."""
    s = (waiter_desc(t._fut_waiter), t._must_cancel, t.cancelling(),
         t.done(), t.cancelled(), t._state, t._cancel_message,
         t._log_destroy_pending)
    if coro:
        s += (t.get_coro() is t._coro, t._coro is None)
    return s


async def settle(aio, n=3):
    for _ in range(n):
        await aio.sleep(0)


# ---- the primitives of the grid ----------------------------------------
# Each maker returns (wait, wake): wait() is awaited by both tasks, wake()
# releases one of them (or all, for Event and Barrier).

async def mk_event(aio):
    ev = aio.Event()

    async def wake():
        ev.set()
    return ev.wait, wake


async def mk_lock(aio):
    lock = aio.Lock()
    await lock.acquire()

    async def wait():
        await lock.acquire()
        lock.release()
        return "L"

    async def wake():
        if lock.locked():
            lock.release()
    return wait, wake


def mk_semaphore(cls, held):
    async def mk(aio):
        sem = getattr(aio, cls)(held)
        if held:
            await sem.acquire()

        async def wait():
            await sem.acquire()
            return "S"

        async def wake():
            try:
                sem.release()
            except ValueError:      # BoundedSemaphore released too often
                pass
        return wait, wake
    return mk


async def mk_condition(aio):
    cond = aio.Condition()

    async def wait():
        async with cond:
            await cond.wait()
            return "C"

    async def wake():
        async with cond:
            cond.notify()
    return wait, wake


async def mk_condition_wait_for(aio):
    cond = aio.Condition()
    box = [0]

    async def wait():
        async with cond:
            return await cond.wait_for(lambda: box[0])

    async def wake():
        async with cond:
            box[0] += 1
            cond.notify()
    return wait, wake


async def mk_condition_held(aio):
    # notify() by a task that keeps the lock for a few more iterations:
    # the woken waiter runs and blocks re-acquiring it, so the later
    # cancel points hit Condition.wait's re-acquire loop.
    cond = aio.Condition()

    async def wait():
        async with cond:
            await cond.wait()
            return "C"

    async def notifier():
        async with cond:
            cond.notify()
            await settle(aio, 3)

    async def wake():
        aio.get_running_loop().create_task(notifier())
        await aio.sleep(0)
    return wait, wake


async def mk_lock_newcomer(aio):
    # release() and at once a third task asks for the lock: it must not
    # barge past the woken waiter.
    lock = aio.Lock()
    await lock.acquire()

    async def wait():
        async with lock:
            return "L"

    async def newcomer():
        async with lock:
            await aio.sleep(0)

    async def wake():
        if lock.locked():
            lock.release()
            aio.get_running_loop().create_task(newcomer())
    return wait, wake


async def mk_queue_join(aio):
    q = aio.Queue()
    q.put_nowait(1)

    async def wait():
        return await q.join()

    async def wake():
        if not q.empty():
            q.get_nowait()
            q.task_done()
    return wait, wake


def mk_queue_get(cls):
    async def mk(aio):
        q = getattr(aio, cls)()

        async def wake():
            q.put_nowait(1)
        return q.get, wake
    return mk


def mk_queue_put(cls):
    async def mk(aio):
        q = getattr(aio, cls)(maxsize=1)
        q.put_nowait(0)

        async def wait():
            await q.put(2)
            return "P"

        async def wake():
            if not q.empty():
                q.get_nowait()
        return wait, wake
    return mk


async def mk_queue_shutdown(aio):
    q = aio.Queue()

    async def wake():
        q.shutdown()
    return q.get, wake


def mk_future(exc):
    async def mk(aio):
        fut = aio.get_running_loop().create_future()

        async def wait():
            return await fut

        async def wake():
            if not fut.done():
                if exc:
                    fut.set_exception(ValueError("v"))
                else:
                    fut.set_result(5)
        return wait, wake
    return mk


async def mk_inner_task(aio):
    # Both tasks await one inner task: cancelling a waiter cancels it.
    ev = aio.Event()
    inner = aio.ensure_future(ev.wait())

    async def wait():
        return await inner

    async def wake():
        ev.set()
    return wait, wake


async def mk_sleep0(aio):
    async def wait():
        return await aio.sleep(0, "z")

    async def wake():
        pass
    return wait, wake


async def mk_barrier(aio):
    barrier = aio.Barrier(3)

    async def wait():
        return await barrier.wait()

    async def wake():
        aio.get_running_loop().create_task(barrier.wait())
        await aio.sleep(0)
    return wait, wake


async def mk_barrier_abort(aio):
    barrier = aio.Barrier(3)

    async def wake():
        await barrier.abort()
    return barrier.wait, wake


async def mk_shield(aio):
    fut = aio.get_running_loop().create_future()

    async def wait():
        return await aio.shield(fut)

    async def wake():
        if not fut.done():
            fut.set_result(5)
    return wait, wake


async def mk_gather(aio):
    loop = aio.get_running_loop()
    f, g = loop.create_future(), loop.create_future()

    async def wait():
        return await aio.gather(f, g)

    async def wake():
        if not f.done():
            f.set_result(5)
            g.set_result(6)
    return wait, wake


async def mk_wait(aio):
    ev = aio.Event()

    async def wait():
        t = aio.ensure_future(ev.wait())
        try:
            done, _ = await aio.wait([t])
        finally:
            t.cancel()
        return len(done)

    async def wake():
        ev.set()
    return wait, wake


async def mk_wait_for(aio):
    ev = aio.Event()

    async def wait():
        return await aio.wait_for(ev.wait(), 10)

    async def wake():
        ev.set()
    return wait, wake


async def mk_wait_for_future(aio):
    fut = aio.get_running_loop().create_future()

    async def wait():
        return await aio.wait_for(fut, 10)

    async def wake():
        if not fut.done():
            fut.set_result(5)
    return wait, wake


async def mk_timeout(aio):
    ev = aio.Event()

    async def wait():
        async with aio.timeout(10):
            return await ev.wait()

    async def wake():
        ev.set()
    return wait, wake


async def mk_task_group(aio):
    ev = aio.Event()

    async def wait():
        async with aio.TaskGroup() as tg:
            t = tg.create_task(ev.wait())
        return t.result()

    async def wake():
        ev.set()
    return wait, wake


MAKERS = {
    "event": mk_event,
    "lock": mk_lock,
    "semaphore": mk_semaphore("Semaphore", 0),
    "bounded_semaphore": mk_semaphore("BoundedSemaphore", 1),
    "condition": mk_condition,
    "condition_wait_for": mk_condition_wait_for,
    "condition_held": mk_condition_held,
    "lock_newcomer": mk_lock_newcomer,
    "queue_join": mk_queue_join,
    "barrier": mk_barrier,
    "barrier_abort": mk_barrier_abort,
    "future": mk_future(False),
    "future_exception": mk_future(True),
    "inner_task": mk_inner_task,
    "sleep0": mk_sleep0,
    "shield": mk_shield,
    "gather": mk_gather,
    "wait": mk_wait,
    "wait_for": mk_wait_for,
    "wait_for_future": mk_wait_for_future,
    "timeout": mk_timeout,
    "task_group": mk_task_group,
}
for _cls in ("Queue", "LifoQueue", "PriorityQueue"):
    MAKERS[_cls + ".get"] = mk_queue_get(_cls)
    MAKERS[_cls + ".put"] = mk_queue_put(_cls)
if PY313:
    MAKERS["queue_shutdown"] = mk_queue_shutdown

POINTS = ["start", "waiting", "woken+0", "woken+1", "woken+2", "woken+3",
          "woken+4"]


def grid_scenario(make, point, msg, uncancel):
    async def scenario(aio, trace):
        wait, wake = await make(aio)

        async def waiter(name):
            try:
                r = await wait()
                trace(name, "got", repr(r))
                return r
            except asyncio.CancelledError as exc:
                trace(name, "cancelled", exc.args)
                raise
            except BaseException as exc:
                trace.exc(name, exc)
                raise

        t1 = aio.create_task(waiter("t1"))
        t2 = aio.create_task(waiter("t2"))

        def cancel(label):
            trace("cancel", label, t1.cancel(*msg), snap(t1))
            if uncancel:
                trace("uncancel", t1.uncancel(), snap(t1))

        trace("created", snap(t1))
        if point == "start":
            cancel(point)
        await settle(aio)
        trace("waiting", snap(t1), snap(t2))
        if point == "waiting":
            cancel(point)
        await wake()
        trace("woken", snap(t1), snap(t2))
        if point.startswith("woken+"):
            for i in range(int(point[-1])):
                await aio.sleep(0)
                trace("step", i, snap(t1), snap(t2))
            cancel(point)
        await settle(aio)
        trace("after", snap(t1), snap(t2))
        for _ in range(2):
            if not (t1.done() and t2.done()):
                await wake()
                await settle(aio, 4)
        trace("end", snap(t1), snap(t2))
        for t in (t1, t2):
            t.cancel()
        results = await aio.gather(t1, t2, return_exceptions=True)
        trace("outcome", [type(r).__name__ for r in results], snap(t1))
    return scenario


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("prim", sorted(MAKERS))
def test_cancel_grid(prim, point):
    for msg in ((), ("msg",)):
        for uncancel in (False, True):
            assert_same(grid_scenario(MAKERS[prim], point, msg, uncancel))


def three_waiters_scenario(make, wakes, cancelled, steps):
    async def scenario(aio, trace):
        wait, wake = await make(aio)

        async def waiter(name):
            try:
                r = await wait()
                trace(name, "got", repr(r))
                return r
            except asyncio.CancelledError as exc:
                trace(name, "cancelled", exc.args)
                raise
            except BaseException as exc:
                trace.exc(name, exc)
                raise

        tasks = [aio.create_task(waiter(f"t{i}")) for i in range(3)]
        await settle(aio)
        for _ in range(wakes):
            await wake()
        for _ in range(steps):
            await aio.sleep(0)
        for i in cancelled:
            trace("cancel", i, tasks[i].cancel(), snap(tasks[i]))
        await settle(aio, 4)
        trace("after", [snap(t) for t in tasks])
        for _ in range(3):
            if not all(t.done() for t in tasks):
                await wake()
                await settle(aio, 4)
        trace("end", [snap(t) for t in tasks])
        for t in tasks:
            t.cancel()
        results = await aio.gather(*tasks, return_exceptions=True)
        trace("outcome", [type(r).__name__ for r in results])
    return scenario


@pytest.mark.parametrize("prim", sorted(MAKERS))
def test_cancel_grid_three_waiters(prim):
    """One or two wake-ups, then some of three waiters cancelled after
    0..2 iterations: who gets the wake-ups passed on."""
    for wakes in (1, 2):
        for cancelled in ((0,), (1,), (2,), (0, 1), (0, 2)):
            for steps in (0, 1, 2):
                assert_same(three_waiters_scenario(MAKERS[prim], wakes,
                                                   cancelled, steps))


# ---- single scenarios --------------------------------------------------

def test_life_of_a_task():
    async def scenario(aio, trace):
        ev = aio.Event()

        async def body():
            trace("running", snap(aio.current_task()))
            await ev.wait()
            trace("resumed", snap(aio.current_task()))
            return "r"

        coro = body()
        t = aio.create_task(coro)
        trace("before first step", snap(t), t.get_coro() is coro)
        await aio.sleep(0)
        trace("awaiting", snap(t))
        ev.set()
        trace("woken, not run", snap(t))
        trace("result", await t, snap(t), t.get_coro() is coro)
    assert_same(scenario)


def test_timer_fires_with_the_canceller_in_one_iteration():
    """sleep(x)'s timer and a call_later that cancels the sleeper are due
    in one loop iteration: the sleep's future is done, the task not run."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        async def sleeper():
            try:
                trace("slept", await aio.sleep(0.01, "R"))
            except asyncio.CancelledError as exc:
                trace("cancelled", exc.args)
                raise

        t = aio.create_task(sleeper())
        await aio.sleep(0)
        trace("sleeping", snap(t))
        loop.call_later(0.01, lambda: trace("cb", snap(t), t.cancel("x"),
                                            snap(t)))
        time.sleep(0.03)        # both deadlines pass before the next poll
        await aio.sleep(0)
        try:
            await t
        except asyncio.CancelledError:
            pass
        trace("end", snap(t))
    assert_same(scenario)


def test_wait_for_timeout_and_inner_done_in_one_iteration():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        ev = aio.Event()

        async def body():
            try:
                trace("ok", await aio.wait_for(ev.wait(), 0.01))
            except BaseException as exc:
                trace.exc("exc", exc)
                raise

        t = aio.create_task(body())
        await settle(aio, 2)
        trace("waiting", snap(t))
        loop.call_later(0.01, lambda: (ev.set(), trace("set", snap(t))))
        time.sleep(0.03)
        for _ in range(6):
            await aio.sleep(0)
            trace("step", snap(t))
        try:
            await t
        except BaseException:
            pass
        trace("end", snap(t))
    assert_same(scenario)


def test_timeout_fires_after_the_event_was_set():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        ev = aio.Event()

        async def body():
            me = aio.current_task()
            try:
                async with aio.timeout(0.01):
                    trace("waited", await ev.wait())
                    trace("inside", me.cancelling())
                trace("out", snap(me))
            except BaseException as exc:
                trace.exc("exc", exc)
                trace("cancelling", snap(me))
                raise

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("waiting", snap(t))
        loop.call_later(0.005, lambda: (ev.set(), trace("set", snap(t))))
        time.sleep(0.03)
        for _ in range(4):
            await aio.sleep(0)
            trace("step", snap(t))
        try:
            await t
        except BaseException:
            pass
        trace("end", snap(t))
    assert_same(scenario)


def test_timeout_expires_and_uncancels():
    async def scenario(aio, trace):
        ev = aio.Event()

        async def body():
            me = aio.current_task()
            try:
                async with aio.timeout(0.01):
                    await ev.wait()
            except BaseException as exc:
                trace.exc("exc", exc)
                trace("after timeout", snap(me))
            return 1

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("waiting", snap(t))
        await aio.sleep(0.05)
        trace("end", snap(t), await t)
    assert_same(scenario)


def test_cancel_twice_and_uncancel_between_steps():
    async def scenario(aio, trace):
        ev = aio.Event()

        async def body():
            me = aio.current_task()
            try:
                await ev.wait()
            except asyncio.CancelledError as exc:
                trace("first", exc.args, snap(me))
            try:
                await ev.wait()
            except asyncio.CancelledError as exc:
                trace("second", exc.args, snap(me))
                raise

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("a", t.cancel("one"), snap(t), t.cancel("two"), snap(t))
        await aio.sleep(0)
        trace("b", snap(t))
        trace("c", t.cancel(), snap(t), t.uncancel(), snap(t))
        await aio.sleep(0)
        trace("d", snap(t))
        try:
            await t
        except asyncio.CancelledError as exc:
            trace("final", exc.args)
        trace("end", snap(t))
    assert_same(scenario)


def test_task_cancels_itself():
    async def scenario(aio, trace):
        async def body():
            me = aio.current_task()
            trace("self", me.cancel("me"), snap(me))
            try:
                await aio.sleep(0)
            except asyncio.CancelledError as exc:
                trace("got", exc.args, snap(me))
            trace("uncancel", me.uncancel(), snap(me))
            me.cancel()
            return "ret"        # returns with a cancel pending: cancelled

        t = aio.create_task(body())
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
        trace("end", snap(t))
    assert_same(scenario)


def test_cancel_reaches_an_awaited_task_that_swallows_it():
    async def scenario(aio, trace):
        async def inner():
            try:
                await aio.sleep(1)
            except asyncio.CancelledError:
                trace("inner swallows", snap(aio.current_task()))
                return "I"

        async def outer(i):
            r = await i
            trace("outer got", r, snap(aio.current_task()))
            await aio.sleep(0)
            return r

        i = aio.create_task(inner())
        o = aio.create_task(outer(i))
        await aio.sleep(0)
        trace("waiting", snap(o), snap(i))
        trace("cancel", o.cancel(), snap(o), snap(i))
        for n in range(2):
            await aio.sleep(0)
            trace("step", n, snap(o), snap(i))
        try:
            trace("result", await o)
        except asyncio.CancelledError as exc:
            trace("outer cancelled", exc.args)
        trace("end", snap(o), snap(i))
    assert_same(scenario)


def test_cancel_after_awaited_task_finished():
    async def scenario(aio, trace):
        async def inner():
            return "I"

        async def outer(i):
            return await i

        i = aio.create_task(inner())
        o = aio.create_task(outer(i))
        await aio.sleep(0)
        trace("a", snap(o), snap(i))
        await aio.sleep(0)
        trace("b", snap(o), snap(i))
        trace("cancel", o.cancel(), snap(o))
        try:
            trace("result", await o)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
        trace("end", snap(o))
    assert_same(scenario)


def test_awaiting_a_stdlib_future_on_either_loop():
    async def scenario(aio, trace):
        fut = asyncio.Future(loop=aio.get_running_loop())

        async def body():
            return await fut

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("waiting", snap(t))
        fut.set_result(1)
        trace("set", snap(t), t.cancel(), snap(t))
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
    assert_same(scenario)


def test_task_group_child_failure_cancels_parent():
    async def scenario(aio, trace):
        ev = aio.Event()
        children = []

        async def bad():
            await aio.sleep(0)
            raise ValueError("b")

        async def parent():
            try:
                async with aio.TaskGroup() as tg:
                    children.append(tg.create_task(ev.wait()))
                    tg.create_task(bad())
                    await ev.wait()
            except BaseException as exc:
                trace("caught", type(exc).__name__, snap(aio.current_task()))
            return "P"

        p = aio.create_task(parent())
        for i in range(5):
            await aio.sleep(0)
            trace("step", i, snap(p), snap(children[0]) if children else None)
        trace("result", await p, snap(p))
    assert_same(scenario)


def test_cancel_before_first_step_then_uncancel():
    async def scenario(aio, trace):
        async def body():
            trace("ran")
            return 1

        t = aio.create_task(body())
        trace("cancel", t.cancel(), snap(t), t.uncancel(), snap(t))
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
        trace("end", snap(t))
    assert_same(scenario)


def test_shield_cancelled_after_inner_done():
    async def scenario(aio, trace):
        fut = aio.get_running_loop().create_future()

        async def body():
            try:
                trace("ok", await aio.shield(fut))
            except asyncio.CancelledError as exc:
                trace("cancelled", exc.args)
                raise

        t = aio.create_task(body())
        await aio.sleep(0)
        fut.set_result(3)
        trace("set", snap(t))
        trace("cancel", t.cancel(), snap(t))
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("outer cancelled", exc.args)
        trace("end", snap(t), fut.done())
    assert_same(scenario)


def test_gather_cancel_reaches_children():
    async def scenario(aio, trace):
        async def child(n):
            try:
                await aio.sleep(1)
            except asyncio.CancelledError:
                trace("child", n, snap(aio.current_task()))
                raise

        children = [aio.create_task(child(i)) for i in range(2)]

        async def body():
            return await aio.gather(*children)

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("cancel", t.cancel("g"), snap(t), [snap(c) for c in children])
        for i in range(3):
            await aio.sleep(0)
            trace("step", i, snap(t), [snap(c) for c in children])
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
    assert_same(scenario)


def test_wait_for_outer_cancelled():
    async def scenario(aio, trace):
        async def inner():
            try:
                await aio.sleep(1)
            except asyncio.CancelledError:
                trace("inner cancelled", snap(aio.current_task()))
                raise

        async def body():
            return await aio.wait_for(inner(), 5)

        t = aio.create_task(body())
        for i in range(3):
            await aio.sleep(0)
            trace("step", i, snap(t))
        trace("cancel", t.cancel("w"), snap(t))
        for i in range(3):
            await aio.sleep(0)
            trace("after", i, snap(t))
        try:
            trace("result", await t)
        except asyncio.CancelledError as exc:
            trace("cancelled", exc.args)
    assert_same(scenario)


@pytest.mark.skipif(not PY312, reason="eager tasks are new in 3.12")
def test_eager_tasks():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_task_factory(aio.eager_task_factory)
        ev = aio.Event()

        async def quick():
            return 1

        async def block():
            try:
                return await ev.wait()
            except asyncio.CancelledError as exc:
                trace("cancelled in block", exc.args)
                raise

        async def cancels_itself():
            me = aio.current_task()
            me.cancel("s")
            trace("self", snap(me))
            await aio.sleep(0)

        try:
            t1 = aio.create_task(quick())
            trace("quick", snap(t1, coro=False))
            t2 = aio.create_task(block())
            trace("block", snap(t2))
            t3 = aio.create_task(cancels_itself())
            trace("self-cancelled", snap(t3))
            ev.set()
            trace("set", snap(t2), t2.cancel(), snap(t2))
            for t in (t1, t2, t3):
                try:
                    trace("result", await t)
                except asyncio.CancelledError as exc:
                    trace("cancelled", exc.args)
                trace("end", snap(t, coro=t is not t1))
        finally:
            loop.set_task_factory(None)
    assert_same(scenario)


@pytest.mark.parametrize("cls", ["Task", "Future"])
def test_same_attribute_names(cls):
    """What hasattr() finds on the classes (libraries probe versions that
    way, e.g. hasattr(task, "get_context") for 3.12+)."""
    def names(c):
        return {n for n in dir(c) if not (n.startswith("__") and
                                          n.endswith("__"))}
    assert names(getattr(pyasync, cls)) == names(getattr(asyncio, cls))


def test_task_attributes_are_read_only_where_asyncio_s_are():
    """anyio only reads these; writing them must fail as on asyncio."""
    async def scenario(aio, trace):
        t = aio.create_task(aio.sleep(0))
        for name, value in (("_fut_waiter", None), ("_must_cancel", True),
                            ("_coro", None), ("_log_destroy_pending", False),
                            ("_state", "FINISHED")):
            try:
                setattr(t, name, value)
                trace(name, "set", getattr(t, name) == value)
            except AttributeError:
                trace(name, "AttributeError")
        await t
        trace("done", snap(t))
    assert_same(scenario)


# ---- protocol-level waiters -------------------------------------------
# asyncio's Task waits on anything with _asyncio_future_blocking (and calls
# its cancel(msg=...)), and turns a bad yield into a scheduled step that
# throws RuntimeError, leaving _fut_waiter None.

class Duck:
    """A future by protocol only, logging what the task calls on it."""
    _asyncio_future_blocking = False

    def __init__(self, loop, log):
        self._loop = loop
        self._callbacks = []
        self._done = self._cancelled = False
        self._log = log

    def get_loop(self):
        return self._loop

    def __await__(self):
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        if self._cancelled:
            raise asyncio.CancelledError("duck")
        return "duck-result"

    def add_done_callback(self, cb, context=None):
        self._log("add_done_callback", context is not None)
        self._callbacks.append((cb, context))

    def done(self):
        return self._done

    def cancelled(self):
        return self._cancelled

    def result(self):
        if self._cancelled:
            raise asyncio.CancelledError()
        return "duck-result"

    def cancel(self, msg=None):
        self._log("duck cancel", msg)
        if self._done:
            return False
        self._cancelled = True
        self.finish()
        return True

    def finish(self):
        self._done = True
        for cb, ctx in self._callbacks:
            self._loop.call_soon(cb, self, context=ctx)


def duck_snap(t):
    w = t._fut_waiter
    desc = (("duck", w.done(), w.cancelled()) if isinstance(w, Duck)
            else waiter_desc(w))
    return (desc, t._must_cancel, t.cancelling(), t.done(), t.cancelled())


def test_duck_typed_future_waiter():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        for mode in ("cancel while waiting", "cancel after finish", "finish"):
            duck = Duck(loop, trace)

            async def body():
                return await duck

            t = aio.create_task(body())
            await aio.sleep(0)
            trace(mode, "waiting", duck_snap(t))
            if mode == "cancel while waiting":
                trace("cancel", t.cancel("m"), duck_snap(t))
            else:
                duck.finish()
                trace("finished", duck_snap(t))
                if mode == "cancel after finish":
                    trace("cancel", t.cancel("m"), duck_snap(t))
            try:
                trace("result", await t)
            except asyncio.CancelledError as exc:
                trace("cancelled", exc.args)
            trace("end", duck_snap(t))
    assert_same(scenario)


@pytest.mark.parametrize("what", ["generator", "value", "nonblocking",
                                  "other loop"])
def test_bad_yield_leaves_no_waiter(what):
    async def scenario(aio, trace):
        class BadAwaitable:
            def __await__(self):
                if what == "generator":
                    yield (x for x in ())
                elif what == "value":
                    yield 42
                elif what == "nonblocking":
                    yield aio.get_running_loop().create_future()
                else:
                    other = asyncio.new_event_loop()
                    fut = other.create_future()
                    other.close()
                    fut._asyncio_future_blocking = True
                    yield fut

        async def body():
            try:
                await BadAwaitable()
            except BaseException as exc:
                trace.exc("in body", exc)
                trace("snap", duck_snap(aio.current_task()))
                raise

        t = aio.create_task(body())
        await aio.sleep(0)
        trace("after the yield", duck_snap(t))
        trace("cancel", t.cancel(), duck_snap(t))
        try:
            await t
        except BaseException as exc:
            trace.exc("outcome", exc)
        trace("end", duck_snap(t))
    assert_same(scenario)
