"""contextvars in transports and protocols, differential.

asyncio (3.11-3.13) stores no context in its transports: every protocol
callback runs in the context of the loop Handle that calls it, and those
Handles copy the context current when they were made.  So:

- create_connection, connect_accepted_socket, create_datagram_endpoint
  and subprocess_exec run the protocol factory in the caller's context
  (what it sets stays visible to the caller); create_server runs it in a
  fresh copy, per connection, of the context of create_server (or of
  start_serving()), as its accept step is a Task;
- connection_made runs in a copy taken when the transport was made;
- data_received/get_buffer/buffer_updated/eof_received (the reader),
  datagram_received/error_received, share one context per transport (a
  copy taken with the reader, retaken by resume_reading());
- resume_writing, and a connection_lost that waited for the writes, run
  in the writer's context (a copy of the write() that had to queue);
  pause_writing runs inside write();
- other connection_lost calls run in a copy of the context of close(),
  abort() or of the callback that saw the EOF or error;
- process_exited runs in the child watcher's context: 3.11's thread (an
  empty context), 3.12+'s pidfd reader (a copy of subprocess_exec's).

Each scenario runs on asyncio and on pyasync from an empty context; each
protocol callback records the ContextVar values it sees and appends its
name to `seen`, so the traces show which callbacks share a context.
"""
import asyncio
import contextvars
import datetime
import logging
import os
import socket
import ssl
import subprocess
import sys
import tempfile

import pytest

import pyasync
from difftrace import IMPLEMENTATIONS, Trace

rid = contextvars.ContextVar('rid')
seen = contextvars.ContextVar('seen')


def run_both(scenario):
    """{name: Trace} of async scenario(aio, log) on each implementation,
    each started from an empty context."""
    traces = {}
    for name, aio in IMPLEMENTATIONS:
        log = Log()
        contextvars.Context().run(aio.run, scenario(aio, log))
        traces[name] = log.trace()
    return traces


def assert_same(scenario):
    traces = run_both(scenario)
    assert traces['asyncio'], 'scenario recorded nothing'
    assert traces['pyasync'] == traces['asyncio']
    return traces['pyasync']


class Log:
    """Per-role event lists: the order inside a connection is asyncio's
    contract, the interleaving of client and server is not ours to test."""

    def __init__(self):
        self.events = {}

    def note(self, role, name, *extra):
        self.events.setdefault(role, []).append(
            (name, rid.get('-'), seen.get(())) + extra)
        seen.set(seen.get(()) + (f'{role}.{name}',))

    def trace(self):
        t = Trace()
        for role in sorted(self.events):
            t(role, *self.events[role])
        return t


class Proto:
    """A protocol noting each kind of callback the first time it runs."""

    def __init__(self, log, role, on_data=None):
        self.log, self.role, self.on_data = log, role, on_data
        self.done_names = set()
        self.transport = None
        self.buf = bytearray()
        self.lost = asyncio.get_running_loop().create_future()
        self.got = asyncio.get_running_loop().create_future()
        self.note('factory')

    def note(self, name, *extra):
        if name not in self.done_names:
            self.done_names.add(name)
            self.log.note(self.role, name, *extra)

    def connection_made(self, transport):
        self.transport = transport
        self.note('made')

    def data_received(self, data):
        self.note('data')
        self.buf += data
        if self.on_data is not None:
            self.on_data(self, data)

    def eof_received(self):
        self.note('eof')
        if not self.got.done():
            self.got.set_result(bytes(self.buf))

    def connection_lost(self, exc):
        self.note('lost', type(exc).__name__)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self):
        self.note('pause_writing')

    def resume_writing(self):
        self.note('resume_writing')


class BufProto(Proto, asyncio.BufferedProtocol):
    def get_buffer(self, sizehint):
        self.note('get_buffer')
        self._mem = bytearray(65536)
        return self._mem

    def buffer_updated(self, nbytes):
        self.note('buffer_updated')
        self.buf += self._mem[:nbytes]
        if self.on_data is not None:
            self.on_data(self, bytes(self._mem[:nbytes]))


def echo_line(proto, data):
    """Server side: echo once a line is in."""
    if proto.buf.endswith(b'\n'):
        proto.transport.write(bytes(proto.buf))


def make_server_factory(log, prefix, cls=Proto, on_data=echo_line):
    count = [0]

    def factory():
        count[0] += 1
        return cls(log, f'{prefix}{count[0]}', on_data)
    return factory


async def client_round(aio, log, role, connect, cls=Proto):
    """connect(factory) -> (transport, protocol): send a line, read the
    echo to EOF (the server closes after our write_eof)."""
    tr, p = await connect(lambda: cls(log, role))
    log.note('main', f'after-connect-{role}')
    tr.write(b'hello\n')
    while not p.buf.endswith(b'\n'):
        await asyncio.sleep(0.001)
    tr.write_eof()
    await p.got
    await p.lost
    return p


def serve_and_close(server):
    server.close()
    return server.wait_closed()


# -- TCP ---------------------------------------------------------------


def test_tcp_create_server_create_connection():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('at-create-server')
        log.note('main', 'start')
        server = await loop.create_server(
            make_server_factory(log, 'srv'), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        # Later changes do not reach the server's connections.
        rid.set('at-connect')
        for role in ('cli1', 'cli2'):
            await client_round(aio, log, role, lambda f: loop.create_connection(
                f, '127.0.0.1', port))
        log.note('main', 'end')
        await serve_and_close(server)
    assert_same(scenario)


def test_tcp_flow_control_and_resume_reading():
    """pause_writing in write(), resume_writing and a deferred
    connection_lost in the writer's context; data after resume_reading in
    a copy of the resumer's context."""
    big = b'x' * (16 * 1024 * 1024)

    def send_big(proto, data):
        if proto.buf.endswith(b'\n'):
            rid.set('writer')
            proto.transport.write(big)
            proto.transport.close()         # waits for the writes

    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('server')
        server = await loop.create_server(
            make_server_factory(log, 'srv', on_data=send_big), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        rid.set('client')
        paused = loop.create_future()

        def on_data(proto, data):
            if not paused.done():
                proto.transport.pause_reading()
                paused.set_result(None)
            elif proto.role == 'cli':
                proto.note('data-after-resume')

        tr, p = await loop.create_connection(
            lambda: Proto(log, 'cli', on_data), '127.0.0.1', port)
        tr.write(b'big\n')
        await paused

        async def resumer():
            rid.set('resumer')
            await asyncio.sleep(0.2)
            log.note('main', 'resume')
            tr.resume_reading()
        await loop.create_task(resumer())
        await p.lost
        assert len(p.buf) == len(big)
        await serve_and_close(server)
    assert_same(scenario)


def test_tcp_abort_and_close_from_task():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('server')
        server = await loop.create_server(
            make_server_factory(log, 'srv'), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        for role, how in (('cli-close', 'close'), ('cli-abort', 'abort')):
            tr, p = await loop.create_connection(
                lambda: Proto(log, role), '127.0.0.1', port)
            tr.write(b'hi\n')
            while not p.buf:
                await asyncio.sleep(0.001)

            async def closer():
                rid.set(how)
                getattr(tr, how)()
            await loop.create_task(closer())
            await p.lost
        await asyncio.sleep(0.05)
        await serve_and_close(server)
    assert_same(scenario)


def test_buffered_protocol():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('server')
        server = await loop.create_server(
            make_server_factory(log, 'srv', cls=BufProto), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        rid.set('client')
        await client_round(aio, log, 'cli', lambda f: loop.create_connection(
            f, '127.0.0.1', port), cls=BufProto)
        await serve_and_close(server)
    assert_same(scenario)


def test_sock_arguments():
    """create_server(sock=), create_connection(sock=)."""
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', 0))
        rid.set('server')
        server = await loop.create_server(make_server_factory(log, 'srv'),
                                          sock=lsock)
        rid.set('client')

        async def connect(f):
            s = socket.socket()
            s.setblocking(False)
            await loop.sock_connect(s, lsock.getsockname())
            return await loop.create_connection(f, sock=s)
        await client_round(aio, log, 'cli', connect)
        await serve_and_close(server)
    assert_same(scenario)


def test_connect_accepted_socket():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        a, b = socket.socketpair()
        rid.set('accepted')
        tr, p = await loop.connect_accepted_socket(
            lambda: Proto(log, 'acc', echo_line), a)
        log.note('main', 'after-accepted')
        rid.set('client')
        await client_round(aio, log, 'cli', lambda f: loop.create_connection(
            f, sock=b))
        tr.close()
        await p.lost
    assert_same(scenario)


# -- Unix sockets --------------------------------------------------------


def test_unix_server_start_serving_later():
    """The server's context is the one of start_serving()."""
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 's')
            rid.set('at-create')
            server = await loop.create_unix_server(
                make_server_factory(log, 'srv'), path, start_serving=False)
            rid.set('at-start-serving')
            await server.start_serving()
            rid.set('client')
            await client_round(aio, log, 'cli',
                               lambda f: loop.create_unix_connection(f, path))
            await serve_and_close(server)
    assert_same(scenario)


# -- TLS -------------------------------------------------------------------


@pytest.fixture(scope='module')
def tls_contexts():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(pkey.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName('localhost')]), critical=False)
            .sign(pkey, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as d:
        cfile, kfile = os.path.join(d, 'c.pem'), os.path.join(d, 'k.pem')
        with open(cfile, 'wb') as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(kfile, 'wb') as f:
            f.write(pkey.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cfile, kfile)
        client_ctx = ssl.create_default_context(cafile=cfile)
    return server_ctx, client_ctx


def test_tls(tls_contexts):
    server_ctx, client_ctx = tls_contexts

    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('server')
        server = await loop.create_server(
            make_server_factory(log, 'srv'), '127.0.0.1', 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        rid.set('client')
        tr, p = await loop.create_connection(
            lambda: Proto(log, 'cli'), '127.0.0.1', port, ssl=client_ctx,
            server_hostname='localhost')
        log.note('main', 'after-connect')
        tr.write(b'hello\n')
        while not p.buf.endswith(b'\n'):
            await asyncio.sleep(0.001)

        async def closer():
            rid.set('closer')
            tr.close()
        await loop.create_task(closer())
        await p.lost
        await asyncio.sleep(0.1)
        await serve_and_close(server)
    assert_same(scenario)


# -- UDP -------------------------------------------------------------------


class DgramProto:
    def __init__(self, log, role, echo=False):
        self.log, self.role, self.echo = log, role, echo
        self.n = 0
        self.transport = None
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self.got = loop.create_future()
        self.error = loop.create_future()
        log.note(role, 'factory')

    def connection_made(self, transport):
        self.transport = transport
        self.log.note(self.role, 'made')

    def datagram_received(self, data, addr):
        self.n += 1
        self.log.note(self.role, f'datagram{self.n}', data)
        if self.echo:
            self.transport.sendto(data, addr)
        elif self.n == 2 and not self.got.done():
            self.got.set_result(None)

    def error_received(self, exc):
        self.log.note(self.role, 'error', type(exc).__name__)
        if not self.error.done():
            self.error.set_result(None)

    def connection_lost(self, exc):
        self.log.note(self.role, 'lost', repr(exc))
        self.lost.set_result(None)


def test_udp():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('server')
        str_, sp = await loop.create_datagram_endpoint(
            lambda: DgramProto(log, 'srv', echo=True),
            local_addr=('127.0.0.1', 0))
        addr = str_.get_extra_info('sockname')
        log.note('main', 'after-server')
        rid.set('client')
        ctr, cp = await loop.create_datagram_endpoint(
            lambda: DgramProto(log, 'cli'), remote_addr=addr)
        log.note('main', 'after-client')
        ctr.sendto(b'one')
        await asyncio.sleep(0.05)
        ctr.sendto(b'two')
        await cp.got
        # A refused datagram: error_received from the reader.
        str_.close()
        await sp.lost
        ctr.sendto(b'three')
        await cp.error

        async def closer():
            rid.set('closer')
            ctr.close()
        await loop.create_task(closer())
        await cp.lost
    assert_same(scenario)


# -- subprocesses ------------------------------------------------------------


class SubProto(asyncio.SubprocessProtocol):
    def __init__(self, log):
        self.log = log
        self.done = asyncio.get_running_loop().create_future()
        log.note('proc', 'factory')

    def connection_made(self, transport):
        self.log.note('proc', 'made')

    def pipe_data_received(self, fd, data):
        self.log.note('proc', f'data{fd}', data)

    def pipe_connection_lost(self, fd, exc):
        self.log.note('proc', f'pipe_lost{fd}')

    def process_exited(self):
        self.log.note('proc', 'exited')

    def connection_lost(self, exc):
        self.log.note('proc', 'lost')
        self.done.set_result(None)


# The child closes its stdout, then exits: process_exited comes last.
# The child closes its pipes (the fds, not just sys.stdout) one at a time
# and well before it exits: when a pipe closes in the same instant as the
# exit (or as the other pipe), asyncio 3.14
# (which reads a pidfd in its selector) reports the exit before or after
# the pipe losses depending on timing, so the order would not be asyncio's
# contract.
CHILD = ('import os, sys, time; sys.stdout.write("out"); sys.stdout.flush(); '
         'os.close(1); time.sleep(0.2); os.close(0); time.sleep(0.3)')


def test_subprocess_exec():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('spawner')
        tr, p = await loop.subprocess_exec(
            lambda: SubProto(log), sys.executable, '-c', CHILD,
            stdin=None, stdout=subprocess.PIPE, stderr=None)
        log.note('main', 'after-spawn')
        await p.done
        tr.close()
    assert_same(scenario)


def test_subprocess_shell():
    async def scenario(aio, log):
        loop = aio.get_running_loop()
        rid.set('spawner')
        tr, p = await loop.subprocess_shell(
            lambda: SubProto(log), f'exec {sys.executable} -c \'{CHILD}\'',
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        log.note('main', 'after-spawn')
        await p.done
        tr.close()
    assert_same(scenario)


# -- streams -----------------------------------------------------------------


def test_start_server_handler_context():
    """Each handler task starts from the context of start_server(); what
    one handler sets stays its own."""
    async def scenario(aio, log):
        rid.set('at-start-server')

        async def handler(reader, writer):
            log.note('handler', 'start', await reader.readline())
            rid.set('handler-set')
            writer.write(b'ok\n')
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        server = await asyncio.start_server(handler, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        rid.set('client')
        for i in range(2):
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            writer.write(b'req%d\n' % i)
            log.note('main', 'reply', await reader.readline())
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


# -- a request-id logging server ---------------------------------------------


def test_request_id_logging_server():
    """The usual request-id recipe: a logging.Filter reads a ContextVar;
    the protocol sets it per request in data_received; the server's
    default id comes from where it was started.  Run on asyncio and on
    pyasync.install()-style use (stdlib asyncio API on pyasync's loop)."""
    request_id = contextvars.ContextVar('request_id', default='none')

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.request_id = request_id.get()
            return True

    def run(loop_factory):
        records = []
        logger = logging.getLogger('test_io_context_diff.reqid')
        logger.propagate = False
        handler = logging.Handler()
        handler.emit = lambda r: records.append(
            f'[{r.request_id}] {r.getMessage()}')
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

        class Server(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
                logger.info('connection')

            def data_received(self, data):
                for line in data.splitlines():
                    request_id.set(line.decode().split()[0])
                    logger.info('request %s', line.decode())
                    self.transport.write(line + b'\n')

            def eof_received(self):
                logger.info('eof')

            def connection_lost(self, exc):
                logger.info('lost')

        async def main():
            loop = asyncio.get_running_loop()
            request_id.set('srv-default')
            server = await loop.create_server(Server, '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            request_id.set('client')
            for n in range(2):
                r, w = await asyncio.open_connection('127.0.0.1', port)
                w.write(f'r{n}a GET\n'.encode())
                await r.readline()
                w.write(f'r{n}b GET\n'.encode())
                await r.readline()
                w.close()
                await w.wait_closed()
                await asyncio.sleep(0.05)
            logger.info('main done')
            server.close()
            await server.wait_closed()

        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                contextvars.Context().run(runner.run, main())
        finally:
            logger.removeHandler(handler)
        return records

    expected = run(asyncio.new_event_loop)
    assert expected[:3] == ['[srv-default] connection', '[r0a] request r0a GET',
                            '[r0b] request r0b GET']
    assert run(pyasync.new_event_loop) == expected


def test_server_transport_callbacks_share_the_connection_context():
    """3.15 gives each accepted connection one context for good (a copy of
    the server's, taken when create_server() made it): what
    connection_made sets, data_received sees.  Up to 3.14 each of the
    transport's callbacks starts from its own copy."""
    async def scenario(aio, log):
        rid.set('at-create-server')

        class Echo(asyncio.Protocol):
            def connection_made(self, tr):
                log.note('server', 'made')
                rid.set('set-in-made')
                self.tr = tr

            def data_received(self, data):
                log.note('server', 'data', data)
                rid.set('set-in-data')
                self.tr.write(data)

            def eof_received(self):
                log.note('server', 'eof')

            def connection_lost(self, exc):
                log.note('server', 'lost')

        loop = aio.get_running_loop()
        server = await loop.create_server(Echo, '127.0.0.1', 0)
        rid.set('after-create-server')
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        for i in range(2):
            writer.write(b'x%d' % i)
            await reader.readexactly(2)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()
    assert_same(scenario)
