"""Signals and shutdown, differential where possible: each script runs in a
subprocess with `aio` = asyncio, then pyasync; output and exit status must
match (and are checked against the expected story)."""
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

import pyasync

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")


def run_script(module, body, *, signal_after_ready=None, timeout=30):
    src = "import {m} as aio\n".format(m=module) + textwrap.dedent(body)
    proc = subprocess.Popen([sys.executable, "-c", src],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if signal_after_ready is not None:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.05)
        proc.send_signal(signal_after_ready)
    out, err = proc.communicate(timeout=timeout)
    lines = out.splitlines()
    # asyncio.run cancels the remaining tasks in all_tasks() (a set) order,
    # which is not deterministic even on asyncio: sort those lines in place.
    idx = [i for i, line in enumerate(lines) if line.startswith("child cleanup")]
    for i, line in zip(idx, sorted(lines[i] for i in idx)):
        lines[i] = line
    return proc.returncode, lines, err


def both(body, **kw):
    expected = run_script("asyncio", body, **kw)
    got = run_script("pyasync", body, **kw)
    assert got[:2] == expected[:2], (expected, got)
    return expected


CTRL_C_BUSY = """
    import time

    async def child(name):
        try:
            await aio.sleep(30)
        finally:
            print("child cleanup", name, flush=True)

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            print("agen finalised", flush=True)

    async def main():
        kids = [aio.create_task(child(i)) for i in range(3)]
        g = agen()
        await g.__anext__()
        await aio.sleep(0)
        print("ready", flush=True)
        try:
            for _ in range(100):      # busy in Python code, not in the poll
                time.sleep(0.01)
            await aio.sleep(0)
            print("not cancelled", flush=True)
        except aio.CancelledError:
            print("main cancelled", flush=True)
            raise

    try:
        aio.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
"""


def test_ctrl_c_while_busy_cancels_main_and_cleans_up():
    rc, out, _ = both(CTRL_C_BUSY, signal_after_ready=signal.SIGINT)
    assert rc == 0
    assert out == ["main cancelled", "child cleanup 0", "child cleanup 1",
                   "child cleanup 2", "agen finalised", "KeyboardInterrupt"]


CTRL_C_EXECUTOR = """
    import time

    async def main():
        loop = aio.get_running_loop()
        job = loop.run_in_executor(None, time.sleep, 0.3)
        print("ready", flush=True)
        try:
            await aio.sleep(30)
        except aio.CancelledError:
            print("main cancelled", flush=True)
            raise

    try:
        aio.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    import threading
    print("threads left", threading.active_count(), flush=True)
"""


def test_ctrl_c_waits_for_executor_shutdown():
    rc, out, _ = both(CTRL_C_EXECUTOR, signal_after_ready=signal.SIGINT)
    assert (rc, out) == (0, ["main cancelled", "KeyboardInterrupt",
                             "threads left 1"])


SIGTERM = """
    import signal

    async def main():
        loop = aio.get_running_loop()
        stop = aio.Event()
        loop.add_signal_handler(signal.SIGTERM, lambda: (
            print("SIGTERM handler", flush=True), stop.set()))
        print("ready", flush=True)
        await stop.wait()
        loop.remove_signal_handler(signal.SIGTERM)
        print("graceful exit", flush=True)
        return 3

    print("result", aio.run(main()), flush=True)
    print("restored", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
"""


def test_sigterm_through_add_signal_handler():
    rc, out, _ = both(SIGTERM, signal_after_ready=signal.SIGTERM)
    assert (rc, out) == (0, ["SIGTERM handler", "graceful exit", "result 3",
                             "restored True"])


FORK = """
    import os, sys

    async def work(tag):
        loop = aio.get_running_loop()
        await aio.sleep(0.01)
        x = await loop.run_in_executor(None, sum, [1, 2, 3])
        fut = loop.create_future()
        loop.call_soon_threadsafe(fut.set_result, x)
        return tag, await fut

    async def main():
        await aio.sleep(0)
        pid = os.fork()
        if pid == 0:
            # the child: a fresh loop works, in and out of the parent's
            # (inherited, now stale) running loop
            try:
                print("child run", aio.run(work("c")), flush=True)
                loop = aio.new_event_loop()
                print("child loop", loop.run_until_complete(work("l")),
                      flush=True)
                loop.close()
            except BaseException as e:
                print("child error", type(e).__name__, e, flush=True)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("parent", await work("p"), os.waitstatus_to_exitcode(status),
              flush=True)

    aio.run(main())
"""


def test_forked_child_gets_a_working_new_loop():
    rc, out, err = both(FORK)
    assert (rc, out) == (0, ["child run ('c', 6)", "child loop ('l', 6)",
                             "parent ('p', 6) 0"]), err


def _fds():
    return sorted(os.listdir("/proc/self/fd"))


def test_close_with_pending_callbacks_executor_jobs_and_sockets():
    """close() on a stopped loop that still has ready callbacks, timers, an
    executor job running, readers and writers on open sockets: every object
    it held is released and every fd it opened is closed."""
    # libuv opens one process-wide pipe (its signal lock) with the first loop
    # of the process and keeps it: not a per-loop resource.
    pyasync.new_event_loop().close()
    fds_before = _fds()
    threads_before = threading.active_count()

    class Payload:
        pass

    loop = pyasync.new_event_loop()
    a, b = socket.socketpair()
    payloads = [Payload() for _ in range(4)]
    refs = [weakref.ref(p) for p in payloads]
    release = threading.Event()
    job_started = threading.Event()

    def job(p):
        job_started.set()
        release.wait(10)

    async def main():
        loop.run_in_executor(None, job, payloads[0])
        loop.add_reader(a, print, payloads[1])
        loop.add_writer(b, print, payloads[2])
        loop.call_later(100, print, payloads[3])
        loop.call_soon(print, payloads[3])
        loop.stop()

    loop.create_task(main())
    loop.run_forever()
    assert job_started.wait(10)
    loop.close()
    assert loop.is_closed()
    release.set()
    del payloads, main
    deadline = time.monotonic() + 10
    while threading.active_count() > threads_before:
        assert time.monotonic() < deadline, "executor thread still alive"
        time.sleep(0.01)
    gc.collect()
    assert [r() for r in refs] == [None] * 4
    a.close()
    b.close()
    assert _fds() == fds_before
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)


FORK_REUSE = """
    import os

    loop = aio.new_event_loop()
    loop.run_until_complete(aio.sleep(0.001))
    pid = os.fork()
    if pid == 0:
        # the child goes on with the loop it inherited (not running at fork)
        try:
            async def w():
                await aio.sleep(0.01)
                fut = loop.create_future()
                loop.call_soon_threadsafe(fut.set_result, 5)
                return await fut
            print("child", loop.run_until_complete(w()), flush=True)
            loop.close()
        except BaseException as e:
            print("child error", type(e).__name__, e, flush=True)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    print("parent", loop.run_until_complete(aio.sleep(0.001, "ok")),
          os.waitstatus_to_exitcode(st), flush=True)
    loop.close()
"""


def test_forked_child_reuses_an_idle_inherited_loop():
    rc, out, err = both(FORK_REUSE)
    assert (rc, out) == (0, ["child 5", "parent ok 0"]), err
