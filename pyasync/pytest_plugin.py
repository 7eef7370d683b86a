"""pytest fixtures for testing asyncio code on pyasync.

Load it with `-p pyasync.pytest_plugin` (or `pytest_plugins =
["pyasync.pytest_plugin"]` in a conftest.py).  It only defines fixtures:
nothing changes for tests that do not ask for them.  (Running a project's
pytest-asyncio tests on pyasync's loop, `pytest --pyasync`, is the
separate, always-installed plugin pyasync_pytest: docs/testing.md.)

pyasync_virtual_loop: a fresh pyasync loop on a VirtualClock, closed
afterwards.  Timeouts and sleeps in the code under test take no real time:

    def test_retry_gives_up(pyasync_virtual_loop):
        loop = pyasync_virtual_loop
        with pytest.raises(TimeoutError):
            loop.run_until_complete(retry_for_an_hour())
        assert loop.time() >= 3600    # the clock starts at 0.0
"""
import asyncio

import pytest

import pyasync


@pytest.fixture
def pyasync_virtual_clock():
    """A VirtualClock starting at 0.0 (for the loop of pyasync_virtual_loop)."""
    return pyasync.VirtualClock(start=0.0)


@pytest.fixture
def pyasync_virtual_loop(pyasync_virtual_clock):
    """A pyasync event loop on pyasync_virtual_clock, set as the current
    loop for the test and closed after it."""
    loop = pyasync.new_event_loop(clock=pyasync_virtual_clock)
    # Both policies': asyncio.get_event_loop() in the code under test
    # finds it whether or not pyasync.install() ran.
    asyncio.set_event_loop(loop)
    pyasync.set_event_loop(loop)
    try:
        yield loop
    finally:
        try:
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            pyasync.set_event_loop(None)
            loop.close()
