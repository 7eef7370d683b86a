"""pyasync.VirtualClock: time jumps over idle waits (docs/diagnostics.md).

The order of callbacks is checked against asyncio on its real clock (the
same program, small delays); virtual times against the nominal deadlines,
which a virtual clock meets exactly.
"""
import asyncio
import socket
import threading
import time

import pytest

import pyasync
from difftrace import Trace


def run_virtual(scenario, start=0.0):
    trace = Trace()
    pyasync.run(scenario(pyasync, trace), clock=pyasync.VirtualClock(start))
    return trace


def run_real_asyncio(scenario):
    trace = Trace()
    asyncio.run(scenario(asyncio, trace))
    return trace


async def timers_scenario(aio, trace):
    loop = aio.get_running_loop()
    # Deadlines 50 ms apart at least, chained sleeps included: asyncio's
    # real clock keeps this order on a loaded machine too.
    for name, delay in [("c", 0.3), ("a", 0.1), ("b", 0.2),
                        ("a2", 0.1), ("zero", 0)]:
        loop.call_later(delay, trace, "timer", name)

    async def sleeper(name, delays):
        for d in delays:
            await aio.sleep(d)
            trace("slept", name, d)

    async def slow():
        await aio.sleep(0.5)
        return "slow"

    await aio.gather(sleeper("s1", [0.15, 0.1]),
                     sleeper("s2", [0.05, 0.3, 0]))
    try:
        await aio.wait_for(slow(), 0.25)
    except aio.TimeoutError:
        trace("wait_for timed out")
    try:
        async with aio.timeout(0.1):
            await aio.sleep(1)
    except TimeoutError:
        trace("timeout() expired")
    trace("end")


def test_callback_order_is_asyncio_real_time_order():
    want = run_real_asyncio(timers_scenario)
    got = run_virtual(timers_scenario)
    assert len(want) > 10
    assert got == want


def test_virtual_times_are_the_nominal_deadlines():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        t0 = loop.time()
        await aio.sleep(3600)
        trace("after an hour", loop.time() - t0)
        fired = loop.create_future()
        loop.call_at(t0 + 7200.5, lambda: fired.set_result(loop.time()))
        trace("call_at", await fired - t0)
        try:
            await aio.wait_for(aio.sleep(10), 2.25)
        except aio.TimeoutError:
            trace("wait_for", loop.time() - t0)
    trace = run_virtual(scenario)
    assert trace == [("after an hour", 3600.0), ("call_at", 7200.5),
                     ("wait_for", 7202.75)]


def test_time_stands_still_while_callbacks_run():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        t0 = loop.time()
        end = time.monotonic() + 0.05
        while time.monotonic() < end:      # 50 ms of real work
            pass
        trace("during work", loop.time() - t0)
        await aio.sleep(0)
        trace("after a switch", loop.time() - t0)
    assert run_virtual(scenario) == [("during work", 0.0),
                                     ("after a switch", 0.0)]


def test_start_jump_and_repr():
    clock = pyasync.VirtualClock(start=100)
    assert clock.time() == 100.0
    assert "unattached" in repr(clock)
    loop = pyasync.new_event_loop(clock=clock)
    try:
        assert loop.time() == 100.0 and clock.time() == 100.0
        seen = []
        loop.call_at(105, lambda: seen.append(loop.time()))
        clock.jump(5)
        assert loop.time() == 105.0
        loop.run_until_complete(asyncio.sleep(0))
        assert seen == [105.0]
        assert repr(clock) == "<VirtualClock time=105.000000>"
    finally:
        loop.close()


def test_bad_uses():
    with pytest.raises(ValueError):
        pyasync.VirtualClock(start=-1)
    with pytest.raises(ValueError):
        pyasync.VirtualClock(start=float("nan"))
    with pytest.raises(RuntimeError):
        pyasync.VirtualClock().jump(1)
    clock = pyasync.VirtualClock()
    loop = pyasync.new_event_loop(clock=clock)
    try:
        with pytest.raises(ValueError):
            clock.jump(-1)
        with pytest.raises(RuntimeError, match="one loop only"):
            pyasync.new_event_loop(clock=clock)
    finally:
        loop.close()
    stdlib_loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="pyasync event loop"):
            pyasync.VirtualClock()._attach(stdlib_loop)
    finally:
        stdlib_loop.close()
    with pytest.raises(RuntimeError, match="not virtual"):
        real = pyasync.new_event_loop()
        try:
            real._advance_virtual_clock(1)
        finally:
            real.close()


def test_runner_and_run_take_a_clock():
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.sleep(86400)
        return loop.time() - t0
    # (From time.monotonic()'s reading, a float sum: equal to the ns.)
    assert pyasync.run(main(), clock=pyasync.VirtualClock()) == \
        pytest.approx(86400.0, abs=1e-6)
    with pyasync.Runner(clock=pyasync.VirtualClock(start=0)) as runner:
        assert runner.get_loop().time() == 0.0
        assert runner.run(main()) == 86400.0


def test_real_io_waits_for_real():
    """A socket being read: the clock waits for real, and moves as much."""
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        got = loop.create_future()
        loop.add_reader(a, lambda: got.set_result(a.recv(100)))
        threading.Timer(0.2, b.send, (b"ping",)).start()
        t0 = loop.time()
        try:
            data = await asyncio.wait_for(got, 30)
        finally:
            loop.remove_reader(a)
            a.close()
            b.close()
        return data, loop.time() - t0
    data, waited = pyasync.run(main(), clock=pyasync.VirtualClock())
    assert data == b"ping"
    assert 0.15 <= waited < 30


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_thread_work_keeps_the_clock_waiting():
    """An executor job may finish before a timer: the clock must not jump
    over it (the wait_for would time out at once).  Nor over the executor's
    shutdown at the end of run(), which 3.12+ bounds by a 300 s timeout
    (a jump would warn that its threads did not join)."""
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r1 = await asyncio.wait_for(
            loop.run_in_executor(None, time.sleep, 0.1), 60)
        r2 = await asyncio.wait_for(asyncio.to_thread(sum, [1, 2]), 60)
        return r1, r2, loop.time() - t0
    r1, r2, waited = pyasync.run(main(), clock=pyasync.VirtualClock())
    assert (r1, r2) == (None, 3)
    assert 0.05 <= waited < 60


def test_the_pytest_fixture(pytester):
    pytester.makepyfile("""
        import asyncio
        import pytest

        async def retry_for_an_hour():
            while True:
                await asyncio.sleep(60)

        def test_gives_up(pyasync_virtual_loop):
            loop = pyasync_virtual_loop
            with pytest.raises(asyncio.TimeoutError):
                loop.run_until_complete(
                    asyncio.wait_for(retry_for_an_hour(), 3600))
            assert loop.time() == 3600.0
            assert asyncio.get_event_loop() is loop
    """)
    result = pytester.runpytest_subprocess("-p", "pyasync.pytest_plugin",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
