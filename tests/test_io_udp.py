"""Datagram endpoints (csrc/io/udp.c, pyasync/_udp_io.py), differentially:
each scenario runs on asyncio's loop and on pyasync's and the traces must
be equal."""
import asyncio
import os
import socket
import tempfile

import pytest

import pyasync
from difftrace import assert_same


class Recorder(asyncio.DatagramProtocol):
    """Traces every protocol callback; `got` holds received datagrams."""

    def __init__(self, trace, name, aio):
        self.trace, self.name = trace, name
        self.queue = aio.Queue()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.trace(self.name, 'connection_made')

    def datagram_received(self, data, addr):
        self.trace(self.name, 'datagram_received', data)
        self.queue.put_nowait((data, addr))

    def error_received(self, exc):
        self.trace(self.name, 'error_received', type(exc).__name__)
        self.queue.put_nowait(exc)

    def connection_lost(self, exc):
        self.trace(self.name, 'connection_lost', repr(exc))


class Echo(Recorder):
    def datagram_received(self, data, addr):
        super().datagram_received(data, addr)
        self.transport.sendto(data.upper(), addr)


def test_echo_connected_client():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(
            lambda: Echo(trace, 'server', aio), local_addr=('127.0.0.1', 0))
        addr = st.get_extra_info('sockname')
        trace('server peername', st.get_extra_info('peername'))
        ct, cp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'client', aio), remote_addr=addr)
        trace('client peername is server', ct.get_extra_info('peername') == addr)
        trace('socket', type(ct.get_extra_info('socket')).__name__,
              ct.get_extra_info('socket').type == socket.SOCK_DGRAM)
        for msg in (b'one', b'two', b'three'):
            ct.sendto(msg)
            data, src = await cp.queue.get()
            trace('reply', data, src == addr)
        ct.sendto(b'')                       # nothing sent
        ct.sendto(bytearray(b'ba'))
        trace('reply', (await cp.queue.get())[0])
        ct.sendto(memoryview(b'mv'), addr)   # the peer's address is fine
        trace('reply', (await cp.queue.get())[0])
        trace('buffer', ct.get_write_buffer_size(), ct.is_closing())
        ct.close()
        trace('closing', ct.is_closing())
        ct.close()                           # idempotent
        st.close()
        await aio.sleep(0.01)
        trace('after close', ct.is_closing())
    assert_same(scenario)


def test_unconnected_sendto_and_local_addr_pair():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(
            lambda: Echo(trace, 'server', aio), local_addr=('127.0.0.1', 0))
        addr = st.get_extra_info('sockname')
        ct, cp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'client', aio),
            local_addr=('127.0.0.1', 0))
        trace('client peername', ct.get_extra_info('peername'))
        for i in range(20):
            ct.sendto(b'm%d' % i, addr)
        got = sorted([(await cp.queue.get())[0] for _ in range(20)])
        trace('replies', got)
        ct.abort()
        st.close()
        await aio.sleep(0.01)
    assert_same(scenario)


def test_sendto_errors():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'server', aio),
            local_addr=('127.0.0.1', 0))
        addr = st.get_extra_info('sockname')
        ct, cp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'client', aio), remote_addr=addr)
        for data, a in (('text', None), (12, None), (b'x', ('127.0.0.1', 1)),
                        (b'x', 'nonsense')):
            try:
                ct.sendto(data, a)
            except (TypeError, ValueError) as exc:
                trace('sendto', type(exc).__name__,
                      str(exc).replace(str(addr), 'ADDR'))
        # Unconnected: a bad address is an OSError for error_received().
        st.sendto(b'x', ('256.1.1.1', 9))
        trace('error', type(await sp.queue.get()).__name__)
        ct.close()
        await aio.sleep(0)
        await aio.sleep(0)
        # After close: ignored, counted, logged from the 5th on.
        for _ in range(7):
            ct.sendto(b'late')
        trace('conn_lost', ct._conn_lost)
        st.close()
        await aio.sleep(0)
    assert_same(scenario)


def test_error_received_on_icmp_refused():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(('127.0.0.1', 0))
        addr = probe.getsockname()
        probe.close()                        # nobody listens there now
        ct, cp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'client', aio), remote_addr=addr)
        ct.sendto(b'ping')
        exc = await aio.wait_for(cp.queue.get(), 5)
        trace('got', type(exc).__name__, exc.errno)
        ct.close()
        await aio.sleep(0)
    assert_same(scenario)


@pytest.mark.parametrize('kwargs, exc_type', [
    (dict(local_addr=('127.0.0.1', 0), sock='SOCK'), ValueError),
    (dict(sock='STREAM'), ValueError),
    (dict(family=socket.AF_INET, local_addr=('::1', 0)), OSError),
    (dict(reuse_address=True), ValueError),
    (dict(family=socket.AF_UNIX, local_addr=('127.0.0.1', 0)), TypeError),
    (dict(local_addr=('127.0.0.1', 0),
          remote_addr=('::1', 9)), ValueError),
    (dict(), ValueError),
    (dict(family=socket.AF_INET, local_addr=('127.0.0.1',)), ValueError),
])
def test_create_datagram_endpoint_argument_errors(kwargs, exc_type):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        kw = dict(kwargs)
        opened = []
        if kw.get('sock') == 'SOCK':
            kw['sock'] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            opened.append(kw['sock'])
        elif kw.get('sock') == 'STREAM':
            kw['sock'] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            opened.append(kw['sock'])
        try:
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                **kw)
        except Exception as exc:
            trace('raised', isinstance(exc, exc_type), type(exc).__name__,
                  _strip_fd(str(exc)))
        else:
            trace('no error')
        for s in opened:
            s.close()
    assert_same(scenario)


def _strip_fd(text):
    import re
    return re.sub(r'fd=\d+|laddr=\S+|raddr=\S+', '', text)


def test_unix_datagram_socketpair_and_paths():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        tb, pb = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'b', aio), sock=b)
        trace('pair names', tb.get_extra_info('sockname'),
              tb.get_extra_info('peername'))
        a.send(b'over the pair')       # from an unnamed socket: addr None
        data, addr = await pb.queue.get()
        trace('pair got', data, addr)
        a.close()
        tb.close()
        await aio.sleep(0)
        with tempfile.TemporaryDirectory() as d:
            spath, cpath = os.path.join(d, 's'), os.path.join(d, 'c')
            st, sp = await loop.create_datagram_endpoint(
                lambda: Echo(trace, 'server', aio), family=socket.AF_UNIX,
                local_addr=spath)
            ct, cp = await loop.create_datagram_endpoint(
                lambda: Recorder(trace, 'client', aio),
                family=socket.AF_UNIX, local_addr=cpath, remote_addr=spath)
            trace('names', st.get_extra_info('sockname') == spath,
                  ct.get_extra_info('peername') == spath)
            ct.sendto(b'by path')
            data, addr = await cp.queue.get()
            trace('path reply', data, addr == spath)
            ct.close()
            st.close()
            await aio.sleep(0)
    assert_same(scenario)


def _bound_unix(directory):
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.bind(os.path.join(directory, 'reader'))
    b.setblocking(False)
    return b


def test_write_buffer_fills_and_drains():
    """A Unix datagram pair whose reader does not read: sends past the
    socket buffer are queued (get_write_buffer_size() > 0, the protocol
    paused), then drained in order once the reader reads."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        d = tempfile.TemporaryDirectory()
        b = _bound_unix(d.name)

        class Writer(Recorder):
            def pause_writing(self):
                trace('pause_writing')

            def resume_writing(self):
                trace('resume_writing')

        ta, pa = await loop.create_datagram_endpoint(
            lambda: Writer(trace, 'a', aio), family=socket.AF_UNIX,
            remote_addr=b.getsockname())
        ta.set_write_buffer_limits(high=4096)
        n = 0
        while ta.get_write_buffer_size() == 0 and n < 100000:
            ta.sendto(b'%08d' % n + b'.' * 1000)
            n += 1
        for _ in range(10):
            ta.sendto(b'%08d' % n + b'.' * 1000)
            n += 1
        trace('buffered', ta.get_write_buffer_size() > 0)
        received = []
        while len(received) < n:
            try:
                received.append(b.recv(2000)[:8])
            except BlockingIOError:
                await aio.sleep(0.001)
        trace('in order', received == [b'%08d' % i for i in range(n)])
        await aio.sleep(0.01)
        trace('drained', ta.get_write_buffer_size())
        ta.close()
        b.close()
        d.cleanup()
        await aio.sleep(0)
    assert_same(scenario)


def test_close_with_queued_datagrams_waits_for_them():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        d = tempfile.TemporaryDirectory()
        b = _bound_unix(d.name)
        ta, pa = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'a', aio), family=socket.AF_UNIX,
            remote_addr=b.getsockname())
        n = 0
        while ta.get_write_buffer_size() == 0:
            ta.sendto(b'x' * 1000)
            n += 1
        ta.close()
        trace('closing', ta.is_closing())
        await aio.sleep(0.01)
        count = 0
        while True:
            try:
                b.recv(2000)
                count += 1
            except BlockingIOError:
                if count >= n:
                    break
                await aio.sleep(0.001)
        await aio.sleep(0.01)
        trace('all delivered', count == n)
        b.close()
        d.cleanup()
    assert_same(scenario)


def _fd_count():
    return len(os.listdir('/proc/self/fd'))


def test_no_fd_leaks():
    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(50):
            st, sp = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=('127.0.0.1', 0))
            ct, cp = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol,
                remote_addr=st.get_extra_info('sockname'))
            ct.sendto(b'x')
            await asyncio.sleep(0)
            ct.close()
            st.abort()
        await asyncio.sleep(0.01)

    pyasync.run(main())          # warm up (executor threads, imports)
    before = _fd_count()
    pyasync.run(main())
    assert _fd_count() == before


def test_loop_close_closes_open_endpoints():
    before = _fd_count()
    loop = pyasync.new_event_loop()

    async def main():
        return await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=('127.0.0.1', 0))

    tr, _ = loop.run_until_complete(main())
    loop.close()                 # must not hang on the live uv handle
    tr._sock.close()
    tr._sock = None
    assert _fd_count() == before


def test_repr_and_extra_info():
    async def main():
        loop = asyncio.get_running_loop()
        tr, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=('127.0.0.1', 0))
        await asyncio.sleep(0)
        r = repr(tr)
        assert 'read=polling' in r and 'bufsize=0' in r, r
        assert tr.get_extra_info('nothing', 'dflt') == 'dflt'
        tr.close()
        assert 'closing' in repr(tr)
        await asyncio.sleep(0)
        assert 'closed' in repr(tr)
    pyasync.run(main())


def test_pause_resume_reading_and_socket_options():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        st, sp = await loop.create_datagram_endpoint(
            lambda: Recorder(trace, 'server', aio),
            local_addr=('127.0.0.1', 0), reuse_port=True,
            allow_broadcast=True)
        sock = st.get_extra_info('socket')
        trace('options', sock.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_REUSEPORT) != 0,
              sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) != 0)
        addr = st.get_extra_info('sockname')
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await aio.sleep(0)
        trace('reading', st.is_reading())
        st.pause_reading()
        trace('reading', st.is_reading())
        c.sendto(b'while paused', addr)
        await aio.sleep(0.02)
        trace('queue while paused', sp.queue.qsize())
        st.resume_reading()
        trace('got', (await sp.queue.get())[0])
        st.close()
        trace('reading after close', st.is_reading())
        c.close()
        await aio.sleep(0)
    assert_same(scenario)
