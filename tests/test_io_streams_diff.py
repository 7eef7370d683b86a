"""Stream transports and servers, differential: each scenario runs on
asyncio's loop and on pyasync's, and the traces must be equal."""
import logging
import os
import socket
import tempfile

import pytest

from difftrace import assert_same


class Recorder:
    """A protocol recording its callbacks in the trace."""

    def __init__(self, trace, name, aio=None, echo=False, keep_open=False):
        self.trace, self.name, self.echo = trace, name, echo
        self.keep_open = keep_open
        self.transport = None
        self.data = bytearray()
        self.lost = None

    def connection_made(self, transport):
        self.transport = transport
        self.trace(self.name, 'made', transport.is_closing())
        import asyncio
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.data += data
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.trace(self.name, 'eof', len(self.data), bytes(self.data[:20]))
        return self.keep_open

    def connection_lost(self, exc):
        self.trace(self.name, 'lost', repr(exc))
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self):
        self.trace(self.name, 'pause_writing')

    def resume_writing(self):
        self.trace(self.name, 'resume_writing')


def test_echo_protocol_order():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        servers = []

        def factory():
            p = Recorder(trace, 'server', echo=True)
            servers.append(p)
            return p
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), '127.0.0.1', port)
        trace('connected', tr.get_extra_info('peername')[1] == port,
              tr.can_write_eof(), tr.is_reading())
        tr.write(b'ping')
        tr.writelines([b'-', b'pong'])
        while len(client.data) < 9:
            await aio.sleep(0.01)
        tr.write_eof()
        await servers[0].lost
        await client.lost
        trace('client data', bytes(client.data), tr.is_closing())
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_eof_keep_open_then_write_back():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        servers = []

        def factory():
            p = Recorder(trace, 'server', keep_open=True)
            servers.append(p)
            return p
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), '127.0.0.1', port)
        tr.write(b'question')
        tr.write_eof()
        try:
            tr.write(b'x')
        except RuntimeError as exc:
            trace.exc('write after write_eof', exc)
        while not servers or b'question' not in servers[0].data:
            await aio.sleep(0.01)
        await aio.sleep(0.05)
        servers[0].transport.write(b'answer')
        servers[0].transport.close()
        await client.lost
        trace('client got', bytes(client.data))
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_connection_refused():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()

    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        try:
            await loop.create_connection(aio.Protocol, '127.0.0.1', port)
        except OSError as exc:
            trace.exc('refused', exc)
        try:
            await aio.open_connection('127.0.0.1', port)
        except ConnectionRefusedError as exc:
            trace.exc('streams refused', exc)
    assert_same(scenario)


def test_write_buffer_limits_and_errors():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        server = await loop.create_server(aio.Protocol, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(aio.Protocol, '127.0.0.1', port)
        trace('default', tr.get_write_buffer_limits(),
              tr.get_write_buffer_size())
        tr.set_write_buffer_limits(high=1000)
        trace('high', tr.get_write_buffer_limits())
        tr.set_write_buffer_limits(low=100)
        trace('low', tr.get_write_buffer_limits())
        tr.set_write_buffer_limits()
        trace('reset', tr.get_write_buffer_limits())
        for hi, lo in ((1, 2), (-1, None), (None, -4)):
            try:
                tr.set_write_buffer_limits(high=hi, low=lo)
            except ValueError as exc:
                trace.exc('bad', exc)
        for bad in ('str', 12, None):
            try:
                tr.write(bad)
            except TypeError as exc:
                trace.exc('write', exc)
        tr.write(b'')
        tr.close()
        trace('closing', tr.is_closing())
        await aio.sleep(0.05)
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_flow_control_with_slow_reader():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        servers = []

        def factory():
            p = Recorder(trace, 'server')
            servers.append(p)
            return p
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), '127.0.0.1', port)
        await aio.sleep(0.01)
        servers[0].transport.pause_reading()
        trace('server reading', servers[0].transport.is_reading())
        servers[0].transport.pause_reading()
        chunk = b'x' * 65536
        total = 0
        for _ in range(400):                 # 25 MiB: more than the kernel
            tr.write(chunk)
            total += len(chunk)
        trace('buffered', tr.get_write_buffer_size() > 65536)
        await aio.sleep(0.05)
        servers[0].transport.resume_reading()
        trace('server reading', servers[0].transport.is_reading())
        while len(servers[0].data) < total:
            await aio.sleep(0.01)
        trace('all received', len(servers[0].data) == total,
              tr.get_write_buffer_size())
        tr.close()
        await servers[0].lost
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_buffered_protocol():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        done = loop.create_future()

        class Buffered(aio.BufferedProtocol):
            def __init__(self):
                self.buf = bytearray(7)
                self.got = bytearray()

            def connection_made(self, transport):
                trace('buffered made')

            def get_buffer(self, sizehint):
                return self.buf

            def buffer_updated(self, nbytes):
                self.got += self.buf[:nbytes]

            def eof_received(self):
                trace('buffered eof', bytes(self.got))

            def connection_lost(self, exc):
                trace('buffered lost', exc)
                done.set_result(None)

        server = await loop.create_server(Buffered, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await aio.open_connection('127.0.0.1', port)
        w.write(b'0123456789' * 100)
        w.write_eof()
        await done
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_write_after_close_warns_after_five():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        records = []

        class H(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        handler = H()
        logging.getLogger('asyncio').addHandler(handler)
        try:
            server = await loop.create_server(aio.Protocol, '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            tr, _ = await loop.create_connection(aio.Protocol, '127.0.0.1',
                                                 port)
            tr.close()
            for i in range(8):
                tr.write(b'data')
                trace('write', i, tr.is_closing(),
                      [m for m in records if 'send' in m])
            tr.abort()
            await aio.sleep(0.01)
            server.close()
            await server.wait_closed()
        finally:
            logging.getLogger('asyncio').removeHandler(handler)
    assert_same(scenario)


def test_abort_drops_buffer():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        server = await loop.create_server(aio.Protocol, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), '127.0.0.1', port)
        tr.set_write_buffer_limits(high=10**9)
        tr.write(b'x' * (32 * 1024 * 1024))
        tr.abort()
        trace('aborted', tr.is_closing(), tr.get_write_buffer_size())
        await client.lost
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_server_api():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        server = await loop.create_server(aio.Protocol, '127.0.0.1', 0,
                                          start_serving=False)
        trace('serving', server.is_serving(), server.get_loop() is loop,
              len(server.sockets))
        await server.start_serving()
        trace('serving', server.is_serving())
        task = loop.create_task(server.serve_forever())
        await aio.sleep(0.01)
        try:
            await server.serve_forever()
        except RuntimeError as exc:
            trace('twice', 'already being awaited' in str(exc))
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('serve_forever cancelled')
        trace('after', server.is_serving(), server.sockets)
        await server.wait_closed()
        async with await loop.create_server(aio.Protocol, '127.0.0.1', 0) \
                as srv:
            trace('in with', srv.is_serving())
        trace('after with', srv.is_serving())
        srv2 = await loop.create_server(aio.Protocol, host=['127.0.0.1'],
                                        port=0, reuse_address=True,
                                        backlog=10)
        trace('list host', len(srv2.sockets))
        srv2.close()
        await srv2.wait_closed()
        try:
            await srv2.serve_forever()
        except RuntimeError as exc:
            trace.exc('closed', exc)
    assert_same(scenario)


def test_server_close_waits_for_connections():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        conns = []

        def factory():
            p = Recorder(trace, 'server')
            conns.append(p)
            return p
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), '127.0.0.1', port)
        await aio.sleep(0.01)
        server.close()
        closed = loop.create_task(server.wait_closed())
        await aio.sleep(0.01)
        trace('waiting', closed.done())
        conns[0].transport.close()
        await closed
        trace('closed', closed.done())
        await client.lost
    assert_same(scenario)


def test_unix_sockets():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'sock')
            open(path, 'w').close()     # a stale file is not a socket: error
            try:
                await aio.start_unix_server(lambda r, w: None, path)
            except OSError as exc:
                trace('not a socket', type(exc).__name__)
            os.unlink(path)

            async def handle(r, w):
                w.write((await r.readline()).upper())
                await w.drain()
                w.close()
            server = await aio.start_unix_server(handle, path)
            trace('listening', server.sockets[0].getsockname() == path)
            r, w = await aio.open_unix_connection(path)
            trace('peer', w.get_extra_info('peername') == path)
            w.write(b'hello unix\n')
            trace('reply', await r.read())
            w.close()
            await w.wait_closed()
            server.close()
            await server.wait_closed()
            # A stale socket file is removed by the next server.
            server = await aio.start_unix_server(handle, path)
            trace('restarted', os.path.exists(path))
            server.close()
            await server.wait_closed()
            try:
                await aio.open_unix_connection(os.path.join(d, 'missing'))
            except OSError as exc:
                trace.exc('missing', exc)
    assert_same(scenario)


def test_pipes():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        rfd, wfd = os.pipe()
        rpipe, wpipe = open(rfd, 'rb', 0), open(wfd, 'wb', 0)
        reader = Recorder(trace, 'read pipe')
        rtr, _ = await loop.connect_read_pipe(lambda: reader, rpipe)
        writer = Recorder(trace, 'write pipe')
        wtr, _ = await loop.connect_write_pipe(lambda: writer, wpipe)
        trace('extra', rtr.get_extra_info('pipe') is rpipe,
              wtr.get_extra_info('pipe') is wpipe, wtr.can_write_eof(),
              rtr.is_reading())
        wtr.write(b'through ')
        wtr.write(bytearray(b'the pipe'))
        wtr.write_eof()
        trace('write pipe closing', wtr.is_closing())
        await writer.lost
        await reader.lost
        trace('got', bytes(reader.data), rpipe.closed, wpipe.closed)
    assert_same(scenario)


def test_read_pipe_pause_resume():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        rfd, wfd = os.pipe()
        rpipe = open(rfd, 'rb', 0)
        reader = Recorder(trace, 'reader')
        rtr, _ = await loop.connect_read_pipe(lambda: reader, rpipe)
        rtr.pause_reading()
        os.write(wfd, b'abc')
        await aio.sleep(0.05)
        trace('paused', bytes(reader.data), rtr.is_reading())
        rtr.resume_reading()
        await aio.sleep(0.05)
        trace('resumed', bytes(reader.data))
        os.close(wfd)
        await reader.lost
    assert_same(scenario)


def test_streams_echo():
    async def scenario(aio, trace):
        async def handle(r, w):
            while line := await r.readline():
                w.write(line[::-1])
                await w.drain()
            w.close()
            await w.wait_closed()
        server = await aio.start_server(handle, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await aio.open_connection('127.0.0.1', port, limit=2 ** 20)
        for i in range(20):
            w.write(b'line %d\n' % i)
        w.write_eof()
        trace('read', await r.read())
        try:
            await r.readexactly(1)
        except aio.IncompleteReadError as exc:
            trace.exc('incomplete', exc)
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_create_connection_with_sock_and_errors():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        server = await loop.create_server(
            lambda: Recorder(trace, 'server', echo=True), '127.0.0.1', 0)
        addr = server.sockets[0].getsockname()
        sock = socket.create_connection(addr)
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), sock=sock)
        trace('same socket', tr.get_extra_info('socket').fileno()
              == sock.fileno(), tr.get_extra_info('sockname') ==
              sock.getsockname())
        tr.write(b'via sock')
        while len(client.data) < 8:
            await aio.sleep(0.01)
        tr.close()
        await client.lost
        trace('sock closed', sock.fileno())
        for kwargs in ({}, {'port': 1},
                       {'host': '127.0.0.1', 'port': 1, 'sock': sock},
                       {'host': '127.0.0.1', 'port': 1,
                        'server_hostname': 'x'},
                       {'host': '127.0.0.1', 'port': 1,
                        'ssl_handshake_timeout': 1}):
            try:
                await loop.create_connection(aio.Protocol, **kwargs)
            except (ValueError, TypeError, OSError) as exc:
                trace.exc('bad', exc)
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_connect_accepted_socket():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', 0))
        lsock.listen()
        csock = socket.create_connection(lsock.getsockname())
        conn, _ = lsock.accept()
        tr, proto = await loop.connect_accepted_socket(
            lambda: Recorder(trace, 'accepted'), conn)
        csock.sendall(b'hi there')
        csock.shutdown(socket.SHUT_WR)
        await proto.lost
        csock.close()
        lsock.close()
    assert_same(scenario)


def test_sendfile_fallback():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        servers = []

        def factory():
            p = Recorder(trace, 'server')
            servers.append(p)
            return p
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(aio.Protocol, '127.0.0.1', port)
        with tempfile.TemporaryFile() as f:
            f.write(bytes(range(256)) * 1000)
            f.flush()
            f.seek(0)
            for args in ((-1,), (0, 0), (0, 'x'), (1.5,)):
                try:
                    await loop.sendfile(tr, f, *args)
                except (ValueError, TypeError) as exc:
                    trace.exc('bad args', exc)
            n = await loop.sendfile(tr, f, 10, 100000)
            trace('sent', n, f.tell())
        tr.close()
        await servers[0].lost
        trace('received', len(servers[0].data),
              bytes(servers[0].data[:5]))
        server.close()
        await server.wait_closed()
    assert_same(scenario)


@pytest.mark.parametrize('what', ['data_received', 'eof_received'])
def test_protocol_error_goes_to_handler(what):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_exception_handler(
            lambda l, ctx: trace('handler', ctx['message'],
                                 repr(ctx['exception'])))
        lost = loop.create_future()

        class Bad(aio.Protocol):
            def data_received(self, data):
                if what == 'data_received':
                    raise ZeroDivisionError('data')

            def eof_received(self):
                raise KeyError('eof')

            def connection_lost(self, exc):
                trace('lost', repr(exc))
                lost.set_result(None)
        server = await loop.create_server(Bad, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await aio.open_connection('127.0.0.1', port)
        w.write(b'boom')
        w.write_eof()
        await lost
        w.close()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_pause_reading_inside_data_received():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        done = loop.create_future()

        class Slow(aio.Protocol):
            def __init__(self):
                self.got = 0
                self.pauses = 0

            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                self.got += len(data)
                if self.transport.is_reading():
                    self.transport.pause_reading()
                    self.pauses += 1
                    loop.call_later(0.001, self.transport.resume_reading)

            def eof_received(self):
                trace('eof', self.got, self.pauses > 1,
                      self.transport.is_reading())

            def connection_lost(self, exc):
                done.set_result(None)

        server = await loop.create_server(Slow, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await aio.open_connection('127.0.0.1', port)
        for _ in range(64):
            w.write(b'z' * 65536)
        w.write_eof()
        await w.drain()
        await done
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_write_pipe_reader_closes():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        rfd, wfd = os.pipe()
        wpipe = open(wfd, 'wb', 0)
        writer = Recorder(trace, 'write pipe')
        wtr, _ = await loop.connect_write_pipe(lambda: writer, wpipe)
        os.close(rfd)
        await writer.lost
        trace('closed', wtr.is_closing(), wpipe.closed)
    assert_same(scenario)


def test_buffered_protocol_pausing_in_buffer_updated():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        done = loop.create_future()

        class Buffered(aio.BufferedProtocol):
            def __init__(self):
                self.buf = bytearray(1000)
                self.got = bytearray()

            def connection_made(self, transport):
                self.transport = transport

            def get_buffer(self, sizehint):
                return self.buf

            def buffer_updated(self, nbytes):
                self.got += self.buf[:nbytes]
                self.transport.pause_reading()
                loop.call_soon(self.transport.resume_reading)

            def eof_received(self):
                trace('eof', len(self.got), bytes(self.got[-10:]))

            def connection_lost(self, exc):
                done.set_result(None)

        server = await loop.create_server(Buffered, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await aio.open_connection('127.0.0.1', port)
        w.write(bytes(range(256)) * 4000)
        w.write_eof()
        await done
        w.close()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_happy_eyeballs_and_server_variants():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        server = await loop.create_server(
            lambda: Recorder(trace, 'server', echo=True), host='',
            port=0, family=socket.AF_INET, flags=socket.AI_PASSIVE,
            reuse_address=True)
        port = server.sockets[0].getsockname()[1]
        trace('wildcard', [s.getsockname()[0] for s in server.sockets])
        tr, client = await loop.create_connection(
            lambda: Recorder(trace, 'client'), 'localhost', port,
            family=socket.AF_INET, happy_eyeballs_delay=0.05, interleave=1)
        tr.write(b'eyeballs')
        while len(client.data) < 8:
            await aio.sleep(0.01)
        tr.close()
        await client.lost
        server.close()
        await server.wait_closed()
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', 0))
        server = await loop.create_server(aio.Protocol, sock=lsock)
        trace('sock server', server.sockets[0].getsockname() ==
              lsock.getsockname())
        server.close()
        await server.wait_closed()
        trace('sock closed', lsock.fileno())
    assert_same(scenario)


def test_bulk_transfer_arrives_whole_in_reads_of_at_most_256k():
    """A 24 MiB transfer in 4 MiB writes: the bytes arrive whole and in
    order, and no data_received() gets more than asyncio's 256 KiB (bulk
    reads grow to that size, csrc/io/stream.c); then a small message on
    the same connection still arrives as one chunk."""
    async def scenario(aio, trace):
        import hashlib
        loop = aio.get_running_loop()
        pattern = bytes(range(256)) * (4 * 2**20 // 256)
        sizes = []
        digest = hashlib.sha256()
        done = loop.create_future()
        total = 6 * len(pattern) + 5

        class Sink(aio.Protocol):
            got = 0

            def data_received(self, data):
                sizes.append(len(data))
                digest.update(data)
                self.got += len(data)
                if self.got == total and not done.done():
                    done.set_result(None)

        server = await loop.create_server(Sink, '127.0.0.1', 0)
        tr, _ = await loop.create_connection(
            aio.Protocol, *server.sockets[0].getsockname()[:2])
        for _ in range(6):
            tr.write(pattern)
        while sum(sizes) < 6 * len(pattern):
            await aio.sleep(0.01)
        await aio.sleep(0.05)
        tr.write(b'small')
        await aio.wait_for(done, 30)
        expected = hashlib.sha256(pattern * 6 + b'small').hexdigest()
        trace('whole', digest.hexdigest() == expected)
        trace('largest read <= 256 KiB', max(sizes) <= 256 * 1024)
        trace('last', sizes[-1])
        tr.close()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_bulk_transfer_to_a_slow_buffered_protocol():
    """A 24 MiB transfer to a BufferedProtocol that works on every chunk
    (as asyncio's TLS protocol decrypts): the bytes arrive whole and in
    order, each buffer_updated() within the buffer get_buffer() gave,
    and pause_reading()/resume_reading() in between lose nothing (pyasync
    reads straight into get_buffer()'s buffer, once per readiness event,
    as asyncio does: csrc/io/stream.c)."""
    async def scenario(aio, trace):
        import hashlib
        loop = aio.get_running_loop()
        pattern = bytes(range(256)) * (4 * 2**20 // 256)
        total = 6 * len(pattern)
        digest = hashlib.sha256()
        done = loop.create_future()
        over = []

        class SlowSink(aio.BufferedProtocol):
            got = 0
            calls = 0

            def connection_made(self, transport):
                self.transport = transport
                self.buf = bytearray(64 * 1024)

            def get_buffer(self, sizehint):
                return self.buf

            def buffer_updated(self, nbytes):
                if nbytes > len(self.buf):
                    over.append(nbytes)
                digest.update(self.buf[:nbytes])   # (the work per chunk)
                self.got += nbytes
                self.calls += 1
                if self.calls % 50 == 0:
                    self.transport.pause_reading()
                    loop.call_later(0.001, self.transport.resume_reading)
                if self.got == total and not done.done():
                    done.set_result(None)

        server = await loop.create_server(SlowSink, '127.0.0.1', 0)
        tr, _ = await loop.create_connection(
            aio.Protocol, *server.sockets[0].getsockname()[:2])
        for _ in range(6):
            tr.write(pattern)
        await aio.wait_for(done, 60)
        expected = hashlib.sha256(pattern * 6).hexdigest()
        trace('whole', digest.hexdigest() == expected)
        trace('within the buffer', over == [])
        tr.close()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


@pytest.mark.parametrize('failure', ['get_buffer raises', 'empty buffer',
                                     'buffer_updated raises', 'peer resets'])
def test_buffered_protocol_failures(failure):
    """What a BufferedProtocol's server side sees when get_buffer() or
    buffer_updated() fails, or the peer resets the connection: the
    exception handler's context and connection_lost()'s exception, and
    get_buffer(-1) asked once before each buffer_updated()."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        done = loop.create_future()
        loop.set_exception_handler(
            lambda loop, ctx: trace('handler', ctx['message'],
                                    repr(ctx.get('exception'))))

        class Failing(aio.BufferedProtocol):
            def __init__(self):
                self.buf = bytearray(16)
                self.calls = []

            def get_buffer(self, sizehint):
                self.calls.append(('get_buffer', sizehint))
                if failure == 'get_buffer raises':
                    raise ValueError('no buffer')
                if failure == 'empty buffer':
                    return bytearray()
                return self.buf

            def buffer_updated(self, nbytes):
                self.calls.append('buffer_updated')
                if failure == 'buffer_updated raises':
                    raise KeyError('updated')

            def eof_received(self):
                trace('eof')

            def connection_lost(self, exc):
                trace('calls alternate', all(
                    a[0] == 'get_buffer' and b == 'buffer_updated'
                    for a, b in zip(self.calls[::2], self.calls[1::2])))
                trace('first', self.calls[:2])
                trace('lost', repr(exc))
                done.set_result(None)

        server = await loop.create_server(Failing, '127.0.0.1', 0)
        sock = socket.create_connection(server.sockets[0].getsockname())
        sock.sendall(b'x' * 40)
        if failure == 'peer resets':
            await aio.sleep(0.05)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b'\x01\x00\x00\x00\x00\x00\x00\x00')
        sock.close()
        await aio.wait_for(done, 10)
        server.close()
        await server.wait_closed()
    trace = assert_same(scenario)
    trace_text = repr(trace)
    expected = {'get_buffer raises': "ValueError('no buffer')",
                'empty buffer': 'get_buffer() returned an empty buffer',
                'buffer_updated raises': "KeyError('updated')",
                'peer resets': 'ConnectionResetError'}[failure]
    assert expected in trace_text
