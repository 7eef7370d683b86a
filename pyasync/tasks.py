"""Module-level task functions: sleep, create_task, ensure_future.

They are thin: the work happens in the C Task, Future and loop.
"""
import inspect
import types

from asyncio import coroutines as _coroutines
from asyncio import futures as _futures
from asyncio.tasks import all_tasks, current_task

from . import _core
from .events import get_event_loop, get_running_loop

Future = _core.Future
Task = _core.Task

__all__ = ('sleep', 'create_task', 'ensure_future', 'current_task',
           'all_tasks', 'Task', 'Future')


# A bare yield: the task is rescheduled without a future (sleep(0)).
# One small C object instead of a generator and its frame.
_yield_once = _core._yield_once


# fut.set_result(result) unless fut.cancelled(), in C (task.c).
_set_result_unless_cancelled = _core._set_result_unless_cancelled


# sleep(delay, result=None): asyncio's `async def sleep` as a C coroutine
# (sleep.c): delay <= 0 yields once bare; otherwise it awaits a future that
# the running loop's call_later() resolves, cancelling that timer on any
# exit.  Argument errors are raised when it is awaited, as asyncio does.
sleep = _core.sleep


# create_task(coro, *, name=None, context=None): loop.create_task() on
# the running loop, then task.set_name(name); in C (task.c), where a plain
# pyasync loop makes the task without a method call.
create_task = _core.create_task


@types.coroutine
def _wrap_awaitable(awaitable):
    return (yield from awaitable.__await__())


def ensure_future(coro_or_future, *, loop=None):
    """Return a future as is; wrap a coroutine or awaitable in a Task."""
    if _futures.isfuture(coro_or_future):
        if loop is not None and loop is not _futures._get_loop(coro_or_future):
            raise ValueError('The future belongs to a different loop than '
                             'the one specified as the loop argument')
        return coro_or_future
    wrapped = False
    if not _coroutines.iscoroutine(coro_or_future):
        if not inspect.isawaitable(coro_or_future):
            raise TypeError('An asyncio.Future, a coroutine or an awaitable '
                            'is required')
        coro_or_future = _wrap_awaitable(coro_or_future)
        wrapped = True
    if loop is None:
        loop = get_event_loop()
    try:
        return loop.create_task(coro_or_future)
    except RuntimeError:
        if not wrapped:
            coro_or_future.close()
        raise
