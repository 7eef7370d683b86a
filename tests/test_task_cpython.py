"""CPython's own test_tasks suite run against pyasync's Task and Future.

The suite runs on CPython's test loops (stdlib event loops), so this
exercises the foreign-loop path of task.c: steps scheduled with
loop.call_soon(<TaskStep>, context=...).  Each test that still fails is
marked below with the reason.
"""
import unittest

import pyasync._core as core
from test.test_asyncio import test_tasks, utils as tu


class PyasyncTaskTests(test_tasks.BaseTaskTests, test_tasks.SetMethodsTest,
                       tu.TestCase):
    Task = core.Task
    Future = core.Future


@test_tasks.add_subclass_tests
class PyasyncTaskSubclassTests(test_tasks.BaseTaskTests, tu.TestCase):
    Task = core.Task
    Future = core.Future


def tearDownModule():
    test_tasks.tearDownModule()


if __name__ == "__main__":
    unittest.main()
