import os
import sys

# Tests import the differential helpers as a plain module.
sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

pytest_plugins = ["pytester"]

pytest.register_assert_rewrite("difftrace")

import asyncio
import gc

import pytest

import pyasync


@pytest.fixture(autouse=True, scope="module")
def _freeze_older_objects():
    """Keep gc.collect() proportional to what a module's tests make.

    The differential helpers collect after every scenario, so that
    finalizers report inside the test that made the garbage.  A full
    collection walks every object in the process, and once the suite has
    imported aiohttp, tornado, hypothesis and CPython's test modules that is
    about 50 ms each time, thousands of times.  What is alive when a module
    starts (after collecting the garbage before it) is moved to the
    permanent generation, which collections skip.
    """
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(params=['asyncio', 'pyasync'])
def any_loop(request):
    """A fresh loop of each implementation, closed afterwards."""
    loop = (asyncio.new_event_loop() if request.param == 'asyncio'
            else pyasync.new_event_loop())
    yield loop
    if not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)


def run_both(scenario):
    """Run scenario(loop) on an asyncio loop and on a pyasync loop; return
    the two traces (after closing the loops)."""
    traces = []
    for make in (asyncio.new_event_loop, pyasync.new_event_loop):
        loop = make()
        try:
            traces.append(scenario(loop))
        finally:
            if not loop.is_closed():
                loop.close()
    return traces


@pytest.fixture
def differential():
    def check(scenario):
        expected, got = run_both(scenario)
        assert got == expected
        return got
    return check
