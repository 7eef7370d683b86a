"""pytest plugin (-p pyasync_loop): a real library's own suite on pyasync.

What a user does to run asyncio code on pyasync without changing it:

- pyasync's policy is installed, so every loop asyncio makes for the suite
  (asyncio.run(), asyncio.Runner, anyio's asyncio backend,
  asyncio.new_event_loop()) is a pyasync loop;
- uvloop's test base runs its asyncio-flavoured classes (AIOTestCase) on
  pyasync's loop and policy instead of asyncio's.  Their `implementation`
  stays 'asyncio': the tests then expect asyncio's behaviour.

Nothing else in the suite is touched.
"""
import asyncio
import sys

import pyasync


def _install_policy():
    if sys.version_info >= (3, 14):
        # The non-warning internal: the suites run with warnings as errors.
        asyncio.events._set_event_loop_policy(pyasync.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(pyasync.EventLoopPolicy())


def _patch_uvloop_testbase():
    try:
        from uvloop import _testbase
    except ImportError:
        return
    _testbase.AIOTestCase.new_loop = lambda self: pyasync.new_event_loop()
    _testbase.AIOTestCase.new_policy = lambda self: pyasync.EventLoopPolicy()


def pytest_configure(config):
    _install_policy()
    _patch_uvloop_testbase()


def pytest_report_header(config):
    return "real suite on pyasync %s (pyasync's loop and policy)" % (
        pyasync.__file__,)
