"""Real websockets (the library, unmodified; its asyncio API,
`websockets.asyncio.server.serve` and `websockets.asyncio.client.connect`)
on pyasync's loop, compared with asyncio's.

Each scenario is a `main()` that serves and connects on the running loop
and returns a record of what the server and the clients observed (message
sizes and digests, fragment sizes, close codes and reasons, exception
types); it runs on an asyncio loop and on a pyasync loop (asyncio.Runner
with pyasync's loop factory) and the two records must be equal."""
import asyncio
import hashlib

import pytest

import bothloops
from bothloops import run_on

websockets = pytest.importorskip("websockets", minversion="13")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


def assert_same(main):
    return bothloops.assert_same(
        main, run=lambda impl, m: run_on(impl, m, timeout=60))


def digest(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha1(data).hexdigest()[:12]


def port_of(server):
    return server.sockets[0].getsockname()[1]


def closed(exc):
    """What a ConnectionClosed tells: its class and both close frames."""
    def frame(f):
        return None if f is None else (int(f.code), f.reason)
    return (type(exc).__name__, frame(exc.rcvd), frame(exc.sent),
            exc.rcvd_then_sent)


# ---- many clients ---------------------------------------------------------

def test_many_clients_echo():
    """30 clients at once, each sends text and binary messages of many
    sizes (up to 512 KiB); the server answers each with its reverse."""
    async def main():
        server_rec = []

        async def handler(ws):
            n = 0
            async for msg in ws:
                n += 1
                await ws.send(msg[::-1])
            server_rec.append((ws.request.path, n))

        async with serve(handler, "127.0.0.1", 0, max_size=2 ** 21) as srv:
            url = f"ws://127.0.0.1:{port_of(srv)}"

            async def client(c):
                got = []
                async with connect(f"{url}/c{c}", max_size=2 ** 21) as ws:
                    for i in range(6):
                        size = (c * 7919 + i * 104729) % (2 ** 19)
                        if i % 2:
                            msg = (b"%d.%d|" % (c, i) * size)[:size]
                        else:
                            msg = ("%d:%d\u00e9" % (c, i) * size)[:size // 8]
                        await ws.send(msg)
                        reply = await ws.recv()
                        got.append((type(reply).__name__, len(reply),
                                    reply == msg[::-1]))
                return got
            clients = await asyncio.gather(*(client(c) for c in range(30)))
        return sorted(server_rec), clients
    rec = assert_same(main)
    assert all(ok for got in rec[1] for _, _, ok in got)


# ---- large and fragmented messages -----------------------------------------

def test_large_and_fragmented_messages():
    """A 4 MiB message whole, a message sent as a list of fragments and as
    an async iterator of fragments; the server receives them whole and
    fragment by fragment (recv_streaming), and streams one back."""
    async def main():
        rec = []

        async def handler(ws):
            big = await ws.recv()
            rec.append(("big", len(big), digest(big)))
            frags = [len(f) async for f in ws.recv_streaming()]
            rec.append(("fragments", frags))
            text = await ws.recv()
            rec.append(("async fragments", len(text), digest(text)))
            # Send back a fragmented message from an async generator.
            async def parts():
                for i in range(20):
                    yield bytes([i]) * (i * 5000 + 1)
                    await asyncio.sleep(0)
            await ws.send(parts())
            await ws.send("done")

        async with serve(handler, "127.0.0.1", 0, max_size=None) as srv:
            async with connect(f"ws://127.0.0.1:{port_of(srv)}",
                               max_size=None) as ws:
                big = hashlib.sha256(b"big").digest() * (2 ** 17)   # 4 MiB
                await ws.send(big)
                await ws.send([b"a" * 10, b"b" * 70000, b"", b"c" * 3])

                async def text_parts():
                    for i in range(30):
                        yield "fr\u00e4g %d " % i * 500
                        await asyncio.sleep(0)
                await ws.send(text_parts())
                frags = [len(f) async for f in ws.recv_streaming()]
                rec.append(("client got fragments", frags))
                rec.append(("last", await ws.recv()))
            rec.append(("client close", int(ws.close_code), ws.close_reason))
        return rec
    assert_same(main)


# ---- closing in the middle ---------------------------------------------------

def test_close_during_send():
    """Two ways a connection ends while a message is being sent: the
    client calls close() while its own fragmented send is in progress
    (websockets fails the connection with 1011), and the server closes
    while the client streams a fragmented message."""
    async def main():
        rec = []
        server_done = asyncio.Event()

        async def handler(ws):
            mode = ws.request.path
            try:
                if mode == "/own-close":
                    async for _ in ws:
                        pass
                elif mode == "/server-closes":
                    async for frag in ws.recv_streaming():
                        await ws.close(4000, "enough")
                rec.append(("server", mode, "closed", ws.close_code))
            except ConnectionClosed as exc:
                rec.append(("server", mode, closed(exc)))
            finally:
                server_done.set()

        async with serve(handler, "127.0.0.1", 0, max_size=None) as srv:
            url = f"ws://127.0.0.1:{port_of(srv)}"

            # 1. Our own close() in the middle of our fragmented send.
            async with connect(url + "/own-close") as ws:
                halfway = asyncio.Event()

                async def parts():
                    for i in range(10):
                        yield b"x" * 1000
                        if i == 2:
                            halfway.set()
                        await asyncio.sleep(0.01)
                sender = asyncio.create_task(ws.send(parts()))
                await halfway.wait()
                await ws.close()
                try:
                    await sender
                    rec.append(("send", "returned"))
                except ConnectionClosed as exc:
                    rec.append(("send", closed(exc)))
            rec.append(("own close", int(ws.close_code), ws.close_reason))
            await server_done.wait()
            server_done.clear()

            # 2. The server closes while we stream a fragmented message.
            async with connect(url + "/server-closes") as ws:
                async def slow_parts():
                    for i in range(1000):
                        yield "part %d" % i
                        await asyncio.sleep(0.005)
                try:
                    await ws.send(slow_parts())
                    rec.append(("slow send", "returned"))
                except ConnectionClosed as exc:
                    rec.append(("slow send", closed(exc)))
            await server_done.wait()
        return rec
    assert_same(main)
