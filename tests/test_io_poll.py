"""add_reader/add_writer/remove_*: differential against asyncio's
selector loop, plus the shared-uv_poll bookkeeping."""
import os
import socket

import pytest

import pyasync


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_reader_on_socketpair(differential):
    def scenario(loop):
        trace = []
        a, b = pair()

        def on_read():
            data = a.recv(100)
            trace.append(('read', data))
            if data == b'stop':
                trace.append(('removed', loop.remove_reader(a.fileno())))
                loop.stop()
        trace.append(('add', loop.add_reader(a.fileno(), on_read)))
        loop.call_soon(b.send, b'one')
        loop.call_later(0.01, b.send, b'stop')
        loop.run_forever()
        trace.append(('again', loop.remove_reader(a.fileno())))
        a.close()
        b.close()
        return trace
    differential(scenario)


def test_reader_on_pipe(differential):
    def scenario(loop):
        trace = []
        r, w = os.pipe()
        os.set_blocking(r, False)

        def on_read():
            trace.append(('read', os.read(r, 100)))
            loop.remove_reader(r)
            loop.stop()
        loop.add_reader(r, on_read)
        loop.call_soon(os.write, w, b'pipe data')
        loop.run_forever()
        os.close(r)
        os.close(w)
        return trace
    differential(scenario)


def test_reader_and_writer_on_one_fd(differential):
    def scenario(loop):
        trace = []
        a, b = pair()

        def on_write():
            trace.append('writable')
            a.send(b'x')
            trace.append(('rw', loop.remove_writer(a)))

        def on_read():
            trace.append(('read', a.recv(10)))
            trace.append(('rr', loop.remove_reader(a)))
            loop.stop()
        loop.add_reader(a, on_read)
        loop.add_writer(a, on_write)
        loop.call_later(0.01, b.send, b'reply')
        loop.run_forever()
        trace.append(('peer', b.recv(10)))
        a.close()
        b.close()
        return trace
    differential(scenario)


def test_replacing_a_reader_cancels_the_old_handle():
    for loop in (__import__('asyncio').new_event_loop(),
                 pyasync.new_event_loop()):
        a, b = pair()
        seen = []
        h1 = loop._add_reader(a, seen.append, 1)
        h2 = loop._add_reader(a, seen.append, 2)
        assert h1.cancelled() and not h2.cancelled()
        b.send(b'x')
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
        assert seen and set(seen) == {2}
        assert loop.remove_reader(a) is True
        assert h2.cancelled()
        assert loop.remove_reader(a) is False
        assert loop.remove_writer(a) is False
        loop.close()
        a.close()
        b.close()


def test_fileno_objects_and_bad_fds(differential):
    def scenario(loop):
        trace = []
        a, b = pair()

        class F:
            def fileno(self):
                return a.fileno()

        class Bad:
            def fileno(self):
                return 'nope'

        loop.add_reader(F(), lambda: None)
        trace.append(('rm', loop.remove_reader(a.fileno())))
        for obj in (object(), Bad(), -1, 'x', None):
            for meth in (loop.add_reader, loop.add_writer):
                try:
                    meth(obj, lambda: None)
                except Exception as e:
                    trace.append((type(e).__name__,
                                  str(e).split(' at 0x')[0]))
            try:
                loop.remove_reader(obj)
            except Exception as e:
                trace.append((type(e).__name__, str(e).split(' at 0x')[0]))
        a.close()
        b.close()
        return trace
    differential(scenario)


def test_closed_loop(differential):
    def scenario(loop):
        trace = []
        a, b = pair()
        loop.close()
        for meth in (loop.add_reader, loop.add_writer):
            try:
                meth(a, lambda: None)
            except RuntimeError as e:
                trace.append(str(e))
        trace.append(loop.remove_reader(a))
        trace.append(loop.remove_writer(a))
        for fd in (-1, object()):
            try:
                loop.add_reader(fd, lambda: None)
            except (ValueError, RuntimeError) as e:
                trace.append((type(e).__name__, str(e).split(' at 0x')[0]))
            trace.append(loop.remove_reader(-1))
        a.close()
        b.close()
        return trace
    differential(scenario)


def test_cancelled_reader_is_removed_on_its_event():
    loop = pyasync.new_event_loop()
    a, b = pair()
    h = loop._add_reader(a, lambda: None)
    h.cancel()
    b.send(b'x')
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert loop._poll_mask(a) == 0
    assert loop.remove_reader(a) is False
    loop.close()
    a.close()
    b.close()


def test_one_poll_mask_for_reader_and_writer():
    loop = pyasync.new_event_loop()
    a, b = pair()
    loop.add_reader(a, lambda: None)
    assert loop._poll_mask(a) == 1
    loop.add_writer(a, lambda: None)
    assert loop._poll_mask(a) == 3
    loop.remove_reader(a)
    assert loop._poll_mask(a) == 2
    loop.remove_writer(a)
    assert loop._poll_mask(a) == 0
    loop.close()
    a.close()
    b.close()


def test_blocking_mode_left_alone():
    loop = pyasync.new_event_loop()
    a, b = socket.socketpair()
    loop.add_reader(a, lambda: None)
    assert a.getblocking() and os.get_blocking(a.fileno())
    loop.remove_reader(a)
    loop.close()
    a.close()
    b.close()


def test_fd_closed_while_registered_does_not_crash():
    loop = pyasync.new_event_loop()
    a, b = pair()
    fd = a.fileno()
    loop.add_reader(fd, lambda: None)
    a.close()
    b.close()
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert loop.remove_reader(fd) is True
    loop.close()


def test_regular_file_refused(tmp_path, any_loop):
    with open(tmp_path / 'f', 'wb') as f:
        with pytest.raises(PermissionError):
            any_loop.add_reader(f, lambda: None)


def test_close_with_registered_fds():
    loop = pyasync.new_event_loop()
    a, b = pair()
    loop.add_reader(a, lambda: None)
    loop.add_writer(b, lambda: None)
    loop.close()
    a.close()
    b.close()


def test_callback_exception_goes_to_handler(differential):
    def scenario(loop):
        trace = []
        a, b = pair()

        def boom():
            loop.remove_reader(a)
            loop.stop()
            raise ZeroDivisionError('x')
        loop.set_exception_handler(
            lambda lp, ctx: trace.append((ctx['message'],
                                          type(ctx['exception']).__name__)))
        loop.add_reader(a, boom)
        b.send(b'x')
        loop.run_forever()
        a.close()
        b.close()
        return trace
    differential(scenario)


def test_io_callbacks_join_before_due_timers(differential):
    import time

    def scenario(loop):
        trace = []
        a, b = pair()

        def on_read():
            trace.append(('read', a.recv(10)))
            loop.remove_reader(a)

        def kick():
            trace.append('kick')
            loop.call_soon(trace.append, 'soon')
            loop.call_later(0.001, trace.append, 'timer')
            b.send(b'x')
            time.sleep(0.02)     # both the fd and the timer are ready now
        loop.add_reader(a, on_read)
        loop.call_soon(kick)
        loop.call_later(0.1, loop.stop)
        loop.run_forever()
        a.close()
        b.close()
        return trace
    assert differential(scenario) == ['kick', 'soon', ('read', b'x'),
                                      'timer']


def test_reader_and_writer_same_iteration_order(differential):
    def scenario(loop):
        trace = []
        a, b = pair()
        b.send(b'x')
        loop.add_writer(a, lambda: (trace.append('w'),
                                    loop.remove_writer(a)))
        loop.add_reader(a, lambda: (trace.append(('r', a.recv(1))),
                                    loop.remove_reader(a)))
        loop.call_later(0.02, loop.stop)
        loop.run_forever()
        a.close()
        b.close()
        return trace
    assert differential(scenario) == [('r', b'x'), 'w']


def test_other_thread_refused_while_running():
    import threading
    loop = pyasync.new_event_loop()
    a, b = pair()
    errors = []

    def other():
        try:
            loop.add_reader(a, lambda: None)
        except RuntimeError as e:
            errors.append(str(e))
        loop.call_soon_threadsafe(loop.stop)
    loop.call_soon(threading.Thread(target=other).start)
    loop.run_forever()
    assert errors and 'Non-thread-safe' in errors[0]
    loop.close()
    a.close()
    b.close()


def test_fd_used_by_transport(differential):
    class FakeTransport:
        def __init__(self, closing):
            self.closing = closing

        def is_closing(self):
            return self.closing

        def __repr__(self):
            return '<FakeTransport>'

    def scenario(loop):
        import weakref
        trace = []
        a, b = pair()
        if not hasattr(loop, '_transports'):     # until the transports
            loop._transports = weakref.WeakValueDictionary()
        t1, t2 = FakeTransport(False), FakeTransport(True)
        loop._transports[a.fileno()] = t1
        loop._transports[b.fileno()] = t2
        for meth in (loop.add_reader, loop.add_writer):
            try:
                meth(a, lambda: None)
            except RuntimeError as e:
                trace.append(str(e).replace(str(a.fileno()), 'FD'))
        try:
            loop.remove_reader(a.fileno())
        except RuntimeError as e:
            trace.append(str(e).replace(str(a.fileno()), 'FD'))
        loop.add_reader(b, lambda: None)
        trace.append(loop.remove_reader(b))
        loop._transports.clear()
        a.close()
        b.close()
        return trace
    differential(scenario)
