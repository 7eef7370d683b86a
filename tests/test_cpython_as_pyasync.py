"""CPython's asyncio suites with `asyncio` meaning pyasync.

DESIGN.md's recipe: each test module is loaded fresh with its global name
`asyncio` bound to the pyasync module and pyasync's policy installed, so
`asyncio.Lock()`, `asyncio.gather()`, `asyncio.run()`,
`IsolatedAsyncioTestCase` loops... are all pyasync's.  The policy is
process-wide, so each suite runs in its own interpreter.
"""
import subprocess
import sys

import pytest

RUNNER = r"""
import faulthandler, importlib.util, signal, sys, unittest
import pyasync

# CPython's suites expect Python's own Ctrl-C handler (test_runners
# interrupts itself and waits for the KeyboardInterrupt); a process started
# with SIGINT ignored, as a background job of a script is, would wait
# forever there, on asyncio too.
signal.signal(signal.SIGINT, signal.default_int_handler)

# A hang shows where it is: every thread's stack, before pytest's own
# timeout (300 s) would kill the test without the suite's output.
faulthandler.dump_traceback_later(280, exit=True)

SKIPS = {}       # suite -> {Class.test: reason}
EXPECTED_FAILURES = {
    # gather([]) returns loop.create_future(); these two tests run it on
    # CPython's own TestLoop, whose futures are asyncio's, so the result is
    # not a pyasync.Future (asyncio's gather does the same on a pyasync loop).
    'test_tasks': ['FutureGatherTests.test_constructor_empty_sequence_use_global_loop',
                   'FutureGatherTests.test_constructor_empty_sequence_use_running_loop'],
}

if sys.version_info >= (3, 13):
    # 3.13's asyncio.EventLoop is the platform's default loop class; under
    # `asyncio` meaning pyasync it is pyasync's libuv loop, on purpose, which
    # is no SelectorEventLoop (docs/versions.md).
    EXPECTED_FAILURES['test_runners'] = [
        'RunTests.test_loop_factory_default_event_loop']

if sys.version_info >= (3, 14):
    # These classes run asyncio's pure-Python Task and make it visible by
    # assigning asyncio.tasks.current_task = _py_current_task; with
    # `asyncio` meaning pyasync that lands on pyasync.tasks, while the
    # TaskGroup under test (asyncio's own class, which pyasync shares)
    # reads asyncio.tasks.current_task, the C one, which cannot see a
    # pure-Python task entered with _py_enter_task.
    EXPECTED_FAILURES['test_eager_task_factory'] = [
        'NonEagerPyTaskTests.test_recursive_taskgroups',
        'EagerPyTaskTests.test_recursive_taskgroups',
        'PyEagerTaskFactoryLoopTests.'
        'test_staggered_race_with_eager_tasks_no_delay']
    # The same cause, with asyncio's staggered_race (which reads the C
    # current_task too): its parent task is None, and the race waits
    # forever instead of failing.
    SKIPS['test_eager_task_factory'] = {
        'PyEagerTaskFactoryLoopTests.test_staggered_race_with_eager_tasks':
            "pure-Python asyncio Tasks made visible through "
            "asyncio.tasks.current_task, which means pyasync.tasks here; "
            "asyncio's staggered_race reads asyncio's C current_task and "
            "hangs (see the expected failures above)"}

import warnings
with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)   # 3.14: policies
    pyasync.install()
name = sys.argv[1]
spec = importlib.util.find_spec('test.test_asyncio.' + name)
mod = importlib.util.module_from_spec(spec)
mod.asyncio = pyasync
exec(compile(spec.loader.get_source(spec.name), spec.origin, 'exec'), mod.__dict__)
mod.asyncio = pyasync
sys.modules[spec.name] = mod
def _own_copy(func):
    # expectedFailure marks the function object itself: a copy keeps the
    # mark off the other classes that share the test through their base.
    def test(self):
        return func(self)
    test.__name__ = func.__name__
    return test


for dotted in EXPECTED_FAILURES.get(name, []):
    cls_name, meth = dotted.split('.')
    cls = getattr(mod, cls_name)
    setattr(cls, meth, unittest.expectedFailure(_own_copy(getattr(cls, meth))))
for dotted, reason in SKIPS.get(name, {}).items():
    cls_name, meth = dotted.split('.')
    cls = getattr(mod, cls_name)
    setattr(cls, meth, unittest.skip(reason)(getattr(cls, meth)))
suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
print(f"{name}: ran {result.testsRun}, failures {len(result.failures)}, "
      f"errors {len(result.errors)}, skipped {len(result.skipped)}, "
      f"expected failures {len(result.expectedFailures)}")
sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
"""

SUITES = ['test_locks', 'test_queues', 'test_timeouts', 'test_waitfor',
          'test_taskgroups', 'test_pep492', 'test_runners', 'test_tasks',
          'test_futures', 'test_futures2', 'test_context', 'test_threads']
if sys.version_info >= (3, 12):
    SUITES.append('test_eager_task_factory')     # new in 3.12


@pytest.mark.parametrize('suite', SUITES)
def test_cpython_suite_with_asyncio_meaning_pyasync(suite):
    proc = subprocess.run([sys.executable, '-c', RUNNER, suite],
                          capture_output=True, text=True, timeout=295)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"{suite}: ran" in proc.stdout
