"""sleep(delay, result=None): pyasync's C coroutine (csrc/comb/sleep.c) against
asyncio 3.11's `async def sleep`, scenario by scenario (difftrace)."""
import asyncio
import decimal
import gc
import inspect
import time
import warnings

import pytest

import pyasync
from tests.difftrace import assert_same


def spy_timers(loop, trace):
    """Record every handle loop.call_later() returns (sleep's timers)."""
    handles = []
    real = loop.call_later

    def call_later(delay, callback, *args, **kwargs):
        handle = real(delay, callback, *args, **kwargs)
        handles.append(handle)
        return handle

    loop.call_later = call_later
    return handles


def test_results():
    async def scenario(aio, trace):
        trace('0', await aio.sleep(0))
        trace('0 r', await aio.sleep(0, 'r'))
        trace('-1', await aio.sleep(-1, 'neg'))
        trace('0.0', await aio.sleep(0.0, 'f'))
        trace('False', await aio.sleep(False, 'b'))
        trace('Decimal', await aio.sleep(decimal.Decimal(0), 'd'))
        trace('kw', await aio.sleep(delay=0, result='kw'))
        trace('kw result', await aio.sleep(0, result=[1, 2]))
        trace('d>0', await aio.sleep(0.001, 'later'))
        try:    # the loop's call_later() refuses a Decimal delay
            await aio.sleep(decimal.Decimal('0.001'), 'D')
        except TypeError as exc:
            trace.exc('Decimal>0', exc)
        obj = object()
        trace('same object', await aio.sleep(0.001, obj) is obj,
              await aio.sleep(0, obj) is obj)
    assert_same(scenario)


def test_argument_errors():
    """Binding errors at the call; comparison errors when awaited."""
    async def scenario(aio, trace):
        for args, kwargs in [((), {}), ((1, 2, 3), {}), ((), {'x': 1}),
                             ((1,), {'delay': 2}), ((1, 2), {'result': 3}),
                             ((), {'result': 1}), ((1, 2, 3), {'x': 1})]:
            try:
                aio.sleep(*args, **kwargs)
            except TypeError as exc:
                trace.exc('call', exc)
        for bad in ['x', None, 1j, [], object]:
            coro = aio.sleep(bad)   # no error yet
            trace('made', type(bad).__name__)
            try:
                await coro
            except TypeError as exc:
                trace.exc('await', exc)
        # the coroutine is finished after the error
        coro = aio.sleep('x')
        try:
            await coro
        except TypeError:
            pass
        try:
            await coro
        except RuntimeError as exc:
            trace.exc('reuse', exc)
    assert_same(scenario)


def test_nan_and_odd_real_delays():
    """3.13 refuses a NaN delay with ValueError; earlier versions start a
    timer with it.  Huge ints fail in the loop's call_later either way."""
    class Real:
        def __le__(self, other):
            return False

        def __float__(self):
            return float('nan')

    async def scenario(aio, trace):
        for delay in [float('nan'), 10 ** 400, Real()]:
            try:
                trace(type(delay).__name__, await aio.sleep(delay, 'r'))
            except (ValueError, OverflowError, TypeError) as exc:
                trace.exc(type(delay).__name__, exc)
    assert_same(scenario)


def test_sleep0_order():
    """sleep(0) yields exactly one loop iteration, FIFO with callbacks."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        async def worker(name, n):
            for i in range(n):
                trace('step', name, i)
                loop.call_soon(trace, 'cb', name, i)
                await aio.sleep(0)
            return name

        res = await aio.gather(worker('a', 3), worker('b', 2),
                               worker('c', 4))
        trace('done', res)
    assert_same(scenario)


def test_timers_order_and_cleanup():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        handles = spy_timers(loop, trace)

        async def sleeper(name, d):
            trace('start', name)
            r = await aio.sleep(d, name)
            trace('woke', r)
            return r

        res = await aio.gather(sleeper('c', 0.03), sleeper('a', 0.01),
                               sleeper('b', 0.02), sleeper('z', 0))
        trace('res', res)
        trace('timers', len(handles), [h.cancelled() for h in handles])
    assert_same(scenario)


def test_cancel_at_each_point():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        handles = spy_timers(loop, trace)

        async def outcome(t):
            try:
                trace('result', await t)
            except aio.CancelledError as exc:
                trace('cancelled', exc.args)

        # before the coroutine first runs
        t = aio.ensure_future(aio.sleep(10, 'x'))
        t.cancel('early')
        await outcome(t)
        # at sleep(0)'s bare yield
        t = aio.ensure_future(aio.sleep(0, 'x'))
        await aio.sleep(0)
        trace('yield done?', t.done())
        t.cancel('at yield')
        await outcome(t)
        # while waiting for the timer
        n = len(handles)
        t = aio.create_task(aio.sleep(10, 'x'))
        await aio.sleep(0)
        t.cancel('waiting')
        await outcome(t)
        trace('timer cancelled', [h.cancelled() for h in handles[n:]])
        # cancelled twice while waiting
        t = aio.create_task(aio.sleep(10, 'x'))
        await aio.sleep(0)
        t.cancel('one')
        t.cancel('two')
        await outcome(t)
        # after the timer fired, before the task resumed
        n = len(handles)
        t = aio.create_task(aio.sleep(0.005, 'fired'))
        await aio.sleep(0)
        loop.call_later(0.01, t.cancel, 'late')
        time.sleep(0.03)     # both timers due in the same iteration
        await outcome(t)
        trace('late timers', [h.cancelled() for h in handles[n:]])
        # a cancelled waiter inside a Python coroutine that catches it
        async def catcher():
            try:
                await aio.sleep(10)
            except aio.CancelledError:
                trace('caught')
                return await aio.sleep(0, 'after')
        t = aio.create_task(catcher())
        await aio.sleep(0)
        t.cancel()
        await outcome(t)
    assert_same(scenario)


def test_throw_close_and_manual_driving():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        handles = spy_timers(loop, trace)
        # close while waiting: the timer is cancelled
        coro = aio.sleep(10, 'x')
        fut = coro.send(None)
        trace('yielded future', aio.isfuture(fut), fut.done())
        coro.close()
        trace('closed', handles[-1].cancelled(), fut.done())
        # throw while waiting: raised out, timer cancelled
        coro = aio.sleep(10, 'x')
        coro.send(None)
        try:
            coro.throw(ValueError('boom'))
        except ValueError as exc:
            trace.exc('throw', exc)
        trace('thrown', handles[-1].cancelled())
        # the future resolved by hand: its result is returned
        coro = aio.sleep(10, 'x')
        fut = coro.send(None)
        fut.set_result('by hand')
        try:
            coro.send(None)
        except StopIteration as exc:
            trace('stop', exc.value, handles[-1].cancelled())
        # sleep(0) driven by hand yields None once, then returns
        coro = aio.sleep(0, 'r')
        trace('bare', coro.send(None))
        try:
            coro.send(None)
        except StopIteration as exc:
            trace('stop0', exc.value)
        # throw at sleep(0)'s yield, and close before start
        coro = aio.sleep(0)
        coro.send(None)
        try:
            coro.throw(KeyError('k'))
        except KeyError as exc:
            trace.exc('throw0', exc)
        aio.sleep(1).close()
        # close at sleep(0)'s yield ends it quietly; it cannot go on
        coro = aio.sleep(0)
        coro.send(None)
        trace('close0', coro.close())
        try:
            coro.send(None)
        except RuntimeError as exc:
            trace.exc('send after close0', exc)
        # a value sent in at the yield is ignored: the result is returned
        coro = aio.sleep(0, 'res')
        coro.send(None)
        try:
            coro.send('ignored')
        except StopIteration as exc:
            trace('sent in', exc.value)
        try:
            coro.send(None)
        except RuntimeError as exc:
            trace.exc('reuse0', exc)
        # a closed-before-start coroutine cannot be awaited
        coro = aio.sleep(0)
        coro.close()
        try:
            await coro
        except RuntimeError as exc:
            trace.exc('closed await', exc)
    assert_same(scenario)


def test_combinators_accept_it():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        handles = spy_timers(loop, trace)
        coro = aio.sleep(0, 1)
        trace('iscoroutine', aio.iscoroutine(coro),
              asyncio.iscoroutine(coro), inspect.isawaitable(coro))
        trace('create_task', await aio.create_task(coro))
        trace('ensure_future', await aio.ensure_future(aio.sleep(0, 2)))
        trace('loop.create_task', await loop.create_task(aio.sleep(0, 3)))
        trace('gather', await aio.gather(aio.sleep(0, 'a'),
                                         aio.sleep(0.001, 'b')))
        trace('wait_for', await aio.wait_for(aio.sleep(0, 'w'), 1))
        try:
            await aio.wait_for(aio.sleep(10), 0.005)
        except TimeoutError as exc:
            trace.exc('wait_for timeout', exc)
        trace('timeout timers', [h.cancelled() for h in handles[-2:]])
        done, pending = await aio.wait([aio.ensure_future(aio.sleep(0, 5))])
        trace('wait', [t.result() for t in done], len(pending))
        trace('shield', await aio.shield(aio.sleep(0, 's')))
        try:
            async with aio.timeout(0.005):
                await aio.sleep(10)
        except TimeoutError as exc:
            trace.exc('timeout()', exc)
    assert_same(scenario)


def test_outside_a_running_loop():
    def scenario(aio, trace):
        coro = aio.sleep(1)
        try:
            coro.send(None)
        except RuntimeError as exc:
            trace.exc('no loop', exc)
        coro = aio.sleep(0, 'r')
        trace('bare', coro.send(None))
        try:
            coro.send(None)
        except StopIteration as exc:
            trace('stop', exc.value)
        trace('run', aio.run(aio.sleep(0, 'run0')),
              aio.run(aio.sleep(0.001, 'run1')))
        loop = aio.new_event_loop()
        try:
            trace('ruc', loop.run_until_complete(aio.sleep(0.001, 'u')))
        finally:
            loop.close()
    assert_same(scenario, via_run=False)


def test_never_awaited_warning():
    def scenario(aio, trace):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            coro = aio.sleep(1)
            del coro
            gc.collect()
        trace('warnings', [(x.category.__name__, str(x.message)) for x in w])
        # a started one does not warn; a collected suspended one cancels
        # its timer (run under a loop)
        async def main():
            loop = aio.get_running_loop()
            handles = spy_timers(loop, trace)
            coro = aio.sleep(10)
            coro.send(None)
            del coro
            gc.collect()
            trace('collected', handles[-1].cancelled())
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            aio.run(main())
        trace('warnings2', [str(x.message) for x in w])
    assert_same(scenario, via_run=False)


def test_pyasync_sleep_on_a_stdlib_loop():
    """pyasync.sleep awaited by asyncio Tasks on asyncio's own loop calls
    that loop's methods, and behaves as asyncio.sleep does there."""
    def run(sleep):
        trace = []

        async def main():
            loop = asyncio.get_running_loop()
            handles = spy_timers(loop, trace)
            trace.append(('0', await sleep(0, 'z')))
            trace.append(('d', await sleep(0.001, 'd')))
            t = asyncio.create_task(sleep(10))
            await sleep(0)
            t.cancel('msg')
            try:
                await t
            except asyncio.CancelledError as exc:
                trace.append(('cancelled', exc.args))
            trace.append(('timers', [h.cancelled() for h in handles]))
            trace.append(('gather', await asyncio.gather(sleep(0, 1),
                                                         sleep(0.001, 2))))
        asyncio.run(main())
        return trace
    assert run(pyasync.sleep) == run(asyncio.sleep)


def test_pyasync_loop_has_no_leftover_timers():
    """pyasync only: every exit of sleep leaves the timer heap empty once
    the cancelled timers are swept."""
    async def main():
        loop = asyncio.get_running_loop()
        t = asyncio.ensure_future(pyasync.sleep(10))
        await pyasync.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        await pyasync.sleep(0.001)
        coro = pyasync.sleep(10)
        coro.send(None)
        coro.close()
        for _ in range(3):
            await pyasync.sleep(0)
        return loop._scheduled_count
    assert pyasync.run(main()) == 0


def test_signature_and_names():
    assert str(inspect.signature(pyasync.sleep)) == \
        str(inspect.signature(asyncio.sleep))
    coro = pyasync.sleep(0)
    assert coro.__name__ == 'sleep' and coro.__qualname__ == 'sleep'
    assert repr(coro).startswith('<coroutine object sleep at 0x')
    coro.close()


def test_known_differences():
    """Documented, not faked: a C coroutine has no code object or frame.

    - A task wrapping sleep directly shows `coro=<sleep()>` where asyncio
      shows `coro=<sleep() running at .../asyncio/tasks.py:NNN>`
      (asyncio.coroutines._format_coroutine needs cr_code/cr_frame; a
      fake code object would be a lie about where it runs).  No
      differential test, notebook or CPython suite compares such a repr
      (tests/difftrace.py does not normalise paths, so the old Python
      sleep already differed: pyasync/tasks.py vs asyncio/tasks.py).
    - pyasync.sleep is a builtin, so inspect/asyncio.iscoroutinefunction()
      return False for it (asyncio's is an `async def`).
    """
    async def main():
        t = asyncio.ensure_future(pyasync.sleep(10))
        await pyasync.sleep(0)
        r = repr(t)
        t.cancel()
        return r
    r = pyasync.run(main())
    assert 'coro=<sleep()>' in r, r
    assert not asyncio.iscoroutinefunction(pyasync.sleep)
    assert asyncio.iscoroutinefunction(asyncio.sleep)
