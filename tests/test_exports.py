"""`import pyasync as asyncio` finds every name of asyncio's __all__."""
import asyncio

import pyasync


def test_every_asyncio_name_is_exported():
    missing = [name for name in asyncio.__all__ if not hasattr(pyasync, name)]
    assert missing == []
    assert set(asyncio.__all__) <= set(pyasync.__all__)


def test_hot_names_are_pyasyncs_own_and_exceptions_are_asyncios():
    for name in ("Future", "Task", "gather", "shield", "wait", "wait_for",
                 "Lock", "Event", "Condition", "Semaphore", "Queue", "sleep"):
        assert getattr(pyasync, name) is not getattr(asyncio, name), name
    for name in ("CancelledError", "InvalidStateError", "TimeoutError",
                 "QueueEmpty", "QueueFull", "BrokenBarrierError",
                 "IncompleteReadError", "Protocol"):
        assert getattr(pyasync, name) is getattr(asyncio, name), name
    assert pyasync.DefaultEventLoopPolicy is pyasync.EventLoopPolicy
