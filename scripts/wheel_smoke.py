"""Smoke test for an installed pyasync (a wheel in a fresh venv).

Runs one small program three ways -- stdlib asyncio, `import pyasync as
asyncio`, and unmodified asyncio code after pyasync.install() -- and checks
that the three print the same lines and that the last two really ran on
pyasync's loop.  Then says which libuv the process mapped.

    python wheel_smoke.py               # any installed pyasync
    python wheel_smoke.py --bundled     # also require _core from site-packages
                                        # and libuv from pyasync.libs (wheel)

Run it from outside the repository, so `import pyasync` cannot find the
source tree's package instead of the installed one.  Exit status 0 = passed.
"""
import asyncio
import ctypes
import os
import sys


async def _worker(aio, name, delay, log):
    await aio.sleep(delay)
    log.append(f"worker {name} done")
    return name.upper()


async def _echo(reader, writer):
    data = await reader.readline()
    writer.write(data.upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _client(aio, port, i):
    reader, writer = await aio.open_connection("127.0.0.1", port)
    writer.write(f"hello {i}\n".encode())
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return reply


async def _boom():
    await asyncio.sleep(0)
    raise ValueError("boom")


async def program(aio):
    """The lines it returns must not depend on which loop ran it."""
    log = []
    loop = aio.get_running_loop()

    # Tasks, sleep and gather: completion order follows the delays,
    # results follow the argument order.
    t = aio.create_task(_worker(aio, "a", 0.03, log))
    res = await aio.gather(_worker(aio, "b", 0.01, log), t,
                           _worker(aio, "c", 0, log))
    log.append(f"gather -> {res}")
    res = await aio.gather(_boom(), _worker(aio, "d", 0, log),
                           return_exceptions=True)
    log.append(f"gather(return_exceptions) -> {res!r}")

    # Cancellation and timeouts.
    slow = aio.create_task(aio.sleep(10))
    await aio.sleep(0)
    slow.cancel()
    try:
        await slow
    except aio.CancelledError:
        log.append(f"cancelled -> {slow.cancelled()}")
    try:
        await aio.wait_for(aio.sleep(10), 0.01)
    except aio.TimeoutError:
        log.append("wait_for -> timed out")

    # Callback order on the loop itself.
    order = []
    done = loop.create_future()
    loop.call_later(0.02, order.append, "later 0.02")
    loop.call_later(0.01, order.append, "later 0.01")
    loop.call_soon(order.append, "soon")
    loop.call_later(0.03, done.set_result, None)
    await done
    log.append(f"callbacks -> {order}")

    # A TCP echo server on 127.0.0.1 (libuv's TCP handles on pyasync),
    # three concurrent clients.
    server = await aio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    replies = await aio.gather(*(_client(aio, port, i) for i in range(3)))
    server.close()
    await server.wait_closed()
    log.append(f"echo -> {replies}")

    # A thread (libuv's async wakeup from another thread).
    log.append(f"to_thread -> {await aio.to_thread(sum, [1, 2, 3])}")
    return log, loop


def run_three_ways():
    import pyasync

    results = {}
    lines, loop = asyncio.run(program(asyncio))
    assert not isinstance(loop, pyasync.EventLoop), type(loop)
    results["stdlib asyncio"] = lines

    lines, loop = pyasync.run(program(pyasync))
    assert isinstance(loop, pyasync.EventLoop), type(loop)
    results["import pyasync as asyncio"] = lines

    pyasync.install()
    try:
        lines, loop = asyncio.run(program(asyncio))
    finally:
        asyncio.set_event_loop_policy(None)
    assert isinstance(loop, pyasync.EventLoop), type(loop)
    results["pyasync.install() + asyncio"] = lines
    return results


def mapped_libuv():
    """Paths of every libuv the dynamic loader mapped into this process."""
    with open("/proc/self/maps") as f:
        paths = {line.split(None, 5)[5].strip() for line in f
                 if len(line.split(None, 5)) == 6}
    return sorted(p for p in paths if "libuv" in os.path.basename(p))


def main():
    bundled = "--bundled" in sys.argv[1:]
    import pyasync
    import pyasync._core as core
    print(f"python {sys.version.split()[0]}: pyasync from "
          f"{os.path.dirname(pyasync.__file__)}")
    print(f"_core: {os.path.basename(core.__file__)}")
    failed = []

    results = run_three_ways()
    reference = results["stdlib asyncio"]
    for how, lines in results.items():
        same = lines == reference
        print(f"{'ok ' if same else 'BAD'} {how}: {len(lines)} lines"
              f"{'' if same else ' differ from stdlib asyncio'}")
        if not same:
            failed.append(how)
            for a, b in zip(reference, lines):
                if a != b:
                    print(f"    asyncio: {a}\n    {how}: {b}")
    for line in reference:
        print(f"    {line}")

    import sysconfig
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        # A free-threaded build: importing and running pyasync must leave
        # the GIL off (an extension that does not say it can run without
        # it turns it back on for the whole process).
        if sys._is_gil_enabled():
            failed.append("GIL enabled")
            print("BAD the GIL is on after import pyasync (free-threaded build)")
        else:
            print("ok the GIL stays off (free-threaded build)")

    libs = mapped_libuv()
    for path in libs:
        uv = ctypes.CDLL(path)
        uv.uv_version_string.restype = ctypes.c_char_p
        print(f"libuv {uv.uv_version_string().decode()} mapped from {path}")
    if not libs:
        failed.append("no libuv mapped")
        print("BAD no libuv mapped into the process")
    if bundled:
        pkg = os.path.dirname(os.path.realpath(core.__file__))
        site = os.path.dirname(pkg)
        if os.path.basename(site) != "site-packages":
            failed.append("_core not installed")
            print(f"BAD _core is not from a site-packages: {core.__file__}")
        own = os.path.join(site, "pyasync.libs") + os.sep
        foreign = [p for p in libs if not os.path.realpath(p).startswith(own)]
        if foreign:
            failed.append("foreign libuv")
            print(f"BAD libuv not from {own}: {foreign}")
        else:
            print(f"ok libuv is the wheel's own copy ({own})")

    if failed:
        print(f"SMOKE TEST FAILED: {', '.join(failed)}")
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
