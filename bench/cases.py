"""Benchmark cases.  Each case is `async def case(aio, n)`: it does n
operations with the module `aio` (asyncio or pyasync: the functions and
classes a program would call) on the running loop, and returns nothing.
The runner times the whole case and divides by n.

Memory cases (MEMORY below) return a number of bytes instead: the runner
reports that number and does not time them.  Network cases return the
seconds their load generator (another process) measured: the runner uses
that instead of its own clock, so connection set-up is left out."""
import asyncio
import gc
import resource
import subprocess
import sys
import tracemalloc

from bench import loadgen


async def call_soon(aio, n):
    loop = aio.get_running_loop()
    done = loop.create_future()
    remaining = n

    def tick():
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    for _ in range(n):
        loop.call_soon(tick)
    await done


async def timers_fired(aio, n):
    loop = aio.get_running_loop()
    done = loop.create_future()
    remaining = n

    def tick():
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    for i in range(n):
        loop.call_later(0.001 * (i % 10), tick)
    await done


async def timers_cancelled(aio, n):
    loop = aio.get_running_loop()
    handles = [loop.call_later(10 + i * 1e-6, print) for i in range(n)]
    for handle in handles:
        handle.cancel()
    await aio.sleep(0)


async def sleep0_switch(aio, n):
    tasks_count = 100
    rounds = max(1, n // tasks_count)

    async def spinner():
        for _ in range(rounds):
            await aio.sleep(0)

    await aio.gather(*[spinner() for _ in range(tasks_count)])


async def gather_tasks(aio, n):
    async def trivial():
        return 1

    await aio.gather(*[aio.create_task(trivial()) for _ in range(n)])


async def future_roundtrip(aio, n):
    loop = aio.get_running_loop()
    for _ in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut


async def lock_counter(aio, n):
    lock = aio.Lock()
    counter = 0

    async def increment():
        nonlocal counter
        async with lock:
            current = counter
            await aio.sleep(0)
            counter = current + 1

    await aio.gather(*[increment() for _ in range(n)])
    assert counter == n


async def lock_counter_debug(aio, n):
    """lock_counter in debug mode: on pyasync, the deadlock diagnosis
    tracks every acquire, wait and release (docs/diagnostics.md)."""
    loop = aio.get_running_loop()
    loop.set_debug(True)
    try:
        await lock_counter(aio, n)
    finally:
        loop.set_debug(False)


async def event_fanout(aio, n):
    waiters = 1000
    rounds = max(1, n // waiters)
    for _ in range(rounds):
        event = aio.Event()
        tasks = [aio.create_task(event.wait()) for _ in range(waiters)]
        await aio.sleep(0)
        event.set()
        await aio.gather(*tasks)


async def queue_pingpong(aio, n):
    ping, pong = aio.Queue(maxsize=1), aio.Queue(maxsize=1)

    async def echo():
        for _ in range(n):
            await pong.put(await ping.get())

    server = aio.create_task(echo())
    for i in range(n):
        await ping.put(i)
        await pong.get()
    await server


async def async_tree(aio, n, *, sleep=False):
    depth, width = 6, 6

    async def leaf():
        if sleep:
            await aio.sleep(0.0001)

    async def node(level):
        if level == depth:
            await leaf()
            return
        await aio.gather(*[node(level + 1) for _ in range(width)])

    await node(1)


async def async_tree_sleep(aio, n):
    await async_tree(aio, n, sleep=True)


async def memory_task(aio, n):
    """Bytes traced per pending Task (with its suspended coroutine), each
    waiting on one shared future."""
    loop = aio.get_running_loop()
    gate = loop.create_future()

    async def waiter():
        await gate

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tasks = [aio.create_task(waiter()) for _ in range(n)]
    await aio.sleep(0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    gate.set_result(None)
    await aio.gather(*tasks)
    return (after - before) / n


async def memory_future(aio, n):
    """Bytes traced per pending Future (list slot included, alike for all)."""
    loop = aio.get_running_loop()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    futures = [loop.create_future() for _ in range(n)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del futures
    return (after - before) / n


async def rss_1m_tasks(aio, n):
    """Peak RSS of the process (bytes) after running n trivial tasks in
    batches of 10,000."""
    async def trivial():
        return 1

    batch = 10_000
    for start in range(0, n, batch):
        await aio.gather(*[aio.create_task(trivial())
                           for _ in range(min(batch, n - start))])
    gc.collect()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


LOAD_CONNECTIONS = 8   # client connections; the server serves them all


async def _drive(aio, port, n, mode, arg):
    """Run the load generator against 127.0.0.1:port for n round trips
    while this loop serves; return the seconds it measured."""
    loop = aio.get_running_loop()
    cmd = loadgen.command("127.0.0.1", port, LOAD_CONNECTIONS, n, mode, arg)
    done = await loop.run_in_executor(
        None, lambda: subprocess.run(cmd, capture_output=True, text=True,
                                     timeout=300))
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()}")
    return float(done.stdout)


async def _echo_streams(aio, n, size):
    async def handle(reader, writer):
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await aio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await _drive(aio, port, n, "echo", size)
    finally:
        server.close()
        await server.wait_closed()


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def _echo_protocol(aio, n, size):
    loop = aio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await _drive(aio, port, n, "echo", size)
    finally:
        server.close()
        await server.wait_closed()


async def tcp_echo_streams_1k(aio, n):
    return await _echo_streams(aio, n, 1024)


async def tcp_echo_streams_64k(aio, n):
    return await _echo_streams(aio, n, 65536)


async def tcp_echo_protocol_1k(aio, n):
    return await _echo_protocol(aio, n, 1024)


async def tcp_echo_protocol_64k(aio, n):
    return await _echo_protocol(aio, n, 65536)


async def aiohttp_get(aio, n):
    from aiohttp import web

    async def hello(request):
        return web.Response(text="Hello, World!")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await _drive(aio, port, n, "http", "/")
    finally:
        await runner.cleanup()


async def uvicorn_hello(aio, n):
    """uvicorn (its default HTTP parser: httptools when installed, else h11)
    serving a bare ASGI hello-world app on the running loop."""
    import uvicorn

    body = b"Hello, World!"
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain"),
                         (b"content-length", b"%d" % len(body))]}
    done = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):
        await send(start)
        await send(done)

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                            access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    serving = aio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()    # raises what stopped it
        await aio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        return await _drive(aio, port, n, "http", "/")
    finally:
        server.should_exit = True
        await serving


# name: (function, operations per run, what one operation is)
async def eager_tasks(aio, n):
    """create_task() under the module's eager_task_factory (3.12+): each task
    runs in create_task() up to its first suspension; half finish there,
    half suspend once and are gathered."""
    loop = aio.get_running_loop()
    loop.set_task_factory(aio.eager_task_factory)

    async def done_at_once():
        return 1

    async def suspends_once():
        await aio.sleep(0)
        return 2

    try:
        pending = []
        for i in range(n):
            if i & 1:
                pending.append(aio.create_task(suspends_once()))
            else:
                aio.create_task(done_at_once())
        await aio.gather(*pending)
    finally:
        loop.set_task_factory(None)


CASES = {
    "call_soon": (call_soon, 200_000, "callback"),
    "timers_fired": (timers_fired, 100_000, "timer"),
    "timers_cancelled": (timers_cancelled, 100_000, "timer"),
    "sleep0_switch": (sleep0_switch, 200_000, "switch"),
    "gather_tasks": (gather_tasks, 100_000, "task"),
    "future_roundtrip": (future_roundtrip, 100_000, "round-trip"),
    "lock_counter": (lock_counter, 10_000, "coroutine"),
    "lock_counter_debug": (lock_counter_debug, 5_000, "coroutine"),
    "event_fanout": (event_fanout, 100_000, "wake-up"),
    "queue_pingpong": (queue_pingpong, 50_000, "round-trip"),
    "async_tree": (async_tree, 6 ** 5, "leaf"),
    "async_tree_sleep": (async_tree_sleep, 6 ** 5, "leaf"),
    "eager_tasks": (eager_tasks, 100_000, "task"),
    "memory_task": (memory_task, 100_000, "pending task"),
    "memory_future": (memory_future, 100_000, "future"),
    "rss_1m_tasks": (rss_1m_tasks, 1_000_000, "process"),
    # Network cases: sized so that even --quick runs last ~0.1 s (shorter
    # runs are at the mercy of where the scheduler puts the two processes).
    "tcp_echo_streams_1k": (tcp_echo_streams_1k, 200_000, "round-trip"),
    "tcp_echo_streams_64k": (tcp_echo_streams_64k, 60_000, "round-trip"),
    "tcp_echo_protocol_1k": (tcp_echo_protocol_1k, 300_000, "round-trip"),
    "tcp_echo_protocol_64k": (tcp_echo_protocol_64k, 80_000, "round-trip"),
    "aiohttp_get": (aiohttp_get, 80_000, "request"),
    "uvicorn_hello": (uvicorn_hello, 80_000, "request"),
}

# Cases that return bytes (smaller is better) instead of being timed.
MEMORY = {"memory_task", "memory_future", "rss_1m_tasks"}

# Cases a Python version's asyncio has nothing for.
if sys.version_info < (3, 12):
    del CASES["eager_tasks"]
