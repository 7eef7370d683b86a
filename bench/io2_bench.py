"""UDP and subprocesses: asyncio's loop against pyasync's.

    python bench/io2_bench.py

UDP: ping-pong round trips between two endpoints on 127.0.0.1, and a
burst of datagrams to a counting server.  Subprocesses: spawn `true` and
wait; `cat` with 10 MiB through its pipes.
"""
import asyncio
import sys
import time

import pyasync


class Pong(asyncio.DatagramProtocol):
    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, addr):
        self.tr.sendto(data, addr)


class Ping(asyncio.DatagramProtocol):
    def __init__(self, n, done):
        self.n, self.done = n, done

    def connection_made(self, tr):
        self.tr = tr
        tr.sendto(b'x' * 64)

    def datagram_received(self, data, addr):
        self.n -= 1
        if self.n:
            self.tr.sendto(data)
        else:
            self.done.set_result(None)


class Count(asyncio.DatagramProtocol):
    """Counts datagrams; `batch` is set when `expect` have arrived."""

    def __init__(self):
        self.n = 0
        self.expect = 0
        self.batch = asyncio.Event()

    def datagram_received(self, data, addr):
        self.n += 1
        if self.n >= self.expect:
            self.batch.set()


async def suite():
    loop = asyncio.get_running_loop()
    times = {}
    st, _ = await loop.create_datagram_endpoint(Pong,
                                                local_addr=('127.0.0.1', 0))
    done = loop.create_future()
    t = time.perf_counter()
    ct, _ = await loop.create_datagram_endpoint(
        lambda: Ping(20000, done), remote_addr=st.get_extra_info('sockname'))
    await done
    times['udp ping-pong x20000'] = time.perf_counter() - t
    ct.close()
    st.close()
    st, counter = await loop.create_datagram_endpoint(
        Count, local_addr=('127.0.0.1', 0))
    ct, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=st.get_extra_info('sockname'))
    t = time.perf_counter()
    for _ in range(200):
        # Batches small enough for the receive buffer: nothing is dropped.
        counter.expect += 100
        counter.batch.clear()
        for _ in range(100):
            ct.sendto(b'y' * 64)
        await counter.batch.wait()
    times['udp 200 x 100 one-way'] = time.perf_counter() - t
    ct.close()
    st.close()
    t = time.perf_counter()
    for _ in range(200):
        p = await asyncio.create_subprocess_exec('true')
        await p.wait()
    times['spawn+wait true x200'] = time.perf_counter() - t
    data = b'z' * (10 << 20)
    t = time.perf_counter()
    p = await asyncio.create_subprocess_exec(
        'cat', stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate(data)
    assert out == data
    times['cat 10 MiB'] = time.perf_counter() - t
    await asyncio.sleep(0.05)
    return times


def main():
    results = {}
    for name, new in (('asyncio', asyncio.new_event_loop),
                      ('pyasync', pyasync.new_event_loop)):
        loop = new()
        try:
            results[name] = loop.run_until_complete(suite())
        finally:
            loop.close()
    for case in results['asyncio']:
        a, p = results['asyncio'][case], results['pyasync'][case]
        print(f'{case:24s} asyncio {a * 1e3:8.1f} ms  pyasync '
              f'{p * 1e3:8.1f} ms  x{a / p:.2f}')


if __name__ == '__main__':
    sys.exit(main())
