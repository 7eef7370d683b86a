"""Errors: run_until_complete, raising callbacks, closed loops, debug-mode
checks, task factories.  Messages are asyncio's; differential where the
scenario allows it."""
import asyncio
import sys
import re

import pytest

import pyasync


def _exc(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except BaseException as e:
        return (type(e).__name__, str(e))
    return None


def test_run_until_complete_result_and_exception(differential):
    def scenario(loop):
        async def ok():
            await asyncio.sleep(0)
            return 'value'

        async def bad():
            await asyncio.sleep(0)
            raise ValueError('boom')

        fut = loop.create_future()
        loop.call_soon(fut.set_result, 7)
        return [loop.run_until_complete(ok()),
                _exc(loop.run_until_complete, bad()),
                loop.run_until_complete(fut)]
    differential(scenario)


def test_run_until_complete_stopped_early(differential):
    def scenario(loop):
        fut = loop.create_future()
        loop.call_soon(loop.stop)
        return _exc(loop.run_until_complete, fut)
    assert differential(scenario) == (
        'RuntimeError', 'Event loop stopped before Future completed.')


def test_run_while_running_errors(differential):
    def scenario(loop):
        out = []
        other = asyncio.new_event_loop()

        async def inner():
            out.append(_exc(other.run_forever))
            out.append(_exc(loop.close))
            # Last: 3.13.0's run_forever resets the running state even when
            # it refuses to start, so nothing may run after it there.
            out.append(_exc(loop.run_forever))
            if sys.version_info < (3, 13):
                # 3.13's asyncio loop wraps the coroutine in a task before
                # it checks, and then never returns from this call.
                coro = asyncio.sleep(0)
                out.append(_exc(loop.run_until_complete, coro))
                coro.close()

        loop.run_until_complete(inner())
        other.close()
        return out
    running = ('RuntimeError', 'This event loop is already running')
    assert differential(scenario) == [
        ('RuntimeError',
         'Cannot run the event loop while another loop is running'),
        ('RuntimeError', 'Cannot close a running event loop'),
    ] + [running] * (2 if sys.version_info < (3, 13) else 1)


def test_raising_callback_goes_to_exception_handler(differential):
    def scenario(loop):
        calls = []

        def handler(lp, context):
            calls.append((lp is loop, sorted(context),
                          context['message'],
                          type(context['exception']).__name__,
                          str(context['exception']),
                          re.sub(r'when=[\d.]+', 'when=X',
                                 repr(context['handle']))))

        def raising(x):
            raise ZeroDivisionError(x)

        loop.set_exception_handler(handler)
        loop.call_soon(raising, 'first')
        loop.call_soon(calls.append, 'still running')
        loop.call_later(0.001, raising, 'timer')
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
        return calls
    calls = differential(scenario)
    assert calls[0][2].startswith('Exception in callback test_raising')
    # 3.13 shows a callback's arguments only in debug mode.
    shown = "raising('first') at " if sys.version_info < (3, 13) else "raising() at "
    assert shown in calls[0][2]
    assert calls[1] == 'still running'


def test_default_exception_handler_logs(any_loop, caplog):
    def raising():
        raise ValueError('logged')
    any_loop.call_soon(raising)
    any_loop.call_soon(any_loop.stop)
    with caplog.at_level('ERROR', logger='asyncio'):
        any_loop.run_forever()
    assert 'Exception in callback' in caplog.text
    assert 'ValueError: logged' in caplog.text


@pytest.mark.parametrize('exc', [KeyboardInterrupt, SystemExit])
def test_fatal_exceptions_propagate(differential, exc):
    def scenario(loop):
        trace = []

        def fatal():
            raise exc()

        loop.call_soon(trace.append, 1)
        loop.call_soon(fatal)
        loop.call_soon(trace.append, 2)
        trace.append(_exc(loop.run_forever)[0])
        trace.append(loop.is_running())
        # The loop is still usable; the rest of the queue runs next time.
        loop.call_soon(loop.stop)
        loop.run_forever()
        return trace
    assert differential(scenario) == [1, exc.__name__, False, 2]


def test_closed_loop_errors(differential):
    def scenario(loop):
        loop.close()
        loop.close()   # twice is fine
        coro = asyncio.sleep(0)
        out = [
            _exc(loop.call_soon, print),
            _exc(loop.call_later, 1, print),
            _exc(loop.call_at, 1, print),
            _exc(loop.call_soon_threadsafe, print),
            _exc(loop.run_forever),
            _exc(loop.run_until_complete, coro),
            _exc(loop.create_task, coro),
            _exc(loop.run_in_executor, None, print),
            loop.is_closed(),
        ]
        coro.close()
        return out
    out = differential(scenario)
    assert out[0] == ('RuntimeError', 'Event loop is closed')


def test_none_delay_and_when(differential):
    def scenario(loop):
        return [_exc(loop.call_later, None, print),
                _exc(loop.call_at, None, print)]
    assert differential(scenario) == [
        ('TypeError', 'delay must not be None'),
        ('TypeError', 'when cannot be None')]


def test_non_callable_checks_only_in_debug(differential):
    async def coro_fn():
        pass

    def scenario(loop):
        out = []
        h = loop.call_soon(1)        # accepted when not in debug mode
        h.cancel()
        loop.set_debug(True)
        for meth in ('call_soon', 'call_soon_threadsafe'):
            out.append(_exc(getattr(loop, meth), 1))
            out.append(_exc(getattr(loop, meth), coro_fn))
        out.append(_exc(loop.call_later, 1, 1))
        out.append(_exc(loop.call_at, 1, coro_fn))
        loop.set_debug(False)
        return out
    assert differential(scenario)[:2] == [
        ('TypeError', 'a callable object was expected by call_soon(), got 1'),
        ('TypeError', 'coroutines cannot be used with call_soon()')]


def test_debug_flag_default_and_set(differential):
    def scenario(loop):
        out = [loop.get_debug()]
        loop.set_debug(True)
        out.append(loop.get_debug())
        out.append(re.sub(r'at .*:\d+', 'at X', repr(loop.call_soon(print))))
        return out
    differential(scenario)


def test_slow_callback_logged_in_debug(any_loop, caplog):
    import time
    any_loop.set_debug(True)
    any_loop.slow_callback_duration = 0.01
    any_loop.call_soon(time.sleep, 0.03)
    any_loop.call_soon(any_loop.stop)
    with caplog.at_level('WARNING', logger='asyncio'):
        any_loop.run_forever()
    assert re.search(r'Executing <Handle sleep\(0.03\).*> took 0\.0\d\d seconds',
                     caplog.text)


def test_task_factory(differential):
    def scenario(loop):
        made = []

        def factory(lp, coro, **kw):
            made.append((lp is loop, sorted(kw)))
            return asyncio.Task(coro, loop=lp, **kw)

        async def main():
            return asyncio.current_task().get_name()

        out = [_exc(loop.set_task_factory, 1), loop.get_task_factory()]
        loop.set_task_factory(factory)
        out.append(loop.get_task_factory() is factory)
        t = loop.create_task(main(), name='named')
        out.append(loop.run_until_complete(t))
        import contextvars
        t = loop.create_task(main(), context=contextvars.copy_context())
        loop.run_until_complete(t)
        loop.set_task_factory(None)
        out.append(made)
        return out
    assert differential(scenario)[0] == (
        'TypeError', 'task factory must be a callable or None')


def test_unclosed_loop_warns():
    loop = pyasync.new_event_loop()
    with pytest.warns(ResourceWarning, match='unclosed event loop'):
        del loop
        import gc
        gc.collect()
