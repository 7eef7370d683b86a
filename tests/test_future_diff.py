"""Differential tests: pyasync._core.Future against asyncio.Future.

Each scenario runs once per implementation on a fresh stdlib event loop and
records a trace (what ran, in which order, with which outcome); the traces
must be equal once the class names are normalised."""
import asyncio
import contextvars
import gc
import re
import sys

import pytest

import pyasync._core as core

IMPLS = [asyncio.Future, core.Future]
var = contextvars.ContextVar('var', default='-')


def outcome(fn, *args, **kwargs):
    """('ok', value) or ('raise', type name, message)."""
    try:
        return ('ok', fn(*args, **kwargs))
    except BaseException as exc:  # noqa: B902 - we record everything
        return ('raise', type(exc).__name__, str(exc))


def normalise(obj):
    text = repr(obj)
    text = re.sub(r'0x[0-9a-f]+', '0x?', text)
    text = text.replace('pyasync._core.', '_asyncio.')
    return text


def run_both(scenario):
    traces = []
    for F in IMPLS:
        loop = asyncio.new_event_loop()
        try:
            trace = []
            scenario(F, loop, trace)
            traces.append(normalise(trace))
        finally:
            loop.close()
    return traces


def assert_same(scenario):
    py, c = run_both(scenario)
    assert py == c


def run_briefly(loop, n=3):
    for _ in range(n):
        loop.run_until_complete(asyncio.sleep(0))


def test_callback_order_and_removal():
    def scenario(F, loop, trace):
        f = F(loop=loop)
        cbs = {name: (lambda fut, name=name: trace.append(('cb', name)))
               for name in 'abcde'}
        for name in 'abcab':
            f.add_done_callback(cbs[name])
        trace.append(('removed', f.remove_done_callback(cbs['a'])))
        trace.append(('removed', f.remove_done_callback(cbs['e'])))
        loop.call_soon(trace.append, 'soon-before')
        f.set_result(1)
        loop.call_soon(trace.append, 'soon-after')
        f.add_done_callback(cbs['d'])
        trace.append(('removed-after-done', f.remove_done_callback(cbs['b'])))
        run_briefly(loop)
    assert_same(scenario)


def test_callbacks_see_their_context():
    def scenario(F, loop, trace):
        f = F(loop=loop)
        for value in ('x', 'y'):
            token = var.set(value)
            f.add_done_callback(lambda fut: trace.append(var.get()))
            var.reset(token)
        ctx = contextvars.copy_context()
        ctx.run(var.set, 'explicit')
        f.add_done_callback(lambda fut: trace.append(var.get()), context=ctx)
        f.cancel()
        f.add_done_callback(lambda fut: trace.append(('late', var.get())))
        run_briefly(loop)
    assert_same(scenario)


def test_errors_and_messages():
    def scenario(F, loop, trace):
        f = F(loop=loop)
        trace.append(outcome(f.result))
        trace.append(outcome(f.exception))
        # On fresh futures: 3.13 stores a RuntimeError instead of refusing.
        for stop in (StopIteration, StopIteration()):
            s = F(loop=loop)
            trace.append(outcome(s.set_exception, stop))
            trace.append(outcome(s.exception) if s.done() else 'pending')
        trace.append(outcome(f.set_exception, 42))
        trace.append(outcome(f.set_exception, object))
        trace.append(outcome(F, 1))
        trace.append(outcome(F, loop=loop, x=1))
        trace.append(outcome(F, x=1))
        trace.append(outcome(F, 1, loop=loop))
        trace.append(outcome(f.cancel, 1, 2))
        trace.append(outcome(f.add_done_callback))
        trace.append(outcome(f.add_done_callback, print, ctx=None))
        trace.append(outcome(f.cancel, 'a', msg='b'))
        trace.append(outcome(f.cancel, bogus=1))
        f.set_result(5)
        trace.append(outcome(f.set_result, 6))
        trace.append(outcome(f.set_exception, ValueError))
        trace.append(outcome(f.cancel))
        trace.append((f.result(), f.exception(), f.done(), f.cancelled()))
        g = F(loop=loop)
        trace.append(outcome(g.cancel, 'bye'))
        trace.append(outcome(g.result))
        trace.append(outcome(g.exception))
        trace.append(outcome(g.set_result, 1))
        trace.append((g._cancel_message, g._state, g.cancelled()))
        err = g._make_cancelled_error()
        trace.append((type(err).__name__, err.args))
        h = F(loop=loop)
        trace.append(outcome(h.set_exception, KeyError))
        trace.append((type(h.exception()).__name__, h._log_traceback))
        trace.append(outcome(setattr, h, '_log_traceback', True))
        trace.append(outcome(delattr, h, '_asyncio_future_blocking'))
        trace.append(outcome(setattr, h, '_state', 'x'))
    assert_same(scenario)


def test_uninitialized():
    def scenario(F, loop, trace):
        for name in ('result', 'exception', 'done', 'cancelled', 'get_loop',
                     'cancel', '__repr__', '__iter__', '__await__'):
            u = F.__new__(F)
            trace.append((name, outcome(getattr(u, name))))
        for name in ('_state', '_loop', '_result', '_exception',
                     '_callbacks', '_log_traceback', '_source_traceback',
                     '_cancel_message', '_asyncio_future_blocking'):
            u = F.__new__(F)
            trace.append((name, outcome(getattr, u, name)))
        u = F.__new__(F)
        trace.append(outcome(u.set_result, 1))
        trace.append(outcome(u.set_exception, ValueError))
        trace.append(outcome(u.add_done_callback, print))
        trace.append(outcome(u.remove_done_callback, print))
    assert_same(scenario)


def test_repr_shapes():
    def first(fut):
        pass

    def scenario(F, loop, trace):
        f = F(loop=loop)
        trace.append(repr(f))
        f.add_done_callback(first)
        trace.append(repr(f))
        for _ in range(4):
            f.add_done_callback(first)
        trace.append(repr(f))
        f.set_result('x' * 100)
        trace.append(repr(f))
        g = F(loop=loop)
        g.set_exception(ValueError('bad'))
        trace.append(repr(g))
        g.exception()
        h = F(loop=loop)
        h.cancel()
        trace.append(repr(h))
        r = F(loop=loop)
        r.set_result(r)  # recursive repr
        trace.append(repr(r))
        loop.set_debug(True)
        d = F(loop=loop)
        trace.append(re.sub(r':\d+>', ':N>', repr(d)))
        d.cancel()
        loop.set_debug(False)
        run_briefly(loop)
    py, c = run_both(scenario)
    assert py.replace('_asyncio', '') == c
    # Class names are the same too: both are called "Future".


def test_never_retrieved_reported():
    def scenario(F, loop, trace):
        loop.set_exception_handler(
            lambda lp, ctx: trace.append(
                (ctx['message'], type(ctx['exception']).__name__,
                 type(ctx['future']).__name__,
                 'source_traceback' in ctx)))
        f = F(loop=loop)
        f.set_exception(ZeroDivisionError())
        del f
        gc.collect()
        g = F(loop=loop)
        g.set_exception(ZeroDivisionError())
        g.exception()
        del g
        loop.set_debug(True)
        h = F(loop=loop)
        h.set_exception(RuntimeError)
        del h
        gc.collect()
        loop.set_debug(False)

        class Sub(F):
            pass
        s = Sub(loop=loop)
        s.set_exception(OSError)
        del s
        gc.collect()
        trace.append('end')
    assert_same(scenario)


def test_stdlib_task_awaits_future():
    def scenario(F, loop, trace):
        async def waiter(fut, label):
            try:
                trace.append((label, await fut))
            except BaseException as exc:
                trace.append((label, type(exc).__name__, exc.args))
                raise

        async def main():
            f1 = F(loop=loop)
            t1 = asyncio.ensure_future(waiter(f1, 'result'))
            await asyncio.sleep(0)
            f1.set_result((1, 2))
            await t1
            f2 = F(loop=loop)
            t2 = asyncio.ensure_future(waiter(f2, 'exc'))
            await asyncio.sleep(0)
            f2.set_exception(ValueError('v'))
            trace.append(outcome(lambda: None))
            try:
                await t2
            except ValueError:
                trace.append('t2 raised')
            f3 = F(loop=loop)
            t3 = asyncio.ensure_future(waiter(f3, 'cancel'))
            await asyncio.sleep(0)
            t3.cancel('stop')
            try:
                await t3
            except asyncio.CancelledError:
                trace.append(('t3 cancelled', f3.cancelled(),
                              f3._cancel_message))
            f4 = F(loop=loop)
            loop.call_later(0.001, f4.set_result, 'late')
            trace.append(await asyncio.wait_for(f4, 1))
            f5, f6 = F(loop=loop), F(loop=loop)
            loop.call_soon(f6.set_result, 6)
            loop.call_soon(f5.set_result, 5)
            trace.append(await asyncio.gather(f5, f6))
            f7 = F(loop=loop)
            shielded = asyncio.shield(f7)
            shielded.cancel()
            f7.set_result(7)
            trace.append((shielded.cancelled(), f7.result()))

        loop.run_until_complete(main())
    assert_same(scenario)


def test_future_iter_protocol():
    def scenario(F, loop, trace):
        f = F(loop=loop)
        it = f.__await__()
        trace.append(it.send(None) is f)
        trace.append(f._asyncio_future_blocking)
        trace.append(outcome(it.send, None))
        f.set_result([1])
        it2 = iter(f)
        try:
            next(it2)
        except StopIteration as exc:
            trace.append(('stop', exc.value))
        trace.append(outcome(next, it2))
        g = F(loop=loop)
        it3 = iter(g)
        trace.append(outcome(it3.throw, ValueError('x')))
        trace.append(outcome(it3.throw, ValueError, 'y'))
        trace.append(outcome(it3.throw, 1))
        for args in [(ValueError, None, None), (ValueError, ValueError('z')),
                     (Exception, Exception('e'), 32),
                     (KeyError, ('a', 'b')), (Exception('i'), 'v'),
                     (list,), ()]:
            trace.append(outcome(iter(F(loop=loop)).throw, *args))
        try:
            iter(F(loop=loop)).throw(KeyError, 'k')
        except KeyError as exc:
            trace.append(('throw args', exc.args))
        trace.append(outcome(it3.close))
        h = F(loop=loop)
        h.set_exception(KeyError('k'))
        trace.append(outcome(next, iter(h)))
        g.cancel()
    assert_same(scenario)


def test_remove_done_callback_reentrant():
    def scenario(F, loop, trace):
        fut = F(loop=loop)
        fut.add_done_callback(str)
        for _ in range(10):
            fut.add_done_callback(id)

        class Evil:
            calls = 0

            def __eq__(self, other):
                Evil.calls += 1
                if Evil.calls == 3:
                    fut.add_done_callback(repr)
                if Evil.calls == 5:
                    trace.append(('inner', fut.remove_done_callback(id)))
                return other is repr

        trace.append(('outer', fut.remove_done_callback(Evil())))
        trace.append([cb.__name__ for cb, _ in (fut._callbacks or [])])
        fut.set_result(None)
        run_briefly(loop)
    assert_same(scenario)


def test_isfuture_and_generic_alias():
    def scenario(F, loop, trace):
        f = F(loop=loop)
        trace.append(asyncio.isfuture(f))
        trace.append(asyncio.isfuture(F))
        trace.append(F[int].__args__)
        trace.append(f.get_loop() is loop)
        trace.append(f._loop is loop)
        f.cancel()
    assert_same(scenario)


@pytest.mark.skipif(not hasattr(sys, 'getrefcount'), reason='CPython only')
def test_no_reference_leaks():
    loop = asyncio.new_event_loop()
    try:
        def churn():
            for _ in range(200):
                f = core.Future(loop=loop)
                f.add_done_callback(lambda fut: None)
                f.add_done_callback(lambda fut: None)
                f.remove_done_callback(id)
                f.set_exception(ValueError('x'))
                try:
                    f.result()
                except ValueError:
                    pass
                g = core.Future(loop=loop)
                g.cancel('m')
                try:
                    g.result()
                except asyncio.CancelledError:
                    pass
                h = core.Future(loop=loop)
                h.set_result((1, 2))
                try:
                    next(iter(h))
                except StopIteration:
                    pass
            run_briefly(loop)
        churn()
        gc.collect()
        before = sys.gettotalrefcount() if hasattr(sys, 'gettotalrefcount') \
            else len(gc.get_objects())
        churn()
        gc.collect()
        after = sys.gettotalrefcount() if hasattr(sys, 'gettotalrefcount') \
            else len(gc.get_objects())
        assert after - before < 50
    finally:
        loop.close()


def test_subclass_construction():
    def scenario(F, loop, trace):
        class WithInit(F):
            def __init__(self, *args, **kwargs):
                trace.append(('init', args, sorted(kwargs)))
                super().__init__(loop=kwargs.get('loop'))

        class WithNew(F):
            def __new__(cls, *args, **kwargs):
                trace.append(('new', args))
                return super().__new__(cls)

        class Plain(F):
            pass

        w = WithInit(1, loop=loop)
        trace.append((type(w).__name__, w.get_loop() is loop, repr(w)))
        n = WithNew(loop=loop)
        trace.append((type(n).__name__, n.get_loop() is loop))
        p = Plain(loop=loop)
        trace.append((type(p).__name__, repr(p)))
        trace.append(outcome(Plain, 1))
        p.attr = 5
        trace.append(p.attr)
        for fut in (w, n, p):
            fut.cancel()
    assert_same(scenario)
