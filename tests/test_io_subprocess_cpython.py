"""CPython's subprocess tests on pyasync's loop: test_subprocess's
SubprocessMixin and test_events' SubprocessTestsMixin.

Both take the loop from setUp; on 3.11-3.13 the policy's child watcher
is replaced by one that fails the test if anything asks it to watch a
child: libuv reaps pyasync's children itself.  (3.14 has no child
watchers: its loop watches children itself, and pyasync's loop does not
use asyncio's.)
"""
import asyncio
import sys
import unittest
import warnings

from test.test_asyncio import test_events, test_subprocess
from test.test_asyncio import utils as test_utils

import pyasync

# Tests that cannot apply to pyasync, with the reason.
_POPEN_PATCH = ("patches subprocess.Popen to fail; pyasync spawns with "
                "uv_spawn, not Popen (the same clean-up on a failed spawn is "
                "tested in test_io_subprocess.py::test_spawn_failure_*)")

NOT_APPLICABLE = {
    'test_popen_error': _POPEN_PATCH,
    'test_popen_error_with_stdin_pipe': _POPEN_PATCH,
    'test_pause_reading':
        "assigns mocks to pause_reading/resume_reading on the stdout pipe "
        "transport instance; pyasync's C StreamTransport has no instance "
        "__dict__ (AttributeError: read-only), the connect fails and "
        "asyncio's BaseSubprocessTransport then waits forever for a pipe "
        "that never connected",
}


_WATCHERS = sys.version_info < (3, 14)


class _NoChildWatcher(asyncio.AbstractChildWatcher if _WATCHERS else object):
    """A watcher that must never be used."""

    def add_child_handler(self, pid, callback, *args):
        raise AssertionError("pyasync asked asyncio's child watcher to "
                             "watch pid %d" % pid)

    def remove_child_handler(self, pid):
        return False

    def attach_loop(self, loop):
        pass

    def close(self):
        pass

    def is_active(self):
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class _PyasyncLoopNoWatcher:

    def setUp(self):
        super().setUp()
        self.loop = pyasync.new_event_loop()
        self.set_event_loop(self.loop)
        if _WATCHERS:
            policy = asyncio.get_event_loop_policy()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)
                self._saved_watcher = policy._watcher
                policy._watcher = _NoChildWatcher()

    def tearDown(self):
        if _WATCHERS:
            asyncio.get_event_loop_policy()._watcher = self._saved_watcher
        super().tearDown()


class PyasyncSubprocessTests(_PyasyncLoopNoWatcher,
                             test_subprocess.SubprocessMixin,
                             test_utils.TestCase):
    pass


class PyasyncSubprocessEventTests(_PyasyncLoopNoWatcher,
                                  test_events.SubprocessTestsMixin,
                                  test_utils.TestCase):
    pass


for _name, _reason in NOT_APPLICABLE.items():
    setattr(PyasyncSubprocessTests, _name,
            unittest.skip(_reason)(getattr(PyasyncSubprocessTests, _name)))


if __name__ == '__main__':
    unittest.main()
