"""Real programs on pyasync's stream transports: aiohttp, tornado, many
connections from another process, TLS, and no fd leaks."""
import asyncio
import datetime
import os
import ssl
import subprocess
import sys
import textwrap
import time

import pytest

import pyasync


def run(coro_fn, timeout=120):
    loop = pyasync.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(
            asyncio.wait_for(coro_fn(), timeout))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def test_aiohttp_server_and_client():
    aiohttp = pytest.importorskip('aiohttp')
    from aiohttp import web

    async def main():
        async def handler(request):
            n = int(request.match_info['n'])
            body = await request.read()
            return web.Response(body=b'%d:' % n + body[::-1] * (n % 7 + 1))

        app = web.Application()
        app.router.add_post('/{n}', handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, '127.0.0.1', 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                async def one(n):
                    payload = os.urandom(n * 37 % 5000)
                    async with session.post(f'http://127.0.0.1:{port}/{n}',
                                            data=payload) as resp:
                        assert resp.status == 200
                        body = await resp.read()
                    assert body == b'%d:' % n + payload[::-1] * (n % 7 + 1)
                    return n
                done = await asyncio.gather(*(one(n) for n in range(200)))
                assert done == list(range(200))
        finally:
            await runner.cleanup()
    run(main)


@pytest.mark.skipif(
    pyasync.EventLoop.add_reader is asyncio.AbstractEventLoop.add_reader,
    reason="tornado's IOStream is built on add_reader/add_writer, which "
           "the wt-io1 branch (uv_poll) brings")
def test_tornado_server_and_client():
    pytest.importorskip('tornado')
    import tornado.httpclient
    import tornado.httpserver
    import tornado.web

    class Echo(tornado.web.RequestHandler):
        def post(self):
            self.write(self.request.body.upper())

        def get(self):
            self.write('hello ' + self.get_argument('who'))

    async def main():
        app = tornado.web.Application([(r'/', Echo)])
        server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, '127.0.0.1')
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            resps = await asyncio.gather(*(
                client.fetch(f'http://127.0.0.1:{port}/?who={i}')
                for i in range(50)))
            for i, r in enumerate(resps):
                assert r.body == b'hello %d' % i
            r = await client.fetch(f'http://127.0.0.1:{port}/',
                                   method='POST', body=b'x' * 300000)
            assert r.body == b'X' * 300000
        finally:
            client.close()
            server.stop()
            await server.close_all_connections()
    import tornado.netutil  # noqa: F401
    run(main)


CLIENT = textwrap.dedent('''
    import asyncio, hashlib, os, sys
    N, SIZE, PORT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    async def one(i, sem):
        async with sem:
            r, w = await asyncio.open_connection('127.0.0.1', PORT)
        data = hashlib.sha256(b'%d' % i).digest() * (SIZE // 32)
        async def send():
            for k in range(0, len(data), 65536):
                w.write(data[k:k + 65536])
                await w.drain()
            w.write_eof()
        t = asyncio.create_task(send())
        got = await r.read()
        await t
        w.close()
        return got == data
    async def main():
        sem = asyncio.Semaphore(1000)
        res = await asyncio.gather(*(one(i, sem) for i in range(N)))
        print(sum(res))
    asyncio.run(main())
''')


def test_thousand_connections_from_another_process():
    n, size = 1000, 1024 * 1024

    async def main():
        open_now = 0
        peak = 0

        class Echo(asyncio.Protocol):
            def connection_made(self, transport):
                nonlocal open_now, peak
                self.transport = transport
                open_now += 1
                peak = max(peak, open_now)

            def data_received(self, data):
                self.transport.write(data)

            def pause_writing(self):
                self.transport.pause_reading()

            def resume_writing(self):
                self.transport.resume_reading()

            def eof_received(self):
                return False

            def connection_lost(self, exc):
                nonlocal open_now
                open_now -= 1

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, '127.0.0.1', 0, backlog=2048)
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, '-c', CLIENT, str(n), str(size), str(port),
            stdout=subprocess.PIPE) if hasattr(loop, 'subprocess_exec') \
            and _subprocess_works(loop) else None
        if proc is None:
            out = await loop.run_in_executor(None, lambda: subprocess.run(
                [sys.executable, '-c', CLIENT, str(n), str(size), str(port)],
                capture_output=True, timeout=250).stdout)
        else:
            out, _ = await proc.communicate()
        server.close()
        await server.wait_closed()
        return int(out), peak

    t0 = time.monotonic()
    ok, peak = run(main, timeout=280)
    assert ok == n
    assert peak > 1
    assert time.monotonic() - t0 < 280


def _subprocess_works(loop):
    # The subprocess helper's work lives in another part of the tree; use
    # a thread running subprocess.run when it is not there.
    try:
        return type(loop).subprocess_exec is not asyncio.AbstractEventLoop \
            .subprocess_exec
    except AttributeError:
        return False


def _self_signed(tmp_path):
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                        '-nodes', '-keyout', str(key), '-out', str(cert),
                        '-days', '1', '-subj', '/CN=localhost',
                        '-addext', 'subjectAltName=DNS:localhost'],
                       check=True, capture_output=True)
        return cert, key
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(pkey.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName(
             [x509.DNSName('localhost')]), critical=False)
         .sign(pkey, hashes.SHA256()))
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert, key


def test_tls_echo(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main():
        async def handle(r, w):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
            w.close()

        server = await asyncio.start_server(handle, '127.0.0.1', 0,
                                            ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        payload = os.urandom(3 * 1024 * 1024)
        r, w = await asyncio.open_connection(
            '127.0.0.1', port, ssl=client_ctx, server_hostname='localhost')
        assert w.get_extra_info('peercert')['subject']
        assert w.get_extra_info('cipher')

        async def send():
            w.write(payload)
            await w.drain()
            w.write_eof() if w.can_write_eof() else None
        sender = asyncio.create_task(send())
        got = await r.readexactly(len(payload))
        await sender
        assert got == payload
        w.close()
        await w.wait_closed()

        # start_tls: upgrade a plain connection.
        async def plain_then_tls(r2, w2):
            line = await r2.readline()
            assert line == b'STARTTLS\n'
            w2.write(b'OK\n')
            await w2.drain()
            await w2.start_tls(server_ctx)
            w2.write((await r2.readline()).upper())
            await w2.drain()
            w2.close()
        plain = await asyncio.start_server(plain_then_tls, '127.0.0.1', 0)
        pport = plain.sockets[0].getsockname()[1]
        r3, w3 = await asyncio.open_connection('127.0.0.1', pport)
        w3.write(b'STARTTLS\n')
        assert await r3.readline() == b'OK\n'
        await w3.start_tls(client_ctx, server_hostname='localhost')
        w3.write(b'secret\n')
        assert await r3.readline() == b'SECRET\n'
        w3.close()
        server.close()
        plain.close()
        await server.wait_closed()
        await plain.wait_closed()
    run(main)


def _fd_count():
    return len(os.listdir('/proc/self/fd'))


def test_no_fd_leak_after_many_connections():
    async def main():
        async def handle(r, w):
            w.write(await r.read())
            await w.drain()
            w.close()
            await w.wait_closed()
        server = await asyncio.start_server(handle, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]

        async def one(i):
            r, w = await asyncio.open_connection('127.0.0.1', port)
            w.write(b'%d' % i)
            w.write_eof()
            assert await r.read() == b'%d' % i
            w.close()
            await w.wait_closed()
        for start in range(0, 1000, 100):
            await asyncio.gather(*(one(i) for i in range(start, start + 100)))
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)

    run(main)          # warm-up: executor threads, imports
    before = _fd_count()
    run(main)
    assert _fd_count() == before


def test_loop_close_with_open_transports():
    """Closing the loop closes libuv handles still open (no hang)."""
    loop = pyasync.new_event_loop()

    async def main():
        server = await loop.create_server(asyncio.Protocol, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(asyncio.Protocol, '127.0.0.1',
                                             port)
        return server, tr
    before = _fd_count()
    server, tr = loop.run_until_complete(main())
    loop.close()
    server.close()
    del server, tr
    import gc
    gc.collect()
    assert _fd_count() <= before + 1   # the client's Python socket object
