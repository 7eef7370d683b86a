"""Differential fuzzing: random coroutine programs (tasks, sleeps, Lock,
Event, Condition, Semaphore, Queue, gather, wait, wait_for, shield, cancel,
exceptions, nested tasks, timeout(), TaskGroup) run on stdlib asyncio and
on pyasync must leave identical traces.  Programs that race with real time
on asyncio itself are discarded (counted, and bounded below).

PYASYNC_FUZZ_EXAMPLES sets how many programs CI draws (default 150);
scripts/fuzz_soak.py runs a long soak.
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings, event

from .compare import DIAGNOSED, SAME, UNSTABLE, compare
from .program import programs

EXAMPLES = int(os.environ.get("PYASYNC_FUZZ_EXAMPLES", "150"))
COUNTS = {SAME: 0, UNSTABLE: 0, DIAGNOSED: 0}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
@given(programs())
def test_random_programs_same_trace(program):
    outcome = compare(program)
    COUNTS[outcome] += 1
    event(outcome)


@settings(max_examples=max(20, EXAMPLES // 3), deadline=None,
          derandomize=True, suppress_health_check=list(HealthCheck),
          database=None)
@given(programs())
def test_random_programs_same_trace_in_debug_mode(program):
    """The deadlock diagnosis raises no false positive: a program asyncio
    finishes leaves asyncio's trace in debug mode too, where a
    DeadlockError would show as a difference; where asyncio's tasks stay
    stuck for good (a task taking a lock it holds), ending them with
    DeadlockError is the diagnosis's true positive (DIAGNOSED)."""
    outcome = compare(program, debug=True)
    COUNTS[outcome] += 1
    event(outcome)


def test_most_programs_were_compared():
    """Runs after the fuzz test (file order): discarding is the exception,
    or the fuzzer would silently test nothing."""
    total = COUNTS[SAME] + COUNTS[UNSTABLE]
    if total == 0:
        pytest.skip("the fuzz test did not run in this session (deselected)")
    print("fuzz: %d programs compared, %d discarded as timing-unstable"
          % (COUNTS[SAME], COUNTS[UNSTABLE]))
    assert COUNTS[SAME] >= 0.8 * total, COUNTS


def test_fuzzer_detects_a_planted_difference(monkeypatch):
    """The fuzzer has teeth: with pyasync's sleep(0) made not to yield (a
    plausible fast-path bug), some generated program must mismatch."""
    import pyasync
    from hypothesis import Phase, find
    from .compare import Mismatch

    real_sleep = pyasync.sleep

    async def sleep_without_yield(delay, result=None):
        if delay == 0:
            return result
        return await real_sleep(delay, result)

    monkeypatch.setattr(pyasync, "sleep", sleep_without_yield)

    def mismatches(program):
        try:
            compare(program, tries=1)
        except Mismatch:
            return True
        return False

    found = find(programs(), mismatches, settings=settings(
        max_examples=200, phases=[Phase.generate], database=None,
        derandomize=True, suppress_health_check=list(HealthCheck)))
    assert found
