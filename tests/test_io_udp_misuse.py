"""_core.UDPHandle and _core.Process driven by hand with bad input: errors,
never crashes."""
import gc
import os
import socket

import pytest

import pyasync
from pyasync import _core


def noop(*args):
    pass


@pytest.fixture
def loop():
    loop = pyasync.new_event_loop()
    yield loop
    loop.close()


def test_udp_handle_bad_construction(loop):
    with pytest.raises(TypeError):
        _core.UDPHandle()
    with pytest.raises(TypeError):
        _core.UDPHandle(object(), 0, noop, noop, noop)
    with pytest.raises(OSError):
        _core.UDPHandle(loop, -1, noop, noop, noop)
    r, w = os.pipe()
    try:
        with pytest.raises(OSError):            # not a socket
            _core.UDPHandle(loop, r, noop, noop, noop)
    finally:
        os.close(r)
        os.close(w)
    closed = pyasync.new_event_loop()
    closed.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(RuntimeError):
        _core.UDPHandle(closed, s.fileno(), noop, noop, noop)
    s.close()


def test_udp_handle_bad_calls(loop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    h = _core.UDPHandle(loop, s.fileno(), noop, noop, noop)
    for args in [(), (b'x',), (b'x', None, None)]:
        with pytest.raises(TypeError):
            h.send(*args)
    with pytest.raises(TypeError):
        h.send('text', ('127.0.0.1', 9))
    for addr in [('127.0.0.1',), 'path', ('no-such-host', 9), (1, 2),
                 ('127.0.0.1', 'port')]:
        with pytest.raises((TypeError, OSError)):
            h.send(b'x', addr)
    with pytest.raises(OSError):
        h.send(b'x', None)                      # not connected
    h.start_reading()
    h.start_reading()
    h.stop_reading()
    h.close()
    h.close()
    assert h.closed and h.pending == 0
    with pytest.raises(RuntimeError):
        h.send(b'x', ('127.0.0.1', 9))
    with pytest.raises(RuntimeError):
        h.start_reading()
    h.stop_reading()
    del h
    s.close()
    loop.run_until_complete(pyasync.sleep(0))   # let the close callback run
    gc.collect()


def test_unclosed_handle_freed_by_loop_close():
    """A transport-like owner in a cycle with its never-closed handle:
    loop close closes the handle, then the GC frees both."""
    import weakref
    loop = pyasync.new_event_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    class Owner:
        def on(self, *args):
            pass

    o = Owner()
    o.h = _core.UDPHandle(loop, s.fileno(), o.on, o.on, o.on)
    o.h.start_reading()
    ref = weakref.ref(o)
    del o
    gc.collect()
    assert ref() is not None                # the open handle keeps it
    loop.close()
    gc.collect()
    assert ref() is None
    s.close()


def test_process_bad_construction(loop):
    def make(**kw):
        args = dict(loop=loop, file=b'true', args=(b'true',), env=None,
                    cwd=None, stdio=(), detached=False, on_exit=noop)
        args.update(kw)
        return _core.Process(**args)

    with pytest.raises(TypeError):
        _core.Process()
    with pytest.raises(TypeError):
        make(loop=object())
    with pytest.raises(TypeError):
        make(file='str')
    with pytest.raises(TypeError):
        make(args=[b'true'])
    with pytest.raises(ValueError):
        make(args=())
    with pytest.raises(ValueError):
        make(args=('str',))
    with pytest.raises(ValueError):
        make(args=(b'tr\0ue',))
    with pytest.raises(ValueError):
        make(env=(b'A=1', 'B=2'))
    with pytest.raises(TypeError):
        make(cwd='str')
    with pytest.raises(TypeError):
        make(stdio=[0])
    with pytest.raises(TypeError):
        make(stdio=('x',))
    with pytest.raises(OverflowError):
        make(stdio=(1 << 40,))
    with pytest.raises(ValueError):
        make(stdio=(-1,) * 5000)
    with pytest.raises(FileNotFoundError):
        make(file=b'/no/such/program')
    with pytest.raises(OSError):
        make(stdio=(12345,))                  # a bad fd for the child
    loop.run_until_complete(pyasync.sleep(0))


def test_process_kill_and_close(loop):
    codes = []
    p = _core.Process(loop, b'sleep', (b'sleep', b'30'), None, None,
                      (-1, -1, -1), False, codes.append)
    assert p.pid > 0 and p.returncode is None
    with pytest.raises(TypeError):
        p.kill('x')
    with pytest.raises(OSError):
        p.kill(12345)                         # no such signal
    assert p.kill(9) is True

    async def wait():
        while not codes:
            await pyasync.sleep(0.001)
    loop.run_until_complete(wait())
    assert codes == [-9] and p.returncode == -9
    assert p.kill(9) is False                 # reaped: nothing sent
    p.close()
    p.close()
