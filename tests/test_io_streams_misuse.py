"""The C stream transport and listener with bad arguments, out-of-order
calls and a closed loop: exceptions, never crashes."""
import asyncio
import gc
import os
import socket

import pytest

import pyasync
from pyasync import _core


@pytest.fixture
def loop():
    lp = pyasync.new_event_loop()
    yield lp
    if not lp.is_closed():
        lp.close()


def test_cannot_instantiate():
    with pytest.raises(TypeError):
        _core.StreamTransport()
    assert issubclass(_core.StreamTransport, asyncio.Transport)


def test_bad_arguments(loop):
    with pytest.raises(ValueError):
        loop._stream_new(7, -1)
    with pytest.raises(OSError):
        loop._stream_new(0, 10 ** 6)            # not an fd
    with pytest.raises(TypeError):
        loop._stream_new('tcp')
    with pytest.raises(ValueError):
        loop._listen(2, 0, 1, print)
    with pytest.raises(OSError):
        loop._listen(0, 10 ** 6, 1, print)
    tr = loop._stream_new(0, -1)
    for bad in (None, ('127.0.0.1',), ('no-such-host', 80), 'x'):
        with pytest.raises((TypeError, ValueError)):
            tr._connect(bad)
    with pytest.raises(TypeError):
        tr.write('text')
    with pytest.raises(TypeError):
        tr.writelines([b'a', 'b'])
    with pytest.raises(TypeError):
        tr.set_write_buffer_limits(high='x')
    with pytest.raises(ValueError):
        tr.set_write_buffer_limits(high=1, low=2)
    assert tr.get_extra_info('peername', 'dflt') == 'dflt'
    tr._discard()
    tr._discard()
    tr.write(b'after discard')                   # ignored
    tr.close()
    tr.abort()
    loop.run_until_complete(asyncio.sleep(0))


def test_read_pipe_cannot_write(loop):
    rfd, wfd = os.pipe()
    rpipe = open(rfd, 'rb', 0)
    try:
        tr, _ = loop.run_until_complete(
            loop.connect_read_pipe(asyncio.Protocol, rpipe))
        with pytest.raises(NotImplementedError):
            tr.write(b'x')
        assert not tr.can_write_eof()
        tr.close()
        tr.close()
        loop.run_until_complete(asyncio.sleep(0.01))
        assert rpipe.closed
    finally:
        os.close(wfd)


def test_pipe_transports_reject_files(loop, tmp_path):
    f = open(tmp_path / 'file', 'wb')
    with f, pytest.raises(ValueError):
        loop.run_until_complete(
            loop.connect_write_pipe(asyncio.Protocol, f))


def test_start_twice_and_calls_after_loop_close(loop):
    a, b = socket.socketpair()
    tr = loop._stream_new(1, a.fileno(), a)
    tr._start(asyncio.Protocol())
    with pytest.raises(RuntimeError):
        tr._start(asyncio.Protocol())
    loop.run_until_complete(asyncio.sleep(0))
    with pytest.warns(ResourceWarning):
        loop.close()
    assert a.fileno() == -1                     # closed with the loop
    tr.write(b'x')
    tr.write_eof()
    tr.pause_reading()
    tr.resume_reading()
    tr.close()
    tr.abort()
    with pytest.raises(RuntimeError):
        tr._connect('/nowhere')
    with pytest.raises(RuntimeError):
        loop._stream_new(0, -1)
    b.close()
    del tr
    gc.collect()


def test_protocol_without_methods(loop):
    """A protocol lacking callbacks: errors go to the handler."""
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main():
        server = await loop.create_server(object, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(b'data')
        w.write_eof()
        await r.read()
        w.close()
        server.close()
        await server.wait_closed()
    loop.run_until_complete(main())
    assert errors
