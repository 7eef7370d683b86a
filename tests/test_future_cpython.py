"""CPython's own asyncio Future tests (test.test_asyncio.test_futures),
run against pyasync._core.Future on CPython's test loops."""
import unittest

import pyasync._core as core
from test.test_asyncio import test_futures, utils as tu


def tearDownModule():
    import asyncio
    asyncio.set_event_loop_policy(None)


class PyasyncFutureTests(test_futures.BaseFutureTests, tu.TestCase):
    cls = core.Future


class PyasyncSubFutureTests(test_futures.BaseFutureTests, tu.TestCase):
    class PyasyncSubFuture(core.Future):
        pass

    cls = PyasyncSubFuture


class PyasyncFutureDoneCallbackTests(test_futures.BaseFutureDoneCallbackTests,
                                     tu.TestCase):
    def _new_future(self):
        return core.Future(loop=self.loop)


class PyasyncSubFutureDoneCallbackTests(
        test_futures.BaseFutureDoneCallbackTests, tu.TestCase):
    def _new_future(self):
        class PyasyncSubFuture(core.Future):
            pass
        return PyasyncSubFuture(loop=self.loop)


class PyasyncFutureInheritanceTests(test_futures.BaseFutureInheritanceTests,
                                    tu.TestCase):
    def _get_future_cls(self):
        return core.Future


class PyasyncFutureDelTests(tu.TestCase):
    # CFutureTests.test_future_del_segfault, which lives outside the base
    # class in CPython's file.
    def setUp(self):
        super().setUp()
        self.loop = self.new_test_loop()
        self.addCleanup(self.loop.close)

    def test_future_del_segfault(self):
        fut = core.Future(loop=self.loop)
        with self.assertRaises(AttributeError):
            del fut._asyncio_future_blocking
        with self.assertRaises(AttributeError):
            del fut._log_traceback


if __name__ == '__main__':
    unittest.main()
