"""CPython's asyncio suites that use IsolatedAsyncioTestCase, run on the
pyasync loop (policy installed) with the stdlib Task, Future and
primitives: test_locks, test_queues, test_timeouts, test_waitfor,
test_taskgroups.  IsolatedAsyncioTestCase runs its loop in debug mode, so
this also exercises the loop's debug paths."""
import asyncio
import unittest

import pytest

from test.test_asyncio import (test_locks, test_queues, test_taskgroups,
                               test_timeouts, test_waitfor)

import pyasync

_MODULES = (test_locks, test_queues, test_timeouts, test_waitfor,
            test_taskgroups)


@pytest.fixture(autouse=True)
def pyasync_policy():
    old = asyncio.get_event_loop_policy()
    pyasync.install()
    created = []
    init = pyasync.EventLoop.__init__

    def counting_init(self):
        created.append(self)
        init(self)

    pyasync.EventLoop.__init__ = counting_init
    try:
        yield
    finally:
        pyasync.EventLoop.__init__ = init
        asyncio.set_event_loop_policy(old)
    # Every test that used a loop used ours.
    assert all(isinstance(lp, pyasync.EventLoop) for lp in created)
    _CREATED[0] += len(created)


_CREATED = [0]


def _export_test_classes():
    for mod in _MODULES:
        short = mod.__name__.rsplit('.', 1)[-1]
        for name, obj in vars(mod).items():
            if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                    and obj.__module__ == mod.__name__
                    and any(a.startswith('test') for a in dir(obj))):
                globals()[f'{short}__{name}'] = obj


_export_test_classes()


def test_zz_suites_ran_on_pyasync_loops():
    # Runs last in this file: the classes above created pyasync loops.
    assert _CREATED[0] > 100
