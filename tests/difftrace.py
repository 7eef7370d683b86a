"""Differential testing: run one scenario on asyncio and on pyasync, compare.

A scenario is written once against a module `aio` (asyncio or pyasync) and
records what happens in a Trace.  Reprs are normalised (addresses, task
numbers, file paths) so traces compare what matters: what ran, in which
order, with which results and exceptions.
"""
import asyncio
import gc
import re

import pyasync

IMPLEMENTATIONS = (("asyncio", asyncio), ("pyasync", pyasync))

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_TASK_NUMBER = re.compile(r"Task-\d+")


def normalise(text):
    """A repr or message with its run-specific parts replaced."""
    text = _ADDRESS.sub("0xADDR", str(text))
    return _TASK_NUMBER.sub("Task-N", text)


class Trace(list):
    """The events of one run: trace('label', value, ...) appends a tuple."""

    def __call__(self, *event):
        self.append(tuple(normalise(x) if isinstance(x, str) else x
                          for x in event))

    def exc(self, label, exc):
        """Record an exception by type and message."""
        self.append((label, type(exc).__name__, normalise(exc)))


def run_both(scenario, *, via_run=True):
    """Run scenario on both implementations and return {name: Trace}.

    via_run: scenario is `async def scenario(aio, trace)`, run by aio.run();
    otherwise `def scenario(aio, trace)`, which manages its own loop.
    """
    traces = {}
    for name, aio in IMPLEMENTATIONS:
        trace = Trace()
        if via_run:
            aio.run(scenario(aio, trace))
        else:
            scenario(aio, trace)
        gc.collect()
        traces[name] = trace
    return traces


def assert_same(scenario, *, via_run=True):
    """Both implementations leave equal, non-empty traces; return pyasync's."""
    traces = run_both(scenario, via_run=via_run)
    assert traces["asyncio"], "scenario recorded nothing"
    assert traces["pyasync"] == traces["asyncio"]
    return traces["pyasync"]
