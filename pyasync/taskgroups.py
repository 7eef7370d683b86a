"""TaskGroup: asyncio 3.11's own class.

asyncio's TaskGroup uses only the generic protocol: get_running_loop(),
current_task(), loop.create_task() / create_future(), task.cancel(),
uncancel(), cancelling(), add_done_callback() — all of which pyasync's
loop and Task provide — so the stdlib class works unmodified with pyasync
tasks (tests/test_comb_cpython.py runs CPython's test_taskgroups against
it).  Tasks it creates are the loop's tasks: pyasync's on a pyasync loop.
"""
from asyncio.taskgroups import TaskGroup

__all__ = ('TaskGroup',)
