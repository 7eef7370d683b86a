"""CPython's test_streams and test_server on pyasync's loop.

test_streams' StreamTests make their loops with asyncio.new_event_loop(),
so pyasync's policy is installed around them; test_server's classes take
the loop from new_loop()."""
import asyncio
import unittest

import pytest

from test.test_asyncio import test_server, test_streams

import pyasync

# Tests that cannot pass on pyasync's loop, with the reason.
SKIPS = {}


@pytest.fixture(autouse=True)
def pyasync_policy():
    old = asyncio.get_event_loop_policy()
    pyasync.install()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(old)


def _skipping(cls):
    for name, reason in SKIPS.items():
        cls_name, _, meth = name.partition('.')
        if cls_name == cls.__name__ and hasattr(cls, meth):
            setattr(cls, meth, unittest.skip(reason)(getattr(cls, meth)))
    return cls


@_skipping
class StreamTests(test_streams.StreamTests):

    def setUp(self):
        super().setUp()
        assert isinstance(self.loop, pyasync.EventLoop)


@_skipping
class StartServerTests(test_server.SelectorStartServerTests):

    def new_loop(self):
        return pyasync.new_event_loop()


