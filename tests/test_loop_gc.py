"""Freeing: closed or collected loops release libuv and every queued
object; reference cycles through the queues are collectable."""
import asyncio
import gc
import os
import warnings
import weakref

import pyasync


def _fd_count():
    return len(os.listdir('/proc/self/fd'))


class Marker:
    pass


def test_close_releases_queued_objects():
    loop = pyasync.new_event_loop()
    m1, m2 = Marker(), Marker()
    r1, r2 = weakref.ref(m1), weakref.ref(m2)
    loop.call_soon(print, m1)
    loop.call_later(100, print, m2)
    del m1, m2
    assert r1() is not None and r2() is not None
    loop.close()
    assert r1() is None and r2() is None


def test_cycle_through_queues_is_collected():
    loop = pyasync.new_event_loop()
    m = Marker()
    m.loop = loop
    loop.call_soon(print, m)
    loop.call_later(100, print, m)
    loop.self_ref = loop
    ref = weakref.ref(loop)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        del loop, m
        gc.collect()
    assert ref() is None


def test_collected_loop_frees_fds():
    gc.collect()
    before = _fd_count()
    for _ in range(50):
        loop = pyasync.new_event_loop()
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
    assert _fd_count() <= before
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        for _ in range(50):
            loop = pyasync.new_event_loop()
            del loop
        gc.collect()
    assert _fd_count() <= before


def test_callback_destructor_schedules_during_close():
    # A destructor that schedules on the loop while close() drops queues.
    loop = pyasync.new_event_loop()

    class Rescheduler:
        def __del__(self):
            try:
                loop.call_soon(print)
                loop.call_later(1, print)
            except RuntimeError:
                pass

    loop.call_soon(print, Rescheduler())
    loop.call_later(1, print, Rescheduler())
    loop.close()
    assert loop._ready_count == 0 and loop._scheduled_count == 0


def test_many_callbacks_ring_growth():
    loop = pyasync.new_event_loop()
    try:
        out = []
        for i in range(10000):
            loop.call_soon(out.append, i)
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert out == list(range(10000))
    finally:
        loop.close()


def test_loop_weakref_and_dict():
    loop = pyasync.new_event_loop()
    try:
        r = weakref.ref(loop)
        loop.custom = 1
        assert r() is loop and loop.__dict__['custom'] == 1
    finally:
        loop.close()


def test_no_reference_leaks_on_hot_and_error_paths():
    import contextvars
    import sys
    loop = pyasync.new_event_loop()
    loop.set_exception_handler(lambda lp, c: None)

    def cb(*a):
        pass

    def bad(*a):
        raise ValueError(a)

    arg = object()
    ctx = contextvars.copy_context()

    def counts():
        gc.collect()
        return [sys.getrefcount(o) for o in (cb, bad, arg, ctx)]

    def one_round():
        for _ in range(200):
            loop.call_soon(cb, arg)
            loop.call_soon(bad, arg, context=ctx)
            loop.call_later(0, cb, arg, context=ctx)
            loop.call_later(0, bad, arg)
            loop.call_later(1, cb, arg).cancel()
            loop.call_soon(cb, arg).cancel()
            loop.call_soon_threadsafe(cb, arg)
        loop.call_later(0.001, loop.stop)
        loop.run_forever()

    try:
        one_round()
        before = counts()
        for _ in range(3):
            one_round()
        assert counts() == before
    finally:
        loop.close()
