"""timeout(), timeout_at() and Timeout: asyncio 3.11's own classes.

asyncio's Timeout only needs what every asyncio-compatible loop and task
offers: events.get_running_loop(), tasks.current_task(), loop.time(),
loop.call_at(), task.cancel()/uncancel()/cancelling().  pyasync's loop is
asyncio's running loop and its tasks are registered with asyncio's
current_task(), so the stdlib classes work unmodified on pyasync objects
(tests/test_comb_cpython.py runs CPython's test_timeouts against them).
Re-exporting them keeps a single definition of these cold paths, and
isinstance() checks written against asyncio.Timeout keep holding.
"""
from asyncio.timeouts import Timeout, timeout, timeout_at

__all__ = ('Timeout', 'timeout', 'timeout_at')
