"""The fast paths of the stream transports, differential against asyncio:
read buffers shared by the loop's streams and handed back after a large
read (kept, hashed or dropped chunks must stay intact), the GIL released
only while the loop blocks, and writes that go out at once or queue."""
import socket
import threading
import time

from difftrace import assert_same

# Distinct contents per message, so a recycled buffer shows up as a change.
def pattern(i, size):
    return bytes((i * 7 + j) % 251 for j in range(256)) * (size // 256) \
        + bytes(size % 256)


class Keeper:
    """Keeps every chunk, checks each one's hash against its contents."""

    def __init__(self, aio, keep):
        self.keep = keep
        self.chunks = []
        self.hashes_ok = True
        self.total = 0
        self.lost = None
        self.aio = aio

    def connection_made(self, transport):
        self.transport = transport
        self.lost = self.aio.get_running_loop().create_future()

    def data_received(self, data):
        # hash() caches the hash in the bytes object: a buffer reused with
        # new contents must not carry the old one.
        if hash(data) != hash(bytes(bytearray(data))):
            self.hashes_ok = False
        self.total += len(data)
        if self.keep:
            self.chunks.append(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(None)


def _large_reads(keep):
    messages = [pattern(i, size) for i, size in
                enumerate([65536, 70000, 1, 65536, 9000, 200000, 65536, 3])]
    expected = b''.join(messages)

    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        keepers = []

        def factory():
            k = Keeper(aio, keep)
            keepers.append(k)
            return k
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection('127.0.0.1', port)
        for m in messages:
            writer.write(m)
            await writer.drain()
            await aio.sleep(0.001)
        writer.close()
        await writer.wait_closed()
        await keepers[0].lost
        k = keepers[0]
        trace('total', k.total, len(expected))
        trace('hashes ok', k.hashes_ok)
        if keep:
            trace('kept intact', b''.join(k.chunks) == expected)
            trace('kept hashes ok',
                  all(hash(c) == hash(bytes(bytearray(c))) for c in k.chunks))
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_large_reads_kept_by_protocol_stay_intact():
    _large_reads(keep=True)


def test_large_reads_dropped_after_hashing():
    _large_reads(keep=False)


def test_stream_echo_mixed_sizes_in_order():
    sizes = [1, 100, 8192, 8193, 9000, 65535, 65536, 65537, 300000, 3]
    messages = [pattern(i, s) for i, s in enumerate(sizes)]

    async def scenario(aio, trace):
        async def handle(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await aio.start_server(handle, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection('127.0.0.1', port)
        for m in messages:
            writer.write(m)
            got = await reader.readexactly(len(m))
            trace('echo', len(m), got == m)
        # Pipelined: everything written first, read back in one go.
        writer.writelines(messages)
        got = await reader.readexactly(sum(sizes))
        trace('pipelined', got == b''.join(messages))
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    assert_same(scenario)


def test_writes_immediate_then_queued_keep_order():
    """Small writes go out at once, a large one queues the rest: the peer
    sees them in call order, and the buffer size says what is queued."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = socket.socketpair()
        b.setblocking(False)
        tr, proto = await loop.create_connection(aio.Protocol, sock=a)
        tr.write(b'first')
        trace('after small', tr.get_write_buffer_size())
        big = pattern(1, 4 << 20)
        tr.write(big)
        trace('queued some', tr.get_write_buffer_size() > 0)
        tr.write(b'last')
        received = bytearray()
        want = 5 + len(big) + 4
        while len(received) < want:
            try:
                received += b.recv(1 << 20)
            except BlockingIOError:
                await aio.sleep(0.001)
        trace('order', bytes(received) == b'first' + big + b'last')
        trace('drained', tr.get_write_buffer_size())
        tr.close()
        await aio.sleep(0.01)
        trace('write after close', tr.is_closing())
        tr.write(b'ignored')
        b.close()
    assert_same(scenario)


def test_other_threads_run_while_the_loop_blocks():
    """The loop releases the GIL while it waits for I/O: a Python thread
    makes progress, and call_soon_threadsafe wakes the loop."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        woke = loop.create_future()
        counter = [0]

        def worker():
            deadline = time.monotonic() + 0.1
            while time.monotonic() < deadline:
                counter[0] += 1          # pure Python: needs the GIL
            loop.call_soon_threadsafe(woke.set_result, 'woken')

        t = threading.Thread(target=worker)
        t.start()
        trace(await woke)                # the loop blocks in its poll
        t.join()
        trace('worker ran', counter[0] > 1000)
    assert_same(scenario)
