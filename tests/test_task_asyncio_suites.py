"""CPython's asyncio suites with pyasync's Task and Future swapped in.

asyncio's loops build tasks with `tasks.Task(...)` and futures with
`futures.Future(...)`, looked up at call time, so replacing those names
makes every create_task()/create_future() of the stdlib loops (and thus
gather, wait_for, timeouts, TaskGroup, locks, queues, ...) run on
pyasync's objects.  The replacement is process-wide, so each suite runs in
its own interpreter and must pass whole."""
import subprocess
import sys

import pytest

RUNNER = r"""
import asyncio, asyncio.futures, asyncio.tasks, importlib, signal, sys, unittest
# Python's own Ctrl-C handler, which test_runners expects even when this
# process was started with SIGINT ignored (test_cpython_as_pyasync.py).
signal.signal(signal.SIGINT, signal.default_int_handler)
import pyasync._core as core
asyncio.tasks.Task = asyncio.Task = core.Task
asyncio.futures.Future = asyncio.Future = core.Future
mod = importlib.import_module('test.test_asyncio.' + sys.argv[1])
suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
result = unittest.TextTestRunner(verbosity=0, stream=sys.stdout).run(suite)
sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
"""

SUITES = ['test_tasks', 'test_locks', 'test_queues', 'test_taskgroups',
          'test_timeouts', 'test_waitfor', 'test_runners', 'test_pep492']


@pytest.mark.parametrize('suite', SUITES)
def test_suite_passes_with_pyasync_task(suite):
    proc = subprocess.run([sys.executable, '-c', RUNNER, suite],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
