"""CPython's test_asyncio.test_sock_lowlevel on the pyasync loop: the
sock_* methods, and the tests of it that need transports."""
import unittest

from test.test_asyncio import test_sock_lowlevel
from test.test_asyncio import utils as test_utils

import pyasync

# Tests of the mixin that need what other parts of issue 4 bring.
NEEDS_TRANSPORTS = {}


class PyasyncSockTests(test_sock_lowlevel.BaseSockTestsMixin,
                       test_utils.TestCase):

    def create_event_loop(self):
        return pyasync.new_event_loop()


for _name, _reason in NEEDS_TRANSPORTS.items():
    setattr(PyasyncSockTests, _name,
            unittest.skip(_reason)(getattr(PyasyncSockTests, _name)))
