"""Run one async scenario on a stdlib asyncio loop and on a pyasync loop
and compare what it returns: the shared runner of the real-library tests
(test_db_real.py, test_websockets_real.py, test_anyio_real.py)."""
import asyncio

import pyasync


def run_on(impl, main, timeout=60):
    """main() on a fresh loop of impl ("asyncio" or "pyasync") under
    asyncio.Runner, which is how unmodified library code gets the loop."""
    factory = (asyncio.new_event_loop if impl == "asyncio"
               else pyasync.new_event_loop)

    async def checked():
        if impl == "pyasync":
            assert isinstance(asyncio.get_running_loop(), pyasync.EventLoop)
        return await asyncio.wait_for(main(), timeout)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(checked())


def assert_same(main, run=run_on):
    """run("asyncio", main) and run("pyasync", main) return equal, non-empty
    results; return pyasync's."""
    ref = run("asyncio", main)
    ours = run("pyasync", main)
    assert ref, "scenario recorded nothing"
    assert ours == ref
    return ours
