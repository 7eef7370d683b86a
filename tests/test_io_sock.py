"""sock_* methods: differential where the results are deterministic."""
import asyncio
import os
import socket

import pytest

import pyasync


def listener(type=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, type)
    s.bind(('127.0.0.1', 0))
    if type == socket.SOCK_STREAM:
        s.listen()
    s.setblocking(False)
    return s


def test_echo_one_mib(differential):
    data = os.urandom(1 << 20)

    def scenario(loop):
        async def main():
            srv = listener()
            cli = socket.socket()
            cli.setblocking(False)
            accept = loop.create_task(loop.sock_accept(srv))
            await loop.sock_connect(cli, srv.getsockname())
            conn, addr = await accept
            assert addr == cli.getsockname()

            async def echo():
                while True:
                    chunk = await loop.sock_recv(conn, 65536)
                    if not chunk:
                        break
                    await loop.sock_sendall(conn, chunk)
                conn.close()
            task = loop.create_task(echo())
            got = bytearray()

            async def receive():
                buf = bytearray(32768)
                while len(got) < len(data):
                    n = await loop.sock_recv_into(cli, buf)
                    got.extend(buf[:n])
            rx = loop.create_task(receive())
            await loop.sock_sendall(cli, data)
            await rx
            cli.shutdown(socket.SHUT_WR)
            await task
            rest = await loop.sock_recv(cli, 10)
            cli.close()
            srv.close()
            return [bytes(got) == data, rest, conn.getblocking()]
        return loop.run_until_complete(main())
    assert differential(scenario) == [True, b'', False]


def test_connect_refused(differential):
    def scenario(loop):
        async def main():
            s = listener()
            addr = s.getsockname()
            s.close()
            c = socket.socket()
            c.setblocking(False)
            try:
                await loop.sock_connect(c, addr)
            except OSError as e:
                return [type(e).__name__, e.errno,
                        str(e).replace(str(addr[1]), 'PORT')]
            finally:
                c.close()
        return loop.run_until_complete(main())
    differential(scenario)


def test_connect_resolves_names(differential):
    def scenario(loop):
        async def main():
            srv = listener()
            c = socket.socket()
            c.setblocking(False)
            await loop.sock_connect(c, ('localhost', srv.getsockname()[1]))
            conn, _ = await loop.sock_accept(srv)
            await loop.sock_sendall(conn, b'hello')
            r = await loop.sock_recv(c, 5)
            for s in (c, conn, srv):
                s.close()
            return r
        return loop.run_until_complete(main())
    assert differential(scenario) == b'hello'


def test_cancel_pending_recv_leaves_no_interest():
    loop = pyasync.new_event_loop()

    async def main():
        a, b = socket.socketpair()
        a.setblocking(False)
        t = loop.create_task(loop.sock_recv(a, 10))
        await asyncio.sleep(0.01)
        assert loop._poll_mask(a) == 1
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        await asyncio.sleep(0)
        assert loop._poll_mask(a) == 0
        # The data is still there for the next reader.
        b.send(b'later')
        assert await loop.sock_recv(a, 10) == b'later'
        assert loop._poll_mask(a) == 0
        a.close()
        b.close()
    loop.run_until_complete(main())
    loop.close()


def test_cancel_then_close_socket():
    loop = pyasync.new_event_loop()

    async def main():
        a, b = socket.socketpair()
        a.setblocking(False)
        t = loop.create_task(loop.sock_recv(a, 10))
        await asyncio.sleep(0)
        t.cancel()
        a.close()
        b.close()
        await asyncio.sleep(0.01)
        return t.cancelled()
    assert loop.run_until_complete(main())
    loop.close()


def test_udp(differential):
    def scenario(loop):
        async def main():
            server = listener(socket.SOCK_DGRAM)
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            client.setblocking(False)
            recv = loop.create_task(loop.sock_recvfrom(server, 100))
            await asyncio.sleep(0)
            n = await loop.sock_sendto(client, b'ping',
                                       server.getsockname())
            data, addr = await recv
            assert addr[1] == client.getsockname()[1]
            await loop.sock_sendto(server, b'pong', addr)
            buf = bytearray(10)
            nbytes, addr2 = await loop.sock_recvfrom_into(client, buf)
            client.close()
            server.close()
            return [n, data, bytes(buf[:nbytes]),
                    addr2[0]]
        return loop.run_until_complete(main())
    assert differential(scenario) == [4, b'ping', b'pong', '127.0.0.1']


def test_debug_requires_nonblocking(differential):
    def scenario(loop):
        loop.set_debug(True)
        out = []

        async def main():
            a, b = socket.socketpair()
            for coro in (loop.sock_recv(a, 1), loop.sock_sendall(a, b'x'),
                         loop.sock_accept(a), loop.sock_recv_into(a, b'')):
                try:
                    await coro
                except ValueError as e:
                    out.append(str(e))
            a.close()
            b.close()
        loop.run_until_complete(main())
        return out
    assert differential(scenario) == ['the socket must be non-blocking'] * 4


def test_ssl_socket_refused(differential):
    ssl = pytest.importorskip('ssl')

    def scenario(loop):
        async def main():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            s = ctx.wrap_socket(socket.socket(), do_handshake_on_connect=False)
            try:
                await loop.sock_recv(s, 1)
            except TypeError as e:
                return str(e)
            finally:
                s.close()
        return loop.run_until_complete(main())
    differential(scenario)


def test_sendfile(tmp_path, differential):
    payload = os.urandom(300000)
    path = tmp_path / 'f'
    path.write_bytes(payload)

    def scenario(loop):
        async def main():
            srv = listener()
            c = socket.socket()
            c.setblocking(False)
            await loop.sock_connect(c, srv.getsockname())
            conn, _ = await loop.sock_accept(srv)
            got = bytearray()

            async def rx():
                while True:
                    d = await loop.sock_recv(conn, 65536)
                    if not d:
                        return
                    got.extend(d)
            t = loop.create_task(rx())
            with open(path, 'rb') as f:
                n = await loop.sock_sendfile(c, f, 10, 200000)
                pos = f.tell()
            c.close()
            await t
            conn.close()
            srv.close()
            return [n, pos, bytes(got) == payload[10:200010]]
        return loop.run_until_complete(main())
    assert differential(scenario) == [200000, 200010, True]


def test_sendfile_fallback_for_non_regular_files(differential):
    import io

    def scenario(loop):
        async def main():
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            n = await loop.sock_sendfile(a, io.BytesIO(b'abcdef'), 1)
            r = await loop.sock_recv(b, 100)
            try:
                await loop.sock_sendfile(a, io.BytesIO(b'x'), fallback=False)
            except Exception as e:
                err = type(e).__name__
            a.close()
            b.close()
            return [n, r, err]
        return loop.run_until_complete(main())
    differential(scenario)


def test_not_a_coroutine_until_awaited(any_loop):
    a, b = socket.socketpair()
    coro = any_loop.sock_recv(a, 1)
    assert asyncio.iscoroutine(coro)
    coro.close()
    a.close()
    b.close()
