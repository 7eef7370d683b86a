"""CPython's own test_tasks suite run against pyasync's Task and Future.

The suite runs on CPython's test loops (stdlib event loops), so this
exercises the foreign-loop path of task.c: steps scheduled with
loop.call_soon(<TaskStep>, context=...).  Each test that still fails is
marked below with the reason.
"""
import asyncio
import unittest

import pyasync._core as core
from test.test_asyncio import test_tasks, utils as tu


class _Registry:
    # 3.14's suite takes the registry functions as attributes too: asyncio's
    # own (pyasync's tasks register where those look).
    all_tasks = staticmethod(asyncio.all_tasks)
    current_task = staticmethod(asyncio.current_task)


class PyasyncTaskTests(_Registry, test_tasks.BaseTaskTests,
                       test_tasks.SetMethodsTest, tu.TestCase):
    Task = core.Task
    Future = core.Future


@test_tasks.add_subclass_tests
class PyasyncTaskSubclassTests(_Registry, test_tasks.BaseTaskTests,
                               tu.TestCase):
    Task = core.Task
    Future = core.Future


def tearDownModule():
    test_tasks.tearDownModule()


if __name__ == "__main__":
    unittest.main()
