"""CPython's test_buffered_proto and test_sslproto's start_tls/TLS tests on
pyasync's loop: BufferedProtocol transports (read straight into
get_buffer()'s buffer, csrc/io/stream.c) and asyncio's TLS protocol on
pyasync's transports, checked by asyncio's own tests.  Their classes take
the loop from new_loop()."""
import asyncio
import unittest

import pytest

from test.test_asyncio import test_buffered_proto, test_sslproto

import pyasync


@pytest.fixture(autouse=True)
def pyasync_policy():
    old = asyncio.get_event_loop_policy()
    pyasync.install()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(old)


class BufferedProtocolTests(test_buffered_proto.BaseTestBufferedProtocol,
                            unittest.TestCase):

    def new_loop(self):
        return pyasync.new_event_loop()


class StartTLSTests(test_sslproto.BaseStartTLS, unittest.TestCase):

    def new_loop(self):
        return pyasync.new_event_loop()
