"""What changed in asyncio between 3.11, 3.12 and 3.13, pyasync against the
running Python's asyncio: each scenario runs on both (difftrace) and the
traces must be equal, so on every version the version's own asyncio is the
reference.  Eager tasks have their own file (test_eager_diff.py)."""
import contextvars
import os
import subprocess
import sys
import textwrap

import pytest

from difftrace import assert_same

var = contextvars.ContextVar("var", default="-")


def test_uncancel_and_a_pending_cancel():
    # 3.13: the uncancel() that brings the count to zero withdraws a cancel
    # not yet delivered; 3.11/3.12 still deliver it.
    async def scenario(aio, trace):
        async def child():
            try:
                await aio.sleep(0)
                trace("child ran on")
                await aio.sleep(0)
                return "done"
            except aio.CancelledError:
                trace("child cancelled")
                raise

        t = aio.create_task(child())
        await aio.sleep(0)
        t.cancel()
        trace("uncancel", t.uncancel(), t.cancelling())
        try:
            trace("result", await t)
        except aio.CancelledError:
            trace("awaiting raised CancelledError")
        t2 = aio.create_task(child())
        t2.cancel()
        t2.cancel()
        trace("counts", t2.uncancel(), t2.uncancel(), t2.uncancel())
        try:
            trace("result 2", await t2)
        except aio.CancelledError:
            trace("awaiting 2 raised CancelledError")

    assert_same(scenario)


def test_set_exception_stop_iteration():
    # 3.13 stores a RuntimeError caused by it; before, a TypeError refuses it.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        for exc in (StopIteration, StopIteration("x"), type("S", (StopIteration,), {})()):
            fut = loop.create_future()
            try:
                fut.set_exception(exc)
            except TypeError as e:
                trace.exc("refused", e)
                continue
            got = fut.exception()
            trace("stored", type(got).__name__, str(got),
                  type(got.__cause__).__name__, got.__context__ is got.__cause__)

    assert_same(scenario)


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="Task.get_context() and Handle.get_context() are new "
                           "in 3.12 (pyasync has them on 3.11 too)")
def test_task_and_handle_get_context():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in ctx")

        async def child():
            return var.get()

        t = aio.create_task(child(), context=ctx)
        trace("task context is ctx", t.get_context() is ctx)
        trace("child saw", await t)
        t2 = aio.create_task(child())
        trace("own context", isinstance(t2.get_context(), contextvars.Context),
              t2.get_context() is not ctx)
        await t2
        h = loop.call_soon(lambda: None, context=ctx)
        trace("handle context", h.get_context() is ctx)
        th = loop.call_later(10, lambda: None, context=ctx)
        trace("timer context", th.get_context() is ctx)
        th.cancel()

    assert_same(scenario)


def test_create_task_name_with_a_task_factory():
    # 3.13.0 calls task.set_name(name) after any factory, None included.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_task_factory(
            lambda loop, coro, **kw: aio.Task(coro, loop=loop, **kw))

        async def child():
            return aio.current_task().get_name()

        for kw in ({}, {"name": "given"}):
            t = aio.create_task(child(), **kw)
            trace("create_task", kw, t.get_name(), await t)
            t = loop.create_task(child(), **kw)
            trace("loop.create_task", kw, t.get_name(), await t)

    assert_same(scenario)


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="run(loop_factory=) is new in 3.12")
def test_run_with_a_loop_factory():
    import asyncio
    import pyasync
    made = []

    def factory():
        loop = pyasync.new_event_loop()
        made.append(loop)
        return loop

    async def main():
        return type(asyncio.get_running_loop()).__name__

    assert pyasync.run(main(), loop_factory=factory) == "EventLoop"
    assert asyncio.run(main(), loop_factory=factory) == "EventLoop"
    assert len(made) == 2 and all(loop.is_closed() for loop in made)
    assert pyasync.run(main(), loop_factory=asyncio.new_event_loop) == \
        asyncio.run(main(), loop_factory=asyncio.new_event_loop)


GET_EVENT_LOOP = textwrap.dedent("""
    import sys, warnings
    aio = __import__(sys.argv[1])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            loop = aio.get_event_loop()
        except RuntimeError as exc:        # 3.14+
            print("RuntimeError", exc)
            loop = None
    print([(x.category.__name__, str(x.message), x.filename, x.lineno)
           for x in w])
    if loop is not None:
        print(loop is aio.get_event_loop())
        loop.close()
""")


def test_get_event_loop_without_a_loop_warns_at_the_callers_line(tmp_path):
    # 3.12 and 3.13: DeprecationWarning 'There is no current event loop'
    # pointing at the line that called get_event_loop(); 3.11: none; 3.14:
    # RuntimeError, no loop made.
    script = tmp_path / "gel.py"
    script.write_text(GET_EVENT_LOOP)
    outs = {}
    for name in ("asyncio", "pyasync"):
        out = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning",
                              str(script), name], capture_output=True,
                             text=True, check=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                 sys.path)))
        outs[name] = out.stdout
    assert outs["pyasync"] == outs["asyncio"]
    if sys.version_info >= (3, 14):
        assert outs["asyncio"].startswith(
            "RuntimeError There is no current event loop in thread")
    elif sys.version_info >= (3, 12):
        assert "There is no current event loop" in outs["asyncio"]
