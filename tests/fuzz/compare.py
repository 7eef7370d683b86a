"""Compare one random program on stdlib asyncio and on pyasync."""
import asyncio
import difflib
import random

import pyasync

from .program import run_program

SAME, UNSTABLE, DIAGNOSED = "same", "unstable", "diagnosed"


class Mismatch(AssertionError):
    pass


def _diff(expected, got):
    return "\n".join(difflib.unified_diff(
        [repr(e) for e in expected], [repr(e) for e in got],
        "asyncio", "pyasync", lineterm="", n=4))


def compare(program, seed=0, tries=3, debug=False):
    """SAME when pyasync's trace equals asyncio's; UNSTABLE when asyncio's
    own trace changes under a perturbed loop (the program races with real
    time, so no trace is the right one); raise Mismatch otherwise.

    A mismatch is confirmed `tries` times, each against a fresh asyncio run,
    so a slow moment of the machine is not reported as a bug.  debug: both
    run in debug mode (pyasync's deadlock diagnosis on); where asyncio's
    tasks are stuck for good (a task taking a lock it holds), pyasync may
    instead end them with DeadlockError: DIAGNOSED.
    """
    base = run_program(asyncio, program, debug=debug)
    if run_program(asyncio, program, perturb=random.Random(seed),
                   debug=debug) != base:
        return UNSTABLE
    for _ in range(tries):
        got = run_program(pyasync, program, debug=debug)
        if got == base:
            return SAME
        if debug and _diagnosed(base, got):
            return DIAGNOSED
        if run_program(asyncio, program, debug=debug) != base:
            return UNSTABLE
    raise Mismatch("program %r\n%s" % (program, _diff(base, got)))


def _diagnosed(base, got):
    """asyncio left tasks stuck, and pyasync's trace differs only from the
    first DeadlockError on (the diagnosis, a true positive there)."""
    if not any(rec[:2] == ("main", "stuck") for rec in base):
        return False
    raised = [i for i, rec in enumerate(got)
              if len(rec) > 2 and rec[2] == "DeadlockError"]
    return bool(raised) and got[:raised[0]] == base[:raised[0]]
