"""Future, Task and the entry points, differentially: each scenario runs on
asyncio and on pyasync (its loop, Future and Task) and the traces must match."""
import contextvars
import gc
import sys

from difftrace import assert_same

var = contextvars.ContextVar("var", default="unset")


# ---- Future ------------------------------------------------------------

def test_future_states_results_and_errors():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        fut = loop.create_future()
        trace("pending", fut.done(), fut.cancelled(), repr(fut))
        for name, call in [("result", fut.result), ("exception", fut.exception)]:
            try:
                call()
            except aio.InvalidStateError as exc:
                trace.exc(name, exc)
        fut.set_result(7)
        trace("done", fut.done(), fut.result(), fut.exception(), repr(fut))
        for name, call in [("set_result", lambda: fut.set_result(1)),
                           ("set_exception", lambda: fut.set_exception(ValueError()))]:
            try:
                call()
            except aio.InvalidStateError as exc:
                trace.exc(name, exc)
        trace("cancel done", fut.cancel())
        failing = loop.create_future()
        failing.set_exception(ValueError)
        trace("exception class instantiated", repr(failing.exception()))
        try:
            failing.set_exception(StopIteration())
        except Exception as exc:
            trace.exc("stopiteration", exc)
        try:
            loop.create_future().set_exception(StopIteration())
        except TypeError as exc:
            trace.exc("stopiteration pending", exc)
        try:
            failing.result()
        except ValueError as exc:
            trace.exc("raised", exc)
    assert_same(scenario)


def test_future_cancel_message_reaches_awaiter():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        fut = loop.create_future()
        trace("cancel", fut.cancel(msg="stop it"), fut.cancelled(), repr(fut))
        try:
            await fut
        except aio.CancelledError as exc:
            trace.exc("awaited", exc)
        try:
            fut.result()
        except aio.CancelledError as exc:
            trace.exc("result", exc)
    assert_same(scenario)


def test_done_callbacks_fifo_through_loop_in_their_context():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        fut = loop.create_future()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "captured")
        fut.add_done_callback(lambda f: trace("cb1", f.result(), var.get()))
        fut.add_done_callback(lambda f: trace("cb2", var.get()), context=ctx)
        fut.add_done_callback(lambda f: trace("cb3"))
        fut.set_result("r")
        trace("set_result returned; callbacks not yet run")
        await aio.sleep(0)
        trace("after one iteration")
        fut.add_done_callback(lambda f: trace("late cb"))
        await aio.sleep(0)
    assert_same(scenario)


def test_remove_done_callback_counts():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        fut = loop.create_future()

        def cb(f):
            trace("cb ran")

        def other(f):
            trace("other ran")

        for _ in range(3):
            fut.add_done_callback(cb)
        fut.add_done_callback(other)
        trace("removed", fut.remove_done_callback(cb))
        trace("removed again", fut.remove_done_callback(cb))
        fut.set_result(None)
        await aio.sleep(0)
    assert_same(scenario)


def test_future_exception_never_retrieved_is_reported():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.set_exception_handler(
            lambda l, ctx: trace("handler", ctx["message"], type(ctx["exception"]).__name__))
        fut = loop.create_future()
        fut.set_exception(RuntimeError("lost"))
        del fut
        gc.collect()
        retrieved = loop.create_future()
        retrieved.set_exception(RuntimeError("seen"))
        retrieved.exception()
        del retrieved
        gc.collect()
        trace("end")
        loop.close()
    assert_same(scenario, via_run=False)


def test_future_await_protocol_and_isfuture():
    async def scenario(aio, trace):
        import asyncio
        loop = aio.get_running_loop()
        fut = loop.create_future()
        trace("blocking", fut._asyncio_future_blocking, asyncio.isfuture(fut))
        loop.call_soon(fut.set_result, "x")
        trace("awaited", await fut)
        trace("get_loop", fut.get_loop() is loop)
        trace("generic alias", str(type(fut)[int]).split(".")[-1])
    assert_same(scenario)


# ---- Task --------------------------------------------------------------

def test_task_runs_and_reports_like_asyncio():
    async def scenario(aio, trace):
        async def work(x):
            trace("work", x)
            await aio.sleep(0)
            return x * 2

        task = aio.create_task(work(21))
        trace("created", task.done(), repr(task))
        trace("result", await task)
        trace("done", task.done(), task.cancelled(), repr(task))
        trace("name", task.get_name())
        task.set_name(123)
        trace("set_name", task.get_name())
        trace("coro", type(task.get_coro()).__name__)
        named = aio.create_task(work(1), name="named")
        trace("named", named.get_name(), await named)
    assert_same(scenario)


def test_sleep_zero_interleaves_tasks():
    async def scenario(aio, trace):
        async def ticker(name, n):
            for i in range(n):
                trace(name, i)
                await aio.sleep(0)
            return name

        results = [aio.create_task(ticker(n, 3)) for n in "abc"]
        for t in results:
            trace("joined", await t)
    assert_same(scenario)


def test_sleep_returns_result_and_orders_by_delay():
    async def scenario(aio, trace):
        async def napper(delay):
            trace("slept", delay, await aio.sleep(delay, result=delay))

        tasks = [aio.create_task(napper(d)) for d in (0.03, 0.01, 0.02)]
        for t in tasks:
            await t
    assert_same(scenario)


def test_cancel_semantics():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        async def sleeper():
            try:
                await aio.sleep(10)
            except aio.CancelledError as exc:
                trace.exc("inside", exc)
                raise

        task = aio.create_task(sleeper())
        await aio.sleep(0)
        trace("cancel", task.cancel("bye"), task.cancelling())
        trace("cancel again", task.cancel(), task.cancelling())
        try:
            await task
        except aio.CancelledError as exc:
            trace.exc("awaited", exc)
        trace("state", task.cancelled(), task.done(), task.cancel())
        trace("uncancel", task.uncancel(), task.uncancel(), task.uncancel())

        # A cancel pending when the coroutine returns ends it cancelled.
        async def returns_at_once():
            return "value"

        quick = aio.create_task(returns_at_once())
        quick.cancel("early")
        try:
            await quick
        except aio.CancelledError as exc:
            trace.exc("early cancel", exc)
        trace("quick", quick.cancelled())

        # Swallowing the cancellation finishes normally.
        async def swallower():
            try:
                await aio.sleep(10)
            except aio.CancelledError:
                return "swallowed"

        swallow = aio.create_task(swallower())
        await aio.sleep(0)
        swallow.cancel()
        trace("swallowed", await swallow, swallow.cancelled(), swallow.cancelling())

        # Cancel while waiting on a future that is already done: the
        # cancellation is thrown into the coroutine at its next step.
        fut = loop.create_future()

        async def waiter():
            try:
                return await fut
            except aio.CancelledError:
                trace("waiter cancelled")
                raise

        w = aio.create_task(waiter())
        await aio.sleep(0)
        fut.set_result(1)
        trace("cancel after wake", w.cancel())
        try:
            trace("waiter result", await w)
        except aio.CancelledError:
            trace("waiter ended cancelled")
    assert_same(scenario)


def test_task_exceptions_and_bad_awaits():
    async def scenario(aio, trace):
        async def fails():
            raise ValueError("bad")

        t = aio.create_task(fails())
        try:
            await t
        except ValueError as exc:
            trace.exc("awaited", exc)
        trace("exception", repr(t.exception()), repr(t))

        async def awaits_itself():
            await aio.current_task()

        async def bad_yield():
            class Bad:
                def __await__(self):
                    yield 42
            await Bad()

        async def awaits_generator():
            class Gen:
                def __await__(self):
                    def g():
                        yield
                    yield g()
            await Gen()

        for coro in (awaits_itself(), bad_yield(), awaits_generator()):
            task = aio.create_task(coro)
            try:
                await task
            except RuntimeError as exc:
                trace.exc("runtime error", exc)

        try:
            aio.create_task(123)
        except TypeError as exc:
            trace.exc("create_task(123)", exc)
    assert_same(scenario)


def test_current_task_and_all_tasks():
    async def scenario(aio, trace):
        import asyncio
        me = aio.current_task()
        trace("current", me is asyncio.current_task(), me.get_name() == me.get_name())

        async def child():
            trace("child sees itself", aio.current_task() is not me)
            await aio.sleep(0)

        t = aio.create_task(child())
        trace("all tasks", len(aio.all_tasks()), len(asyncio.all_tasks()),
              t in asyncio.all_tasks())
        await t
        trace("after", len(asyncio.all_tasks()))
    assert_same(scenario)


def test_task_contextvars_are_copied():
    async def scenario(aio, trace):
        var.set("main")

        async def child():
            trace("child sees", var.get())
            var.set("child")

        await aio.create_task(child())
        trace("main keeps", var.get())
        ctx = contextvars.copy_context()
        ctx.run(var.set, "explicit")
        await aio.get_running_loop().create_task(child(), context=ctx)
        trace("explicit ctx changed", ctx[var])
    assert_same(scenario)


def test_ensure_future():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        async def op():
            await aio.sleep(0.01)
            return "done"

        fut = aio.ensure_future(op())
        trace("is task", type(fut).__name__)
        trace("result", await fut)
        same = loop.create_future()
        trace("identity", aio.ensure_future(same) is same)

        class Awaitable:
            def __await__(self):
                return op().__await__()

        trace("awaitable", await aio.ensure_future(Awaitable()))
        try:
            aio.ensure_future(1)
        except TypeError as exc:
            trace.exc("bad", exc)
        other = aio.new_event_loop()
        try:
            aio.ensure_future(same, loop=other)
        except ValueError as exc:
            trace.exc("other loop", exc)
        finally:
            other.close()
            same.cancel()
    assert_same(scenario)


def test_task_destroyed_pending_and_exception_never_retrieved():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.set_exception_handler(lambda l, ctx: trace(
            "handler", ctx["message"],
            type(ctx.get("exception")).__name__))

        async def forever():
            await loop.create_future()

        async def fails():
            raise ZeroDivisionError

        pending = loop.create_task(forever())
        failed = loop.create_task(fails())
        loop.run_until_complete(aio.sleep(0.01))
        del pending, failed
        gc.collect()
        loop.close()
        gc.collect()
        trace("end")
    assert_same(scenario, via_run=False)


def test_callback_exception_does_not_stop_tasks():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_exception_handler(lambda l, ctx: trace("handler", type(ctx["exception"]).__name__))
        loop.call_soon(lambda: 1 / 0)
        await aio.sleep(0)
        await aio.sleep(0)
        trace("task continues")
    assert_same(scenario)


# ---- run / Runner --------------------------------------------------------

def test_run_cancels_leftovers_and_closes_asyncgens():
    def scenario(aio, trace):
        async def leftover():
            try:
                await aio.sleep(10)
            except aio.CancelledError:
                trace("leftover cancelled")
                raise

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                trace("agen closed")

        async def main():
            aio.create_task(leftover())
            gen = agen()
            trace("agen", await gen.__anext__())
            await aio.sleep(0)
            main.gen = gen
            return "main result"

        trace("run", aio.run(main()))
        try:
            aio.run(123)
        except (ValueError, TypeError) as exc:   # TypeError from 3.14 on
            trace.exc("not a coroutine", exc)
    assert_same(scenario, via_run=False)


def test_nested_run_fails():
    async def scenario(aio, trace):
        async def inner():
            return 1

        coro = inner()
        try:
            aio.run(coro)
        except RuntimeError as exc:
            trace.exc("nested", exc)
        finally:
            coro.close()
    assert_same(scenario)


def test_runner_reuses_its_loop_and_refuses_after_close():
    def scenario(aio, trace):
        async def which():
            return aio.get_running_loop()

        with aio.Runner() as runner:
            first = runner.run(which())
            second = runner.run(which())
            trace("same loop", first is second, runner.get_loop() is first)
        coro = which()
        try:
            runner.run(coro)
        except RuntimeError as exc:
            trace.exc("closed", exc)
        finally:
            coro.close()
        trace("loop closed", first.is_closed())
    assert_same(scenario, via_run=False)


def test_debug_run_sets_loop_debug():
    def scenario(aio, trace):
        async def debug_flag():
            return aio.get_running_loop().get_debug()

        trace("debug", aio.run(debug_flag(), debug=True))
        trace("no debug", aio.run(debug_flag(), debug=False))
    assert_same(scenario, via_run=False)


def test_all_tasks_weakset_views():
    # pyasync enters its tasks in _all_tasks lazily: every way of reading
    # the WeakSet must still list them, done ones included while alive.
    async def scenario(aio, trace):
        import asyncio
        import gc
        # 3.12 split the registry: _scheduled_tasks is the WeakSet.
        ws = getattr(asyncio.tasks, "_scheduled_tasks", None)
        if ws is None:
            ws = asyncio.tasks._all_tasks

        async def child():
            await aio.sleep(0)

        before = len(ws)
        t1 = aio.create_task(child())
        trace("contains", t1 in ws)
        t2 = aio.create_task(child())
        trace("len", len(ws) - before)
        trace("iter", sum(1 for t in ws if t in (t1, t2)))
        await aio.gather(t1, t2)
        trace("done still listed", t1 in ws, len(ws) - before)
        trace("copy", t2 in ws.copy(), t2 in set(ws))
        t3 = aio.create_task(child())
        trace("all_tasks", t3 in asyncio.all_tasks(), t1 in asyncio.all_tasks())
        await t3
        del t1, t2, t3
        gc.collect()
        trace("gone", len(ws) - before)
        t4 = aio.create_task(child())
        ws.discard(t4)
        trace("discarded", t4 in ws, len(ws) - before)
        await t4
    assert_same(scenario)
