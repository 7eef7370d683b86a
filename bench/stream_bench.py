"""Echo round trips over TCP: asyncio's loop against pyasync's (and uvloop's
when installed).  N clients each send M messages and wait for each echo.

    .venv/bin/python bench/stream_bench.py [clients] [messages] [size]
"""
import asyncio
import sys
import time

import pyasync


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class Client(asyncio.Protocol):
    def __init__(self, loop, count, payload):
        self.left, self.payload = count, payload
        self.want = len(payload)
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.payload)

    def data_received(self, data):
        self.want -= len(data)
        if self.want == 0:
            self.left -= 1
            if self.left == 0:
                self.done.set_result(None)
                return
            self.want = len(self.payload)
            self.transport.write(self.payload)


async def run(clients, messages, size):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    payload = b'x' * size
    conns = [await loop.create_connection(
        lambda: Client(loop, messages, payload), '127.0.0.1', port)
        for _ in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*(p.done for _, p in conns))
    dt = time.perf_counter() - t0
    for tr, _ in conns:
        tr.close()
    server.close()
    await server.wait_closed()
    return clients * messages / dt


def main():
    clients, messages, size = (int(a) for a in (sys.argv[1:] + [0] * 3)[:3])
    clients, messages, size = clients or 50, messages or 2000, size or 1024
    makers = [('asyncio', asyncio.new_event_loop),
              ('pyasync', pyasync.new_event_loop)]
    try:
        import uvloop
        makers.append(('uvloop', uvloop.new_event_loop))
    except ImportError:
        pass
    for name, make in makers:
        loop = make()
        rate = loop.run_until_complete(run(clients, messages, size))
        loop.close()
        print(f'{name:8} {rate:10.0f} round trips/s '
              f'({clients} clients x {messages} x {size} B)')


if __name__ == '__main__':
    main()
