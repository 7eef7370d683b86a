"""Differential tests: pyasync._core.Task against asyncio.Task.

Each scenario runs once per implementation (Task and Future classes) on a
fresh event loop whose task factory and create_future make that
implementation's objects, records a trace (what ran, in which order, with
which result or exception), and the traces must be equal once memory
addresses and module prefixes are normalised.  The reference is asyncio's
Task on a stdlib loop; pyasync's Task runs on a stdlib loop (steps through
loop.call_soon) and, once the package has its own loop, on that loop too
(steps through the C ready queue)."""
import asyncio
import contextvars
import re
import types

import pytest

import pyasync._core as core

import pyasync

REFERENCE = (asyncio.Task, asyncio.Future, asyncio.new_event_loop)
OURS = [(core.Task, core.Future, asyncio.new_event_loop)]
if hasattr(pyasync, 'new_event_loop'):
    OURS.append((core.Task, core.Future, pyasync.new_event_loop))
var = contextvars.ContextVar('var', default='-')


def normalise(obj):
    text = repr(obj)
    text = re.sub(r'0x[0-9a-f]+', '0x?', text)
    text = text.replace('pyasync._core.', '_asyncio.')
    return text


def exc_info(exc):
    return (type(exc).__name__, exc.args)


def new_loop(T, F, make_loop):
    loop = make_loop()
    loop.set_task_factory(
        lambda loop, coro, **kw: T(coro, loop=loop, **kw))
    loop.create_future = lambda: F(loop=loop)
    return loop


def run_all(scenario):
    traces = []
    for T, F, make_loop in [REFERENCE] + OURS:
        loop = new_loop(T, F, make_loop)
        asyncio.set_event_loop(loop)
        try:
            trace = []
            scenario(T, F, loop, trace)
            traces.append(normalise(trace))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    return traces


def assert_same(scenario):
    ref, *ours = run_all(scenario)
    for trace in ours:
        assert trace == ref


def settle(loop, coro_or_fut):
    """run_until_complete, recording the outcome instead of raising."""
    try:
        return ('ok', loop.run_until_complete(coro_or_fut))
    except BaseException as exc:  # noqa: B902 - we record everything
        return ('raise',) + exc_info(exc)


def task_state(t):
    if not t.done():
        return ('pending', t.cancelling())
    if t.cancelled():
        return ('cancelled',)
    if t.exception() is not None:
        return ('exception',) + exc_info(t.exception())
    return ('result', t.result())


def test_interleaving_and_results():
    def scenario(T, F, loop, trace):
        async def worker(name, n):
            for i in range(n):
                trace.append((name, i, asyncio.current_task().get_name()))
                await asyncio.sleep(0)
            return name * n

        async def main():
            ts = [T(worker(c, n), loop=loop, name=c)
                  for c, n in (('a', 3), ('b', 1), ('c', 2))]
            trace.append(('all', sorted(t.get_name()
                                        for t in asyncio.all_tasks())))
            for t in ts:
                trace.append(('got', await t, repr(t)))
            return 'done'

        trace.append(settle(loop, T(main(), loop=loop, name='main')))
    assert_same(scenario)


def test_exceptions():
    def scenario(T, F, loop, trace):
        async def fail():
            await asyncio.sleep(0)
            raise ValueError('boom', 1)

        async def main():
            t = T(fail(), loop=loop, name='f')
            try:
                await t
            except ValueError as exc:
                trace.append(('caught', exc_info(exc),
                              exc.__traceback__ is not None))
            trace.append(task_state(t))
            trace.append(repr(t))
            t2 = T(fail(), loop=loop, name='g')
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            trace.append(task_state(t2))

        trace.append(settle(loop, main()))
    assert_same(scenario)


def test_cancel_semantics():
    def scenario(T, F, loop, trace):
        async def sleeper(tag):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError as exc:
                trace.append((tag, 'got', exc.args))
                raise

        async def ignorer():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                trace.append(('ignorer', 'ignored',
                              asyncio.current_task().cancelling()))
                asyncio.current_task().uncancel()
            return 'survived'

        async def returner():
            return 'too late'

        async def main():
            # Cancel a waiting task: the waiter is cancelled, must_cancel
            # stays unset.
            t = T(sleeper('s1'), loop=loop, name='s1')
            await asyncio.sleep(0)
            trace.append(('cancel', t.cancel('why'), t._must_cancel,
                          t.cancelling(), repr(t)))
            trace.append(('cancel-again', t.cancel('again'), t.cancelling()))
            try:
                await t
            except asyncio.CancelledError as exc:
                trace.append(('s1 outcome', exc.args))
            trace.append(('after', task_state(t), t.cancel(), t.uncancel()))

            # Cancel before the first step: the coroutine never runs.
            t = T(sleeper('s2'), loop=loop, name='s2')
            trace.append(('early', t.cancel('early'), t._must_cancel,
                          t._cancel_message))
            try:
                await t
            except asyncio.CancelledError as exc:
                trace.append(('s2 outcome', exc.args))

            # A coroutine that returns while a cancel is pending ends
            # cancelled.
            t = T(returner(), loop=loop, name='r')
            await asyncio.sleep(0)
            t2 = T(returner(), loop=loop, name='r2')
            t2.cancel('late')
            try:
                trace.append(('r', await t))
                trace.append(('r2', await t2))
            except asyncio.CancelledError as exc:
                trace.append(('r2 cancelled', exc.args, task_state(t2)))

            # A task may swallow the cancellation.
            t = T(ignorer(), loop=loop, name='i')
            await asyncio.sleep(0)
            t.cancel()
            trace.append(('ignorer result', await t, t.cancelling()))

        trace.append(settle(loop, main()))
    assert_same(scenario)


def test_cancel_current_task_and_waiter_refusing():
    def scenario(T, F, loop, trace):
        async def self_cancel():
            trace.append(('self cancel', asyncio.current_task().cancel()))
            await asyncio.sleep(0)
            trace.append('not reached')

        async def wait_done_future():
            f = F(loop=loop)
            f.set_result(5)
            # Awaiting a done future does not yield.
            trace.append(('done future', await f))
            return 'ok'

        async def main():
            t = T(self_cancel(), loop=loop, name='sc')
            trace.append(('sc', await asyncio.gather(t,
                                                     return_exceptions=True)))
            trace.append(task_state(t))
            t = T(wait_done_future(), loop=loop, name='wd')
            trace.append(('wd', await t))

        trace.append(settle(loop, main()))
    assert_same(scenario)


def test_bad_yields():
    def scenario(T, F, loop, trace):
        @types.coroutine
        def yield_value(value):
            yield value

        def gen():
            yield

        async def bad(value):
            try:
                await yield_value(value)
            except RuntimeError as exc:
                trace.append(('thrown', normalise(exc)))
                return 'recovered'

        other = asyncio.new_event_loop()
        try:
            nonblocking = F(loop=loop)
            foreign = F(loop=other)
            foreign._asyncio_future_blocking = True
            for name, value in (('int', 42), ('gen', gen()),
                                ('nonblocking', nonblocking),
                                ('foreign', foreign)):
                t = T(bad(value), loop=loop, name=name)
                trace.append((name, settle(loop, t)))
        finally:
            other.close()

        async def self_await():
            await asyncio.sleep(0)
            await t

        t = T(self_await(), loop=loop, name='self')
        outcome = settle(loop, t)
        trace.append(('self', outcome[0], outcome[1],
                      normalise(outcome[2])))
    assert_same(scenario)


def test_bare_yield_reschedules():
    def scenario(T, F, loop, trace):
        @types.coroutine
        def bare():
            yield

        async def spinner(tag, n):
            for i in range(n):
                trace.append((tag, i))
                await bare()

        async def main():
            ts = [T(spinner(tag, 3), loop=loop) for tag in 'xy']
            loop.call_soon(trace.append, 'call_soon')
            await asyncio.gather(*ts)

        trace.append(settle(loop, main()))
    assert_same(scenario)


def test_context_and_current_task():
    def scenario(T, F, loop, trace):
        async def child(tag):
            trace.append((tag, var.get()))
            var.set(tag)
            await asyncio.sleep(0)
            trace.append((tag, var.get(),
                          asyncio.current_task().get_name()))

        async def main():
            var.set('main')
            await T(child('c1'), loop=loop, name='c1')
            ctx = contextvars.copy_context()
            ctx.run(var.set, 'explicit')
            t = T(child('c2'), loop=loop, name='c2', context=ctx)
            await t
            trace.append(('ctx after', ctx[var], var.get(),
                          t.get_context() is ctx
                          if hasattr(t, 'get_context') else True))
            trace.append(('current', asyncio.current_task().get_name()))

        trace.append(settle(loop, T(main(), loop=loop, name='m')))
        trace.append(('no current', asyncio.current_task(loop)))
    assert_same(scenario)


def test_done_callbacks_and_names():
    def scenario(T, F, loop, trace):
        async def coro():
            await asyncio.sleep(0)
            return 1

        t = T(coro(), loop=loop, name=123)
        trace.append(('name', t.get_name()))
        t.set_name(('a', 1))
        trace.append(('name', t.get_name()))
        for i in range(3):
            t.add_done_callback(lambda f, i=i: trace.append(('cb', i)))
        trace.append(settle(loop, t))
        for meth, arg in (('set_result', 1), ('set_exception', ValueError())):
            try:
                getattr(t, meth)(arg)
            except RuntimeError as exc:
                trace.append((meth, str(exc)))
        trace.append(('coro', t.get_coro().__qualname__))

        try:
            T(42, loop=loop)
        except TypeError as exc:
            trace.append(('typeerror', str(exc)))
    assert_same(scenario)


def test_interop_with_stdlib_objects():
    """A pyasync Task awaits stdlib futures and tasks, a stdlib Task awaits
    pyasync ones; compared against the all-stdlib run."""
    def scenario(T, F, loop, trace):
        async def inner(tag):
            await asyncio.sleep(0)
            return tag

        async def main():
            f = asyncio.Future(loop=loop)
            loop.call_soon(f.set_result, 'stdlib future')
            trace.append(await f)
            trace.append(await asyncio.Task(inner('stdlib task'), loop=loop))
            t = T(inner('our task'), loop=loop)
            trace.append(await asyncio.ensure_future(t))
            # A stdlib task awaiting one of ours, cancelled through it.
            ours = F(loop=loop)

            async def waiter():
                return await ours

            st = asyncio.Task(waiter(), loop=loop)
            await asyncio.sleep(0)
            st.cancel('via stdlib')
            try:
                await st
            except asyncio.CancelledError as exc:
                trace.append(('stdlib task cancelled', exc.args,
                              ours.cancelled()))

        trace.append(settle(loop, T(main(), loop=loop)))
    assert_same(scenario)


def test_system_exit_propagates():
    def scenario(T, F, loop, trace):
        async def die():
            await asyncio.sleep(0)
            raise SystemExit(3)

        t = T(die(), loop=loop, name='die')
        trace.append(settle(loop, t))
        trace.append(task_state(t))
    assert_same(scenario)


def test_destroyed_pending_is_reported():
    import gc

    def scenario(T, F, loop, trace):
        contexts = []
        loop.set_exception_handler(lambda loop, ctx: contexts.append(ctx))

        async def forever():
            await F(loop=loop)

        t = T(forever(), loop=loop, name='lost')
        loop.run_until_complete(asyncio.sleep(0))
        del t
        gc.collect()
        trace.append(sorted((k, normalise(v) if k == 'task' else v)
                            for ctx in contexts for k, v in ctx.items()))
    assert_same(scenario)


if __name__ == '__main__':
    pytest.main([__file__, '-q'])
