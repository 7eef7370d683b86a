"""Eager tasks (3.12+): pyasync against the running Python's asyncio.

An eager task runs its coroutine inside Task() up to the first suspension,
as the loop's current task and listed by all_tasks(); one that finishes
there is never scheduled.  Each scenario runs on asyncio and on pyasync
(difftrace) and the traces must be equal.
"""
import asyncio
import contextvars
import sys

import pytest

import pyasync
from difftrace import assert_same

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 12),
    reason="eager tasks are new in 3.12: 3.11's asyncio has none to match")

var = contextvars.ContextVar("var", default="-")


def use_factory(aio, how):
    loop = aio.get_running_loop()
    if how == "eager_task_factory":
        loop.set_task_factory(aio.eager_task_factory)
    else:
        loop.set_task_factory(aio.create_eager_task_factory(aio.Task))


FACTORIES = ["eager_task_factory", "create_eager_task_factory"]


@pytest.mark.parametrize("how", FACTORIES)
def test_runs_until_first_suspension_inside_create_task(how):
    async def child(aio, trace, n):
        trace("child start", n, aio.current_task().get_name() != "",
              aio.current_task() is not None)
        await aio.sleep(0)
        trace("child resumed", n)
        return n * 10

    async def scenario(aio, trace):
        use_factory(aio, how)
        me = aio.current_task()
        t = aio.create_task(child(aio, trace, 1))
        trace("created", t.done(), repr(t))
        trace("current is back", aio.current_task() is me)
        trace("result", await t, repr(t))

    assert_same(scenario)


@pytest.mark.parametrize("how", FACTORIES)
def test_finished_eagerly_is_never_scheduled(how):
    async def quick(trace):
        trace("quick ran")
        return 5

    async def scenario(aio, trace):
        use_factory(aio, how)
        t = aio.create_task(quick(trace))
        trace("done at once", t.done(), t.result(), repr(t))
        trace("not listed", t in aio.all_tasks())
        t.add_done_callback(lambda f: trace("callback", f.result()))
        await aio.sleep(0)
        trace("after yield")

    assert_same(scenario)


@pytest.mark.parametrize("how", FACTORIES)
def test_exceptions_and_cancel_in_the_eager_step(how):
    async def fails():
        raise ValueError("eager boom")

    async def cancels_itself(aio):
        aio.current_task().cancel("self")
        await aio.sleep(0)
        return "unreachable"

    async def scenario(aio, trace):
        use_factory(aio, how)
        t = aio.create_task(fails())
        trace("failed", t.done(), repr(t.exception()))
        t2 = aio.create_task(cancels_itself(aio))
        trace("pending cancel", t2.done(), t2.cancelling())
        try:
            await t2
        except aio.CancelledError as exc:
            trace.exc("cancelled", exc)
        trace("state", t2.cancelled())

    assert_same(scenario)


def test_all_tasks_and_current_task_during_the_eager_step():
    async def child(aio, trace):
        me = aio.current_task()
        trace("listed while eager", me in aio.all_tasks(),
              len(aio.all_tasks()))
        await aio.sleep(0)
        trace("listed after", me in aio.all_tasks())

    async def scenario(aio, trace):
        use_factory(aio, "eager_task_factory")
        t = aio.create_task(child(aio, trace))
        trace("listed once suspended", t in aio.all_tasks())
        await t

    assert_same(scenario)


def test_nested_eager_tasks_restore_the_current_task():
    async def inner(aio, trace):
        trace("inner", aio.current_task().get_name())
        await aio.sleep(0)
        trace("inner resumed", aio.current_task().get_name())

    async def outer(aio, trace):
        trace("outer", aio.current_task().get_name())
        t = aio.create_task(inner(aio, trace), name="inner")
        trace("outer again", aio.current_task().get_name())
        await t

    async def scenario(aio, trace):
        use_factory(aio, "eager_task_factory")
        t = aio.create_task(outer(aio, trace), name="outer")
        trace("main", aio.current_task().get_name())
        await t

    assert_same(scenario)


def test_eager_step_runs_in_the_task_context():
    async def child(aio, trace):
        trace("sees", var.get())
        var.set("child")
        await aio.sleep(0)
        trace("keeps", var.get())

    async def scenario(aio, trace):
        use_factory(aio, "eager_task_factory")
        var.set("main")
        ctx = contextvars.copy_context()
        t = aio.create_task(child(aio, trace))
        trace("main unchanged", var.get())
        await t
        t2 = aio.create_task(child(aio, trace), context=ctx)
        await t2
        trace("ctx got", ctx[var])

    assert_same(scenario)


def test_task_eager_start_argument():
    async def child(trace, n):
        trace("ran", n)
        return n

    def scenario(aio, trace):
        loop = aio.new_event_loop()
        try:
            # Not running: eager_start is ignored, the task is scheduled.
            t = aio.Task(child(trace, 1), loop=loop, eager_start=True)
            trace("before run", t.done())
            trace("result", loop.run_until_complete(t))

            async def main():
                t2 = aio.Task(child(trace, 2), loop=loop, eager_start=True)
                trace("running loop", t2.done(), t2.result())
                t3 = aio.Task(child(trace, 3), loop=loop, eager_start=False)
                trace("not eager", t3.done())
                await t3
            loop.run_until_complete(main())
        finally:
            loop.close()

    assert_same(scenario, via_run=False)


def test_names_given_to_create_task_with_an_eager_factory():
    async def child(aio, trace):
        trace("name inside", aio.current_task().get_name())
        await aio.sleep(0)

    async def scenario(aio, trace):
        use_factory(aio, "eager_task_factory")
        t = aio.create_task(child(aio, trace), name="given")
        trace("name after", t.get_name())
        await t
        loop = aio.get_running_loop()
        t = loop.create_task(child(aio, trace), name="by loop")
        trace("loop name after", t.get_name())
        await t
        t = loop.create_task(child(aio, trace))
        trace("no name", t.get_name())
        await t

    assert_same(scenario)


def test_gather_and_taskgroup_with_eager_tasks():
    async def child(aio, trace, n, suspend):
        trace("start", n)
        if suspend:
            await aio.sleep(0)
        trace("end", n)
        return n

    async def scenario(aio, trace):
        use_factory(aio, "eager_task_factory")
        res = await aio.gather(*(child(aio, trace, n, n % 2)
                                 for n in range(4)))
        trace("gathered", res)
        async with aio.TaskGroup() as tg:
            ts = [tg.create_task(child(aio, trace, n, n % 2))
                  for n in range(4, 8)]
            trace("in group", [t.done() for t in ts])
        trace("group", [t.result() for t in ts])

    assert_same(scenario)


def test_pyasync_eager_factory_on_an_asyncio_loop():
    """pyasync.eager_task_factory makes pyasync Tasks on any loop."""
    order = []

    async def child():
        order.append("child")
        await asyncio.sleep(0)
        return 7

    async def main():
        asyncio.get_running_loop().set_task_factory(
            pyasync.eager_task_factory)
        t = asyncio.create_task(child())
        order.append("created")
        assert type(t) is pyasync.Task
        return await t

    assert asyncio.run(main()) == 7
    assert order == ["child", "created"]


def test_eager_task_factory_bad_arguments():
    async def coro():
        pass

    loop = pyasync.new_event_loop()
    try:
        for factory in (asyncio.eager_task_factory,
                        pyasync.eager_task_factory):
            with pytest.raises(TypeError):
                factory(loop)
            with pytest.raises(TypeError):
                factory(loop, 1)
            c = coro()
            with pytest.raises(TypeError):
                factory(loop, c, bogus=1)
            c.close()
    finally:
        loop.close()


STDLIB_FACTORIES = ["asyncio.eager_task_factory",
                    "asyncio.create_eager_task_factory(asyncio.Task)"]


def stdlib_factory(how):
    if how == "asyncio.eager_task_factory":
        return asyncio.eager_task_factory
    return asyncio.create_eager_task_factory(asyncio.Task)


@pytest.mark.parametrize("how", STDLIB_FACTORIES)
def test_asyncio_eager_factory_on_either_loop(how):
    """asyncio's own eager factory, set on asyncio's loop and on pyasync's:
    the same eager steps, names, results and order (pyasync's loop makes
    its own eager Task for it, without calling it)."""
    async def child(aio, trace, n, suspend):
        trace("start", n, aio.current_task().get_name() != "")
        if suspend:
            await aio.sleep(0)
        trace("end", n)
        return n

    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        factory = stdlib_factory(how)
        loop.set_task_factory(factory)
        trace("factory kept", loop.get_task_factory() is factory)
        t = loop.create_task(child(aio, trace, 0, False), name="quick")
        trace("done at once", t.done(), t.get_name(), t.result())
        t = aio.create_task(child(aio, trace, 1, True))
        trace("pending", t.done(), t in aio.all_tasks())
        trace("awaited", await t)
        res = await aio.gather(*(child(aio, trace, n, n % 2)
                                 for n in range(2, 6)))
        trace("gathered", res)
        async with aio.TaskGroup() as tg:
            ts = [tg.create_task(child(aio, trace, n, n % 2))
                  for n in range(6, 9)]
            trace("in group", [x.done() for x in ts])
        trace("group", [x.result() for x in ts])

    assert_same(scenario)


def test_asyncio_eager_factory_gives_pyasync_tasks_on_pyasync_loop():
    """On pyasync's loop asyncio's eager factory makes pyasync's eager
    Task, as create_task() without a factory makes pyasync's Task; a
    factory over another Task class is called as it is."""
    class MyTask(asyncio.Task):
        pass

    async def child():
        await asyncio.sleep(0)
        return 3

    async def main():
        loop = asyncio.get_running_loop()
        kinds = []
        for factory in (asyncio.eager_task_factory,
                        asyncio.create_eager_task_factory(asyncio.Task),
                        asyncio.create_eager_task_factory(MyTask)):
            loop.set_task_factory(factory)
            t = loop.create_task(child())
            kinds.append(type(t))
            assert await t == 3
        loop.set_task_factory(None)
        kinds.append(type(loop.create_task(child())))
        await asyncio.sleep(0.01)
        return kinds

    kinds = pyasync.run(main())
    assert kinds == [pyasync.Task, pyasync.Task, MyTask, pyasync.Task]
