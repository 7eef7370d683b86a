"""tornado on pyasync's loop: pyasync's futures are asyncio futures
(docs/is_future.md), so tornado takes them without any patching.

Each test runs in a subprocess, so that nothing another test imported or
changed in tornado is in effect."""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("tornado", reason="tornado is in the test extra")

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    import pyasync
    from pyasync.interop import allow_tornado
    from tornado import gen
    from tornado.ioloop import IOLoop
    import tornado.concurrent as tc

    futures_before = tc.FUTURES
    if sys.argv[1] == "allow":
        allow_tornado()           # kept for old programs: a no-op now
    asyncio.set_event_loop_policy(pyasync.EventLoopPolicy())
    out = []

    async def child(x):
        await asyncio.sleep(0.01)
        out.append(x)
        return x

    async def main():
        loop = IOLoop.current()
        assert isinstance(asyncio.get_running_loop(), pyasync.EventLoop)
        loop.add_callback(child, "add_callback")          # ipykernel's path
        t = asyncio.ensure_future(child("ensure_future"))
        assert type(t) is pyasync.Task
        done = asyncio.get_running_loop().create_future()
        loop.add_future(t, lambda f: done.set_result(f.result()))
        r = await gen.multi([child(1), child(2)])
        await gen.with_timeout(loop.time() + 5, child("with_timeout"))
        await done
        await asyncio.sleep(0.05)
        return r

    try:
        print(IOLoop.current().run_sync(main), sorted(map(str, out)),
              tc.is_future(pyasync.Future(loop=asyncio.new_event_loop())),
              tc.FUTURES is futures_before)
    except AssertionError as e:
        print("AssertionError")
""")


def run(mode):
    p = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


EXPECTED = ("[1, 2] ['1', '2', 'add_callback', 'ensure_future', "
            "'with_timeout'] True True")


def test_tornado_accepts_pyasync_futures_unpatched():
    # ipykernel's add_callback(coroutine), ensure_future, add_future,
    # gen.multi and gen.with_timeout all check is_future()
    assert run("plain") == EXPECTED


def test_allow_tornado_is_a_harmless_no_op():
    assert run("allow") == EXPECTED
