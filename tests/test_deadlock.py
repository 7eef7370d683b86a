"""Deadlock diagnosis in debug mode (pyasync/_deadlock.py, csrc/diag/lock_diag.c).

The diagnosed programs hang on asyncio; in debug mode pyasync raises
pyasync.DeadlockError instead.  Correct lock-heavy programs run in debug
mode on both and must leave the same trace (no false positives), and the
deadlocking ones behave exactly as asyncio's outside debug mode.
"""
import asyncio
import re

import pytest

import pyasync
from difftrace import Trace

IMPLEMENTATIONS = [("asyncio", asyncio), ("pyasync", pyasync)]


def run_debug(scenario, aio=pyasync):
    trace = Trace()
    aio.run(scenario(aio, trace), debug=True)
    return trace


def assert_same_in_debug_mode(scenario):
    traces = {name: run_debug(scenario, aio) for name, aio in IMPLEMENTATIONS}
    assert traces["asyncio"], "scenario recorded nothing"
    assert traces["pyasync"] == traces["asyncio"]


LOCKS = {
    "Lock": lambda aio: aio.Lock(),
    "Semaphore(1)": lambda aio: aio.Semaphore(1),
    "BoundedSemaphore(1)": lambda aio: aio.BoundedSemaphore(1),
    "Condition": lambda aio: aio.Condition(),
}


def test_deadlock_error_is_a_runtime_error():
    assert issubclass(pyasync.DeadlockError, RuntimeError)
    assert "DeadlockError" in pyasync.__all__


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_awaiting_a_lock_held_by_the_same_task(kind):
    async def scenario(aio, trace):
        lock = LOCKS[kind](aio)
        async with lock:
            try:
                await lock.acquire()
            except aio.DeadlockError as exc:
                trace("raised", str(exc))
            trace("still held", lock.locked())
        trace("released", lock.locked())
    trace = run_debug(scenario)
    assert trace[1:] == [("still held", True), ("released", False)]
    message = trace[0][1]     # (Trace writes Task-N and 0xADDR)
    if "Semaphore" in kind:
        # A semaphore belongs to no task (another may release it): the
        # wait is refused only once the loop has nothing left to run.
        pattern = (r"Task 'Task-N' waits for <pyasync\.\w+ object at "
                   r"0xADDR \[locked[^\]]*\]>, which nothing can release "
                   r"any more: Task 'Task-N' holds it itself \(acquired at "
                   r".*test_deadlock\.py:\d+ in scenario\)")
    else:
        pattern = (r"Task 'Task-N' would wait forever for <pyasync\.\w+ "
                   r"object at 0xADDR \[locked[^\]]*\]>, which it holds "
                   r"itself \(acquired at .*test_deadlock\.py:\d+ in "
                   r"scenario\)")
    assert re.fullmatch(pattern, message), message


@pytest.mark.parametrize("kind", ["Semaphore(1)", "BoundedSemaphore(1)"])
def test_a_semaphore_awaited_again_by_its_taker_and_released_by_another(kind):
    """A consumer takes the unit, then waits for the next one, which a
    producer releases: valid asyncio, so debug mode gives asyncio's trace."""
    async def scenario(aio, trace):
        aio.get_running_loop().set_exception_handler(
            lambda loop, ctx: trace("handler", ctx["message"]))
        sem = LOCKS[kind](aio)

        async def producer():
            for i in range(2):
                await aio.sleep(0.01)
                trace("release", i)
                sem.release()

        await sem.acquire()
        p = aio.create_task(producer())
        for i in range(2):
            await sem.acquire()
            trace("consumer got", i)
        await p
    assert_same_in_debug_mode(scenario)


@pytest.mark.parametrize("kind", ["Lock", "Semaphore(1)"])
def test_a_lock_left_held_by_a_finished_task_for_another_to_release(kind):
    """A task acquires and ends; another releases (asyncio allows it).  In
    debug mode nothing goes to the exception handler, as on asyncio."""
    async def scenario(aio, trace):
        aio.get_running_loop().set_exception_handler(
            lambda loop, ctx: trace("handler", ctx["message"]))
        lock = LOCKS[kind](aio)

        async def taker():
            await lock.acquire()
            trace("taken")

        await aio.create_task(taker())
        await aio.sleep(0.01)
        lock.release()
        trace("released by main", lock.locked())
        async with lock:
            trace("main holds it")
    assert_same_in_debug_mode(scenario)


@pytest.fixture
def report_finished_holders():
    was = pyasync.report_finished_lock_holders(True)
    yield
    assert pyasync.report_finished_lock_holders(was) is True


def test_a_cycle_of_three_tasks_names_every_task_and_lock():
    async def scenario(aio, trace):
        locks = [aio.Lock() for _ in range(3)]
        started = aio.Event()

        async def worker(i):
            async with locks[i]:
                await started.wait()
                await aio.sleep(0.01 * (i + 1))
                try:
                    async with locks[(i + 1) % 3]:
                        trace("worker", i, "got both")
                except aio.DeadlockError as exc:
                    trace("worker", i, "deadlock", str(exc))

        tasks = [aio.create_task(worker(i), name=f"w{i}") for i in range(3)]
        await aio.sleep(0)
        started.set()
        await aio.gather(*tasks)
    trace = run_debug(scenario)
    # The last to close the cycle gets the error; the others then finish.
    assert [e[:3] for e in trace] == [("worker", 2, "deadlock"),
                                      ("worker", 1, "got both"),
                                      ("worker", 0, "got both")]
    message = trace[0][3]
    assert message.startswith("Task 'w2' would close a wait cycle: ")
    steps = message.split(": ", 1)[1].split("; ")
    assert [re.sub(r"<.*?>", "<lock>", re.sub(r" \(acquired at .*\)", "", s))
            for s in steps] == [
        "Task 'w2' waits for <lock>, held by Task 'w0'",
        "Task 'w0' waits for <lock>, held by Task 'w1'",
        "Task 'w1' waits for <lock>, held by Task 'w2'"]
    assert all("test_deadlock.py:" in s for s in steps)


def test_a_task_that_ends_holding_a_lock(report_finished_holders):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        loop.set_exception_handler(
            lambda loop, ctx: trace("handler", ctx["message"].split(" ")[0],
                                    "finished while holding" in ctx["message"],
                                    ctx["task"].get_name()))
        lock = aio.Lock()

        async def holder():
            await lock.acquire()
            raise ValueError("boom")

        t = aio.create_task(holder(), name="holder")
        await aio.sleep(0.01)
        trace("holder done", t.done())
        try:
            await lock.acquire()
        except aio.DeadlockError as exc:
            msg = str(exc)
            trace("deadlock", "nothing can release any more" in msg,
                  "name='holder'" in msg, "in holder" in msg)
        t.exception()
    assert run_debug(scenario) == [
        ("handler", "<Task", True, "holder"),
        ("holder done", True),
        ("deadlock", True, True, True)]


def test_an_orphaned_lock_released_later_by_another_task_is_no_deadlock():
    """Someone may still release it (a timer is pending): no error."""
    async def scenario(aio, trace):
        lock = aio.Lock()
        aio.get_running_loop().set_exception_handler(lambda loop, ctx: None)

        async def taker():
            await lock.acquire()

        async def releaser():
            await aio.sleep(0.02)
            lock.release()
            trace("released by another task")

        await aio.create_task(taker())
        r = aio.create_task(releaser())
        async with lock:
            trace("main got the lock")
        await r
    assert_same_in_debug_mode(scenario)


# ---- correct programs: the same trace as asyncio's in debug mode --------

async def handoff(aio, trace):
    """A Lock used as a signal: taken by one task, released by another.
    After the first release by a non-holder the lock is a signal to the
    diagnosis, and its holder may wait on it again."""
    lock = aio.Lock()
    await lock.acquire()

    async def opener(delay):
        await aio.sleep(delay)
        lock.release()
        trace("opened")

    aio.create_task(opener(0.01))
    await aio.sleep(0.02)
    await lock.acquire()
    trace("got it after the opener")
    aio.create_task(opener(0.01))
    await lock.acquire()          # held by this task: released by opener
    trace("got it again")
    aio.get_running_loop().call_later(0.01, lock.release)
    await lock.acquire()          # released by a plain callback
    trace("released by a callback")


async def semaphore_taken_by_a_task(aio, trace):
    sem = aio.Semaphore(1)
    t = aio.create_task(sem.acquire())
    await aio.sleep(0)
    trace("taken", t.result(), sem.locked())
    sem.release()
    async with sem:
        trace("main has it")


async def consistent_order(aio, trace):
    a, b = aio.Lock(), aio.Lock()

    async def worker(i):
        for _ in range(3):
            async with a:
                await aio.sleep(0)
                async with b:
                    trace("worker", i)
                    await aio.sleep(0)

    await aio.gather(*(worker(i) for i in range(4)))


async def condition_pipeline(aio, trace):
    cond = aio.Condition()
    items = []

    async def consumer(i):
        async with cond:
            await cond.wait_for(lambda: items)
            trace("consumer", i, items.pop(0))

    tasks = [aio.create_task(consumer(i)) for i in range(3)]
    for n in range(3):
        await aio.sleep(0.001)
        async with cond:
            items.append(n)
            cond.notify()
    await aio.gather(*tasks)


async def cancelled_waiters_and_timeouts(aio, trace):
    lock = aio.Lock()

    async def holder():
        async with lock:
            await aio.sleep(0.05)

    h = aio.create_task(holder())
    await aio.sleep(0)
    try:
        await aio.wait_for(lock.acquire(), 0.01)
    except aio.TimeoutError:
        trace("timed out waiting")
    w = aio.create_task(lock.acquire())
    await aio.sleep(0)
    w.cancel()
    trace("cancelled", (await aio.gather(w, return_exceptions=True))[0]
          .__class__.__name__)
    await h
    async with lock:
        trace("finally mine")


async def many_contenders(aio, trace):
    lock = aio.Lock()
    sem = aio.BoundedSemaphore(1)
    counter = [0]

    async def bump(i):
        for _ in range(5):
            async with lock:
                async with sem:
                    v = counter[0]
                    await aio.sleep(0)
                    counter[0] = v + 1

    await aio.gather(*(bump(i) for i in range(10)))
    trace("count", counter[0])


async def nested_tasks_with_locks(aio, trace):
    outer, inner = aio.Lock(), aio.Lock()

    async def child():
        async with inner:
            trace("child has inner")

    async with outer:
        await aio.create_task(child())    # the child does not need outer
        async with inner:
            trace("parent has both")


CORRECT_PROGRAMS = [handoff, semaphore_taken_by_a_task, consistent_order,
                    condition_pipeline, cancelled_waiters_and_timeouts,
                    many_contenders, nested_tasks_with_locks]


@pytest.mark.parametrize("program", CORRECT_PROGRAMS,
                         ids=[p.__name__ for p in CORRECT_PROGRAMS])
def test_correct_programs_raise_nothing(program):
    assert_same_in_debug_mode(program)


# ---- outside debug mode: asyncio's behaviour, hangs included ------------

async def self_deadlock_with_a_limit(aio, trace):
    lock = aio.Lock()
    async with lock:
        try:
            await aio.wait_for(lock.acquire(), 0.02)
        except aio.TimeoutError:
            trace("hung until the time limit")


def test_outside_debug_mode_a_deadlock_hangs_as_on_asyncio():
    traces = {}
    for name, aio in IMPLEMENTATIONS:
        trace = Trace()
        aio.run(self_deadlock_with_a_limit(aio, trace), debug=False)
        traces[name] = trace
    assert traces["pyasync"] == traces["asyncio"] == [
        ("hung until the time limit",)]


def test_a_lock_first_used_as_a_signal_by_its_holder_is_diagnosed():
    """The documented limit (docs/diagnostics.md): debug mode takes a Lock
    for a mutex until a task other than its holder releases it, so a
    holder that waits for another task to release the lock for it, before
    that ever happened, gets DeadlockError.  (Event is the signal type.)"""
    async def main():
        lock = pyasync.Lock()
        await lock.acquire()
        asyncio.get_running_loop().call_later(0.01, lock.release)
        with pytest.raises(pyasync.DeadlockError, match="holds itself"):
            await lock.acquire()
        return "diagnosed"
    assert pyasync.run(main(), debug=True) == "diagnosed"


def test_set_debug_while_running_switches_the_diagnosis():
    async def main():
        loop = asyncio.get_running_loop()
        lock = pyasync.Lock()
        outcomes = []
        for debug in (False, True, False):
            loop.set_debug(debug)
            async with lock:
                try:
                    # (timeout(), not wait_for(): on 3.11 wait_for runs
                    # the acquire in another task, which holds nothing.)
                    async with asyncio.timeout(0.01):
                        await lock.acquire()
                    outcomes.append("acquired")
                except asyncio.TimeoutError:
                    outcomes.append("timeout")
                except pyasync.DeadlockError:
                    outcomes.append("deadlock")
        return outcomes
    assert pyasync.run(main()) == ["timeout", "deadlock", "timeout"]
    assert pyasync._core._debug_loop_running(0) == 0
