"""The loop, differentially: the same callbacks on asyncio's and pyasync's
loop must run in the same order with the same outcomes."""
import contextvars
import threading
import time

import pytest

from difftrace import assert_same, run_both

var = contextvars.ContextVar("var", default="unset")


def test_call_soon_fifo_with_args():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        for i in range(5):
            loop.call_soon(trace, "soon", i)
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_callbacks_scheduled_while_running_wait_for_next_iteration():
    def scenario(aio, trace):
        loop = aio.new_event_loop()

        def first():
            trace("first")
            loop.call_soon(trace, "scheduled by first")

        loop.call_soon(first)
        loop.call_soon(trace, "second")
        loop.call_soon(loop.stop)
        loop.run_forever()
        trace("stopped")
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_timers_fire_by_deadline_and_cancelled_ones_never():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.call_later(0.03, trace, "30ms")
        loop.call_later(0.01, trace, "10ms")
        doomed = loop.call_later(0.02, trace, "cancelled")
        loop.call_at(loop.time() + 0.02, trace, "20ms")
        doomed.cancel()
        trace("cancelled()", doomed.cancelled())
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_equal_deadlines_all_fire_and_pyasync_keeps_scheduling_order():
    # asyncio's heap leaves the order of equal deadlines undefined (it runs
    # a, c, b here); pyasync promises scheduling order.
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        when = loop.time() + 0.01
        for name in "abc":
            loop.call_at(when, trace, name)
        loop.call_at(when + 0.01, loop.stop)
        loop.run_forever()
        loop.close()
    traces = run_both(scenario, via_run=False)
    assert sorted(traces["asyncio"]) == sorted(traces["pyasync"])
    assert traces["pyasync"] == [("a",), ("b",), ("c",)]


def test_many_equal_deadlines_fifo_on_pyasync():
    import pyasync
    loop = pyasync.new_event_loop()
    when = loop.time() + 0.01
    seen = []
    for i in range(200):
        loop.call_at(when, seen.append, i)
    loop.call_at(when + 0.01, loop.stop)
    loop.run_forever()
    loop.close()
    assert seen == list(range(200))


def test_timer_handle_when_is_exact():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        h = loop.call_at(1234.5678, trace)
        trace("when", h.when())
        h.cancel()
        loop.close()
    assert_same(scenario, via_run=False)


def test_timer_deadline_is_never_early():
    import pyasync
    loop = pyasync.new_event_loop()
    fired = []
    start = loop.time()
    for delay in (0.001, 0.0015, 0.003, 0.01):
        loop.call_later(delay, lambda d=delay: fired.append((d, loop.time() - start)))
    loop.call_later(0.02, loop.stop)
    loop.run_forever()
    loop.close()
    assert [d for d, _ in fired] == [0.001, 0.0015, 0.003, 0.01]
    for delay, elapsed in fired:
        assert elapsed >= delay


def test_stop_before_run_forever_runs_one_iteration():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.call_soon(trace, "a")
        loop.stop()
        loop.call_soon(trace, "b")
        loop.run_forever()
        trace("returned")
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_callbacks_run_in_their_context():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in ctx")
        loop.call_soon(lambda: trace("ctx", var.get()), context=ctx)
        var.set("outside")
        loop.call_soon(lambda: trace("current", var.get()))
        loop.call_soon(lambda: var.set("leaks?"))
        loop.call_soon(lambda: trace("after set", var.get()))
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
        var.set("unset")
    assert_same(scenario, via_run=False)


def test_raising_callback_goes_to_exception_handler_and_loop_goes_on():
    def scenario(aio, trace):
        loop = aio.new_event_loop()

        def handler(loop_, context):
            trace("handler", context["message"].split(" ")[0:3],
                  type(context["exception"]).__name__,
                  type(context["handle"]).__name__)

        def boom():
            raise ValueError("boom")

        loop.set_exception_handler(handler)
        trace("handler set", loop.get_exception_handler() is handler)
        loop.call_soon(boom)
        loop.call_soon(trace, "still running")
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_closed_loop_refuses_work():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.close()
        trace("closed", loop.is_closed(), loop.is_running())
        for name, call in [
            ("call_soon", lambda: loop.call_soon(trace)),
            ("call_later", lambda: loop.call_later(1, trace)),
            ("call_at", lambda: loop.call_at(1, trace)),
            ("call_soon_threadsafe", lambda: loop.call_soon_threadsafe(trace)),
            ("run_forever", loop.run_forever),
        ]:
            try:
                call()
            except Exception as exc:
                trace.exc(name, exc)
        loop.close()  # closing twice is fine
    assert_same(scenario, via_run=False)


def test_run_until_complete_errors_and_results():
    def scenario(aio, trace):
        loop = aio.new_event_loop()

        async def answer():
            return 42

        async def fail():
            raise KeyError("k")

        trace("result", loop.run_until_complete(answer()))
        try:
            loop.run_until_complete(fail())
        except KeyError as exc:
            trace.exc("raised", exc)
        try:
            loop.run_until_complete(123)
        except TypeError as exc:
            trace.exc("not awaitable", exc)

        async def stops_loop():
            loop.stop()
            await aio.sleep(0.01)

        try:
            loop.run_until_complete(stops_loop())
        except RuntimeError as exc:
            trace.exc("stopped", exc)

        async def nested():
            coro = answer()
            try:
                loop.run_until_complete(coro)
            except RuntimeError as exc:
                trace.exc("nested", exc)
            finally:
                coro.close()
        loop.run_until_complete(nested())
        for task in aio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(aio.sleep(0))
        loop.close()
    assert_same(scenario, via_run=False)


def test_close_running_loop_fails():
    def scenario(aio, trace):
        loop = aio.new_event_loop()

        def try_close():
            try:
                loop.close()
            except RuntimeError as exc:
                trace.exc("close", exc)
            loop.stop()

        loop.call_soon(try_close)
        loop.run_forever()
        loop.close()
    assert_same(scenario, via_run=False)


def test_debug_flag_and_callable_checks():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        trace("debug", loop.get_debug())
        loop.set_debug(True)
        trace("debug", loop.get_debug())
        for name, call in [
            ("call_soon", lambda: loop.call_soon(1)),
            ("call_later", lambda: loop.call_later(1, "x")),
        ]:
            try:
                call()
            except TypeError as exc:
                trace.exc(name, exc)

        async def coro_fn():
            pass

        try:
            loop.call_soon(coro_fn)
        except TypeError as exc:
            trace.exc("coroutine function", exc)
        loop.set_debug(False)
        loop.close()
    assert_same(scenario, via_run=False)


def test_call_soon_threadsafe_wakes_sleeping_loop():
    def scenario(aio, trace):
        loop = aio.new_event_loop()
        started = time.monotonic()

        def from_thread():
            time.sleep(0.05)
            loop.call_soon_threadsafe(trace, "from thread")
            loop.call_soon_threadsafe(loop.stop)

        loop.call_later(5, trace, "timer should not fire")
        thread = threading.Thread(target=from_thread)
        thread.start()
        loop.run_forever()
        thread.join()
        trace("woke early", time.monotonic() - started < 2)
        loop.close()
    assert_same(scenario, via_run=False)


def test_run_in_executor_and_shutdown():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        result = await loop.run_in_executor(None, sum, [1, 2, 3])
        trace("executor", result)
        await loop.shutdown_default_executor()
        try:
            await loop.run_in_executor(None, sum, [1])
        except RuntimeError as exc:
            trace.exc("after shutdown", exc)
    assert_same(scenario)


def test_shutdown_asyncgens_finalises_generators():
    def scenario(aio, trace):
        loop = aio.new_event_loop()

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                trace("agen finally")

        async def main():
            gen = agen()
            trace("first", await gen.__anext__())
            return gen

        gen = loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
        trace("after shutdown")
        loop.close()
        del gen
    assert_same(scenario, via_run=False)


def test_gil_is_released_while_the_loop_sleeps():
    import pyasync
    counter = 0
    stop = threading.Event()

    def count():
        nonlocal counter
        while not stop.is_set():
            counter += 1

    loop = pyasync.new_event_loop()
    thread = threading.Thread(target=count)
    thread.start()
    try:
        time.sleep(0.05)
        before = counter
        loop.run_until_complete(pyasync.sleep(0.3))
        during = counter - before
    finally:
        stop.set()
        thread.join()
        loop.close()
    # A loop holding the GIL while blocked would let the thread run only at
    # switch intervals (5 ms) at best; a released GIL lets it run freely.
    assert during > 100_000


@pytest.mark.parametrize("method", ["time", "is_running", "is_closed", "get_debug"])
def test_loop_is_an_abstract_event_loop(method):
    import asyncio
    import pyasync
    loop = pyasync.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert callable(getattr(loop, method))
        asyncio.set_event_loop(loop)
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
        assert hash(loop) == hash(loop)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
