"""What asyncio 3.14 (and 3.15) changed, pyasync against the running
Python's asyncio (difftrace): eager_start= through create_task() and the
task factories, the per-thread registry that current_task()/all_tasks()
read, the call graph's awaited-by records, shield()'s report of an
exception nobody will see, and the deprecated policy system."""
import os
import subprocess
import sys
import textwrap

import pytest

from difftrace import assert_same, normalise

pytestmark = pytest.mark.skipif(sys.version_info < (3, 14),
                                reason="asyncio 3.14's behaviour")


def test_eager_start_through_create_task_and_factories():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        async def child(n):
            trace("start", n, aio.current_task().get_name(),
                  aio.current_task() in aio.all_tasks())
            await aio.sleep(0)
            trace("end", n)
            return n

        t1 = aio.create_task(child(1), eager_start=True, name="e1")
        t2 = aio.create_task(child(2), name="n2")
        t3 = loop.create_task(child(3), eager_start=True)
        trace("made", len(aio.all_tasks()), t1.done(), t2.done())
        async with aio.TaskGroup() as tg:
            tg.create_task(child(4), eager_start=True, name="tg4")
        trace("gathered", await aio.gather(t1, t2, t3))

        got = []

        def factory(loop, coro, **kw):
            got.append(sorted(kw.items()))
            return aio.Task(coro, loop=loop, **kw)

        loop.set_task_factory(factory)
        trace("factory", await aio.create_task(child(5), name="f5",
                                               eager_start=True))
        loop.set_task_factory(aio.eager_task_factory)
        t6 = aio.create_task(child(6), name="f6")
        trace("eager factory", t6.done(), await t6)
        t7 = aio.create_task(child(7), eager_start=False)
        trace("eager factory, eager_start=False", t7.done(), await t7)
        loop.set_task_factory(aio.create_eager_task_factory(aio.Task))
        trace("custom eager factory", await aio.create_task(child(8)))
        loop.set_task_factory(None)
        coro = child(9)
        try:
            aio.create_task(coro, bogus=1)
        except TypeError as exc:
            trace.exc("unknown keyword", exc)
        coro.close()
        trace("factory saw", got)

    assert_same(scenario)


def test_all_tasks_and_current_task_see_every_kind_of_task():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        ev = aio.Event()

        async def waiter():
            await ev.wait()

        tasks = [aio.create_task(waiter(), name="plain"),
                 aio.Task(waiter(), loop=loop, name="eager",
                          eager_start=True)]
        await aio.sleep(0)
        trace("all", sorted(normalise(t.get_name()) for t in aio.all_tasks()))
        trace("current", aio.current_task().get_name())
        ev.set()
        await aio.gather(*tasks)
        trace("after", sorted(normalise(t.get_name())
                              for t in aio.all_tasks()))

    assert_same(scenario)


def test_awaited_by_records_match_asyncio():
    """asyncio.capture_call_graph() (asyncio's own) walks the awaited-by
    records that tasks, gather(), shield() and TaskGroup keep."""
    async def scenario(aio, trace):
        import asyncio
        ev = aio.Event()

        async def leaf():
            await ev.wait()

        async def gathering():
            await aio.gather(leaf(), leaf())

        async def shielding():
            await aio.shield(aio.create_task(leaf(), name="shielded"))

        async with aio.TaskGroup() as tg:
            tg.create_task(gathering(), name="gathering")
            tg.create_task(shielding(), name="shielding")
            for _ in range(3):
                await aio.sleep(0)
            me = aio.current_task()
            for task in sorted(aio.all_tasks(), key=lambda t: t.get_name()):
                if task is me:
                    continue
                graph = asyncio.capture_call_graph(task)
                names = sorted(normalise(p.future.get_name())
                               for p in graph.awaited_by)
                trace(task.get_name(), names,
                      [e.frame.f_code.co_name for e in graph.call_stack
                       if "asyncio" not in e.frame.f_code.co_filename])
            ev.set()
        trace("done", me._asyncio_awaited_by)

    assert_same(scenario)


def test_shield_reports_an_exception_after_its_shield_was_cancelled():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_exception_handler(
            lambda loop, ctx: trace("handler", ctx["message"],
                                    type(ctx["exception"]).__name__))
        inner = loop.create_future()
        for _ in range(2):
            outer = aio.shield(inner)
            await aio.sleep(0)
            outer.cancel()
            await aio.sleep(0)
        inner.set_exception(ValueError("lost"))
        for _ in range(3):
            await aio.sleep(0)
        trace("callbacks left", len(inner._callbacks or ()))

    assert_same(scenario)


def test_gather_refuses_a_future_of_another_loop_at_once():
    async def scenario(aio, trace):
        other = aio.new_event_loop()
        fut = other.create_future()
        other.close()
        try:
            aio.gather(fut)
        except ValueError as exc:
            trace.exc("gather", exc)

    assert_same(scenario)


POLICY_SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error", DeprecationWarning)
    import pyasync
    async def main():
        return 1
    # pyasync's own ways raise no DeprecationWarning on 3.14+.
    assert pyasync.run(main()) == 1
    loop = pyasync.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    import asyncio
    assert asyncio.run(main(), loop_factory=pyasync.new_event_loop) == 1
    warnings.simplefilter("default", DeprecationWarning)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pyasync.install()
        pyasync.get_event_loop_policy()
        pyasync.DefaultEventLoopPolicy
    for x in w:
        print(x.category.__name__, x.filename == __file__, x.message)
    assert asyncio.run(main()) == 1
    print(type(asyncio.events._get_event_loop_policy()).__module__)
""")


def test_policies_warn_only_where_asyncio_does(tmp_path):
    script = tmp_path / "policy.py"
    script.write_text(POLICY_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=os.pathsep
                                             .join(sys.path)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "DeprecationWarning True pyasync.install() is deprecated in favor of "
        "pyasync.run() (or asyncio.run(main(), loop_factory="
        "pyasync.new_event_loop)) starting with Python 3.14, where asyncio "
        "deprecates its event loop policies",
        "DeprecationWarning True 'asyncio.get_event_loop_policy' is "
        "deprecated and slated for removal in Python 3.16",
        "DeprecationWarning True 'asyncio.DefaultEventLoopPolicy' is "
        "deprecated and slated for removal in Python 3.16",
        "pyasync.policy"]


def test_current_task_slot_found_and_checked():
    # current_task.c reads the thread state's running-task slot directly
    # when _asyncio's published offsets check out against its own
    # functions: on the builds pyasync supports they do.
    from pyasync import _core
    assert _core._current_task_direct is True


def test_current_task_errors_are_asyncio_s():
    """Entering a task while another runs, or on a loop that is not the
    running one: pyasync's steps refuse with asyncio's messages."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        other = aio.new_event_loop()

        async def child():
            return 1

        t = aio.Task(child(), loop=other)
        try:
            other.run_until_complete(t)
        except RuntimeError as exc:
            trace.exc("nested run", exc)
        t.cancel()
        other.close()
        trace("current", aio.current_task() is not None,
              aio.current_task(other))

    assert_same(scenario)
