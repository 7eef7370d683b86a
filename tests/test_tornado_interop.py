"""tornado on pyasync's loop: the is_future() decision of docs/is_future.md.

Each test runs in a subprocess (tornado.concurrent.FUTURES is process-wide
and allow_tornado() extends it for good)."""
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

    if sys.argv[1] == "allow":
        allow_tornado()
    # the policy alone, without install() (which calls allow_tornado too)
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
              tc.is_future(pyasync.Future(loop=asyncio.new_event_loop())))
    except AssertionError as e:
        print("AssertionError")
""")


def run(mode):
    p = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_without_allow_tornado_pyasync_tasks_are_refused():
    # run_sync cannot even recognise main()'s task: it hands it back as a
    # plain value, and main() itself died on tornado's `assert is_future()`
    out = run("plain")
    assert "exception=AssertionError()" in out and out.endswith("[] False")


def test_allow_tornado_makes_tornado_accept_pyasync_futures():
    assert run("allow") == ("[1, 2] ['1', '2', 'add_callback', 'ensure_future', "
                            "'with_timeout'] True")
