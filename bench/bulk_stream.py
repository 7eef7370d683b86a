"""A bulk transfer through asyncio streams: the asyncio_tcp workload of
pyperformance (a server writes 10 MiB chunks, the client reads them with
StreamReader.read(10 MiB)), with its throughput and read() calls.

    python bench/bulk_stream.py asyncio|pyasync|uvloop [BYTES]

read() calls are the process's `syscr` (/proc/self/io) over the transfer:
libuv's reads; asyncio's recv() calls are recvfrom, which syscr does not
count (count those with `strace -c -f`).
"""
import asyncio
import sys
import time

CHUNK = 10 * 2**20


def loop_factory(impl):
    if impl == "pyasync":
        import pyasync
        return pyasync.new_event_loop
    if impl == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    return asyncio.new_event_loop


def read_calls():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("syscr"):
                return int(line.split()[1])
    return 0


async def transfer(total):
    data = b"x" * CHUNK

    async def handle(reader, writer):
        sent = 0
        while sent < total:
            writer.write(data)
            sent += CHUNK
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(
        *server.sockets[0].getsockname()[:2])
    calls, t0, got = read_calls(), time.perf_counter(), 0
    while True:
        chunk = await reader.read(CHUNK)
        if not chunk:
            break
        got += len(chunk)
    seconds, calls = time.perf_counter() - t0, read_calls() - calls
    writer.close()
    server.close()
    await server.wait_closed()
    return got, seconds, calls


def main():
    impl = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 200 * 2**20
    with asyncio.Runner(loop_factory=loop_factory(impl)) as runner:
        got, seconds, calls = runner.run(transfer(total))
    print(f"{impl}: {got / seconds / 1e9:.2f} GB/s, {calls} read() calls "
          f"for {got / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
