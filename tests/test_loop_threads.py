"""Threads and signals: call_soon_threadsafe, the GIL while sleeping,
run_in_executor, Ctrl-C interrupting a sleeping loop."""
import asyncio
import os
import signal
import threading
import time

import pytest

import pyasync


def test_call_soon_threadsafe_wakes_sleeping_loop(any_loop):
    loop = any_loop
    woke = []

    def from_thread():
        time.sleep(0.1)
        loop.call_soon_threadsafe(woke.append, loop.time())
        loop.call_soon_threadsafe(loop.stop)

    # Nothing scheduled: the loop sleeps in the poll until woken.
    t = threading.Thread(target=from_thread)
    start = loop.time()
    t.start()
    loop.run_forever()
    t.join()
    elapsed = loop.time() - start
    assert len(woke) == 1
    assert 0.09 < elapsed < 1.0


def test_call_soon_threadsafe_wakes_loop_sleeping_on_timer(any_loop):
    loop = any_loop
    trace = []
    loop.call_later(10, loop.stop)      # the poll would sleep 10 s

    def from_thread():
        time.sleep(0.05)
        loop.call_soon_threadsafe(trace.append, 'woken')
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=from_thread).start()
    start = time.monotonic()
    loop.run_forever()
    assert trace == ['woken']
    assert time.monotonic() - start < 2


@pytest.mark.slow_under_sanitizer   # (a time bound on a busy thread's count)
def test_gil_released_while_sleeping():
    loop = pyasync.new_event_loop()
    counter = [0]
    done = threading.Event()

    def count():
        while not done.is_set():
            counter[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        time.sleep(0.02)
        before = counter[0]
        loop.run_until_complete(asyncio.sleep(0.3))
        during = counter[0] - before
    finally:
        done.set()
        t.join()
        loop.close()
    # Holding the GIL through the sleep would allow only a few switch
    # intervals' worth of counting.
    assert during > 100_000


def test_loop_time_is_monotonic_clock(any_loop):
    a = time.monotonic()
    b = any_loop.time()
    c = time.monotonic()
    assert a <= b <= c


def test_sleep_duration_accuracy():
    loop = pyasync.new_event_loop()
    try:
        for delay in (0.001, 0.01, 0.05):
            start = loop.time()
            loop.run_until_complete(asyncio.sleep(delay))
            elapsed = loop.time() - start
            assert delay <= elapsed < delay + 0.05
    finally:
        loop.close()


def test_run_in_executor(differential):
    def scenario(loop):
        main_thread = threading.get_ident()

        def work(x):
            return x * 2, threading.get_ident() != main_thread

        async def main():
            r = await loop.run_in_executor(None, work, 21)
            with pytest.raises(ZeroDivisionError):
                await loop.run_in_executor(None, lambda: 1 / 0)
            await loop.shutdown_default_executor()
            return r

        return loop.run_until_complete(main())
    assert differential(scenario) == (42, True)


def test_close_shuts_down_default_executor(any_loop):
    any_loop.run_until_complete(any_loop.run_in_executor(None, time.sleep, 0))
    executor = any_loop._default_executor
    any_loop.close()
    assert any_loop._default_executor is None
    assert executor._shutdown


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_sigint_interrupts_sleeping_loop():
    # Python's own handler, whatever this process inherited: a shell that
    # starts a command in the background without job control has it
    # ignore SIGINT (the cause of this test's earlier "intermittent"
    # failures, when CI or a sanitizer run was started that way).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    loop = pyasync.new_event_loop()
    try:
        loop.call_later(5, loop.stop)
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()
        assert time.monotonic() - start < 2
        assert not loop.is_running()
        # The loop still works afterwards.
        assert loop.run_until_complete(asyncio.sleep(0, 'ok')) == 'ok'
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_python_signal_handler_runs_while_sleeping():
    loop = pyasync.new_event_loop()
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *a: (got.append(1), loop.stop()))
    try:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        start = time.monotonic()
        loop.run_forever()
        assert got == [1]
        assert time.monotonic() - start < 2
    finally:
        signal.signal(signal.SIGUSR1, old)
        loop.close()


def test_wakeup_fd_restored():
    loop = pyasync.new_event_loop()
    try:
        before = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(before)
        loop.run_until_complete(asyncio.sleep(0))
        after = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(after)
        assert after == before
    finally:
        loop.close()


def test_loop_in_other_thread():
    result = []

    def run():
        loop = pyasync.new_event_loop()
        result.append(loop.run_until_complete(asyncio.sleep(0.01, 'thread')))
        loop.close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result == ['thread']


def test_sleeping_does_not_spin():
    # What CPython's test_timeout_rounding checks: waiting for timers
    # takes few iterations (the poll is bounded by the deadline, rounded
    # up to whole milliseconds, and does not wake early in a loop).
    loop = pyasync.new_event_loop()
    try:
        async def main():
            for delay in (0.1, 0.01, 0.001, 0.0001, 0.05, 0.002):
                await asyncio.sleep(delay)

        start = loop._iteration_count
        loop.run_until_complete(main())
        assert loop._iteration_count - start <= 30
    finally:
        loop.close()


def test_call_soon_threadsafe_many_threads(any_loop):
    loop = any_loop
    got = []
    n_threads, per_thread = 4, 2000

    def producer(k):
        for i in range(per_thread):
            loop.call_soon_threadsafe(got.append, (k, i))

    def check_done():
        if len(got) == n_threads * per_thread:
            loop.stop()
        else:
            loop.call_later(0.001, check_done)

    threads = [threading.Thread(target=producer, args=(k,))
               for k in range(n_threads)]
    loop.call_soon(lambda: [t.start() for t in threads])
    loop.call_soon(check_done)
    loop.call_later(10, loop.stop)
    loop.run_forever()
    for t in threads:
        t.join()
    assert len(got) == n_threads * per_thread
    for k in range(n_threads):
        assert [i for kk, i in got if kk == k] == list(range(per_thread))


def test_debug_thread_check(differential):
    def scenario(loop):
        loop.set_debug(True)
        errors = []

        def other_thread():
            for meth in (loop.call_soon, loop.call_soon_threadsafe):
                try:
                    meth(print).cancel()
                    errors.append(None)
                except RuntimeError as e:
                    errors.append(str(e))
            try:
                loop.call_later(1, print).cancel()
            except RuntimeError as e:
                errors.append(str(e))

        async def main():
            t = threading.Thread(target=other_thread)
            t.start()
            await loop.run_in_executor(None, t.join)

        loop.run_until_complete(main())
        return errors
    msg = ("Non-thread-safe operation invoked on an event loop other than "
           "the current one")
    assert differential(scenario) == [msg, None, msg]


def test_transports_of_a_loop_running_elsewhere_are_refused():
    """A transport is libuv's handle on the loop's own lists: made from a
    thread other than the one running the loop (connect_accepted_socket
    awaited on another loop), it is refused with asyncio's debug-mode
    error instead of racing the loop's thread (without the GIL, that
    would corrupt them)."""
    loop = pyasync.new_event_loop()
    started = threading.Event()
    loop.call_soon(started.set)
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    a, b = __import__("socket").socketpair()
    try:
        assert started.wait(10)

        async def from_elsewhere():
            return await loop.connect_accepted_socket(asyncio.Protocol, a)
        with pytest.raises(RuntimeError, match="Non-thread-safe operation"):
            pyasync.run(from_elsewhere())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
        loop.close()
        a.close()
        b.close()
