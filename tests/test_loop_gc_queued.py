"""Queued handles and the GC: pyasync leaves a handle (and the context it
copied) untracked while only its loop's queue holds it, and the loop's
traverse reports its references.  These check that nothing is freed early,
that cycles through queued or run handles are still collected, and that
asyncio's loop behaves the same where the test makes sense for both."""
import asyncio
import contextvars
import gc
import warnings
import weakref

import pytest

import pyasync

LOOPS = {
    'asyncio': asyncio.new_event_loop,
    'pyasync': pyasync.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def new_loop(request):
    return LOOPS[request.param]


class Marker:
    pass


def _drop_unclosed(names):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        names.clear()
        gc.collect()


def test_dropped_loop_with_pending_cycle_is_collected(new_loop):
    loop = new_loop()
    m = Marker()
    m.loop = loop

    def cb():
        return m

    loop.call_soon(cb)
    loop.call_later(100, cb)
    loop.call_at(loop.time() + 50, cb)
    refs = [weakref.ref(loop), weakref.ref(m)]
    names = {'loop': loop, 'm': m}
    del loop, m, cb
    _drop_unclosed(names)
    assert [r() for r in refs] == [None, None]


def test_cycle_through_copied_context_is_collected(new_loop):
    var = contextvars.ContextVar('var')
    ctx = contextvars.copy_context()

    def schedule():
        loop = new_loop()
        var.set(loop)               # the copies hold the loop
        loop.call_soon(print)
        loop.call_later(100, print)
        return weakref.ref(loop)

    ref = ctx.run(schedule)
    del ctx
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        gc.collect()
    assert ref() is None


def test_stored_handle_cycle_collected_after_run(new_loop):
    loop = new_loop()
    try:
        holder = Marker()

        def cb():
            holder.ran = True

        holder.handle = loop.call_soon(cb)        # holder -> handle -> cb
        holder.timer = loop.call_later(0, cb)
        holder.cancelled = loop.call_later(0, cb)
        holder.cancelled.cancel()
        cb.holder = holder                        # ... -> holder
        ref = weakref.ref(holder)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert holder.ran
        del holder, cb
        gc.collect()
        assert ref() is None
    finally:
        loop.close()


def test_cycle_collected_when_handle_kept_while_queued(new_loop):
    loop = new_loop()
    try:
        holder = Marker()
        holder.handle = loop.call_soon(lambda h=holder: h)
        ref = weakref.ref(holder)
        del holder
        gc.collect()
        assert ref() is not None      # queued: the loop keeps it alive
        loop.run_until_complete(asyncio.sleep(0))
        gc.collect()
        assert ref() is None
    finally:
        loop.close()


def test_gc_while_many_pending_frees_nothing_early(new_loop):
    loop = new_loop()
    try:
        results = []

        def make(i):
            m = Marker()
            m.self = m                # cyclic garbage once it has run
            m.i = i
            return lambda: results.append(m.i)

        for i in range(3000):
            loop.call_soon(make(i))
            if i % 500 == 0:
                loop.call_soon(gc.collect)
        for i in range(300):
            loop.call_later(0, make(-i))
        loop.call_soon(gc.collect)
        gc.collect()
        loop.run_until_complete(asyncio.sleep(0.01))
        assert results[:3000] == list(range(3000))
        assert sorted(results[3000:]) == sorted(-i for i in range(300))
    finally:
        loop.close()


def test_introspection_does_not_crash(new_loop):
    loop = new_loop()
    try:
        kept = loop.call_soon(print, 'x')
        loop.call_soon(print, Marker())
        timer = loop.call_later(100, print, Marker())
        refs = gc.get_referents(loop)
        assert isinstance(refs, list)
        gc.get_referrers(kept)
        for h in (kept, timer):
            gc.is_tracked(h)
            assert h._callback in gc.get_referents(h)
        ctx = kept._context
        assert gc.is_tracked(ctx)
        gc.collect()
    finally:
        loop.close()


def test_close_releases_handles_and_contexts(new_loop):
    loop = new_loop()
    fired = []
    m1, m2 = Marker(), Marker()
    refs = [weakref.ref(m1, fired.append), weakref.ref(m2, fired.append)]
    loop.call_soon(print, m1)
    timer = loop.call_later(100, print, m2)
    href = weakref.ref(timer, fired.append)
    del m1, m2, timer
    loop.close()
    assert len(fired) == 3
    assert all(r() is None for r in refs) and href() is None


def test_handle_outliving_queue_is_tracked():
    loop = pyasync.new_event_loop()
    try:
        h = loop.call_soon(print, 'x')
        t = loop.call_later(0, print, 'y')
        loop.run_until_complete(asyncio.sleep(0.01))
        assert gc.is_tracked(h) and gc.is_tracked(t)
        assert gc.is_tracked(h._context)
    finally:
        loop.close()


def test_context_var_set_stays_in_its_callback(new_loop):
    var = contextvars.ContextVar('var', default='unset')
    loop = new_loop()
    try:
        seen = []

        def setter():
            var.set('set')
            seen.append(var.get())

        def reader():
            seen.append(var.get())

        handles = [loop.call_soon(setter), loop.call_soon(reader),
                   loop.call_later(0, setter), loop.call_later(0, reader)]
        loop.run_until_complete(asyncio.sleep(0.01))
        assert seen == ['set', 'unset', 'set', 'unset']
        assert [h._context.get(var) for h in handles] == \
            ['set', None, 'set', None]
    finally:
        loop.close()


def test_timers_fire_in_deadline_then_scheduling_order():
    # pyasync's promise (asyncio's heapq leaves ties unordered): equal
    # deadlines fire in scheduling order.
    import random
    rng = random.Random(7)
    loop = pyasync.new_event_loop()
    try:
        fired = []
        base = loop.time()
        deadlines = [base + k * 1e-4 for k in range(40)]
        expected = []
        for i in range(3000):
            k = rng.randrange(len(deadlines))
            h = loop.call_at(deadlines[k], fired.append, i)
            if i % 7 == 0:
                h.cancel()
            else:
                expected.append((k, i))
        loop.run_until_complete(asyncio.sleep(0.02))
        assert fired == [i for _, i in sorted(expected)]
    finally:
        loop.close()


def test_dropped_loop_with_stored_pending_handles_is_collected(new_loop):
    # The timeout pattern: an object keeps the handle of a pending timer
    # whose callback is its own bound method; the loop is dropped unclosed.
    class Proto:
        def on_timeout(self):
            pass

    loop = new_loop()
    p = Proto()
    p.timer = loop.call_later(100, p.on_timeout)
    p.soon = loop.call_soon(p.on_timeout)
    p.loop = loop
    refs = [weakref.ref(loop), weakref.ref(p)]
    names = {'loop': loop, 'p': p}
    del loop, p
    _drop_unclosed(names)
    assert [r() for r in refs] == [None, None]


def test_weakly_referenced_pending_handle(new_loop):
    loop = new_loop()
    m = Marker()
    m.loop = loop
    handle = loop.call_soon(print, m)
    href = weakref.ref(handle)
    refs = [weakref.ref(loop), weakref.ref(m)]
    names = {'loop': loop, 'm': m}
    del loop, m, handle
    _drop_unclosed(names)
    assert [r() for r in refs] == [None, None] and href() is None
