"""Module-level task functions: sleep, create_task, ensure_future.

They are thin: the work happens in the C Task, Future and loop.
"""
import functools
import inspect
import sys
import types

from asyncio import coroutines as _coroutines
from asyncio import exceptions as _exceptions
from asyncio import futures as _futures
from asyncio.tasks import all_tasks, current_task

from . import _core
from .events import get_event_loop, get_running_loop
from . import timeouts as _timeouts

# asyncio's registry functions are pyasync's too (one registry for both);
# CPython's own suites swap the C and Python ones in and out by these
# private names (3.14's test_eager_task_factory), so they are here as well.
import asyncio.tasks as _atasks
for _name in ('_c_current_task', '_py_current_task', '_c_all_tasks',
              '_py_all_tasks'):
    if hasattr(_atasks, _name):
        globals()[_name] = getattr(_atasks, _name)
del _name

Future = _core.Future
Task = _core.Task

__all__ = ('sleep', 'create_task', 'ensure_future', 'current_task',
           'all_tasks', 'Task', 'Future', 'wait_for')
if sys.version_info >= (3, 12):
    __all__ += ('eager_task_factory', 'create_eager_task_factory')


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


if sys.version_info >= (3, 12):
    # eager_task_factory(loop, coro, *, name=None, context=None): pyasync
    # Tasks with eager_start=True, in C (task.c); a pyasync loop whose task
    # factory it is makes those tasks without calling it.
    eager_task_factory = _core.eager_task_factory

    if sys.version_info >= (3, 14):
        def create_eager_task_factory(custom_task_constructor):
            """A task factory making custom_task_constructor(...,
            eager_start=True) tasks: they run at once, up to their first
            suspension; 3.14 hands the factory every keyword argument of
            create_task(), eager_start included."""
            def factory(loop, coro, *, eager_start=True, **kwargs):
                return custom_task_constructor(
                    coro, loop=loop, eager_start=eager_start, **kwargs)
            return factory
    else:
        def create_eager_task_factory(custom_task_constructor):
            """A task factory making custom_task_constructor(...,
            eager_start=True) tasks: they run at once, up to their first
            suspension."""
            def factory(loop, coro, *, name=None, context=None):
                return custom_task_constructor(
                    coro, loop=loop, name=name, context=context,
                    eager_start=True)
            return factory


if sys.version_info >= (3, 12):
    # 3.12 rebuilt wait_for() on asyncio.timeout(): a coroutine is awaited
    # inline in the caller's task (no inner task), and a cancellation or
    # timeout is the timeout context's.  The C wait_for (wait_for.c) keeps
    # 3.11's semantics, so here it is asyncio 3.12's, over pyasync objects.
    async def wait_for(fut, timeout):
        """Wait for fut (a future or coroutine) with a timeout; on timeout
        cancel it and raise TimeoutError."""
        if timeout is not None and timeout <= 0:
            fut = ensure_future(fut)
            if fut.done():
                return fut.result()
            await _cancel_and_wait(fut)
            try:
                return fut.result()
            except _exceptions.CancelledError as exc:
                raise _exceptions.TimeoutError from exc
        async with _timeouts.timeout(timeout):
            return await fut

    async def _cancel_and_wait(fut):
        loop = get_running_loop()
        waiter = loop.create_future()
        cb = functools.partial(_release_waiter, waiter)
        fut.add_done_callback(cb)
        try:
            fut.cancel()
            await waiter
        finally:
            fut.remove_done_callback(cb)

    def _release_waiter(waiter, *args):
        if not waiter.done():
            waiter.set_result(None)
else:
    wait_for = _core.wait_for


if sys.version_info >= (3, 12):
    def ensure_future(coro_or_future, *, loop=None):
        """Return a future as is; wrap a coroutine or awaitable in a Task."""
        if _futures.isfuture(coro_or_future):
            if loop is not None and loop is not _futures._get_loop(coro_or_future):
                raise ValueError('The future belongs to a different loop than '
                                 'the one specified as the loop argument')
            return coro_or_future
        should_close = True
        if not _coroutines.iscoroutine(coro_or_future):
            if not inspect.isawaitable(coro_or_future):
                raise TypeError('An asyncio.Future, a coroutine or an '
                                'awaitable is required')

            # 3.12: a native coroutine, named as asyncio's is.
            async def _wrap_awaitable(awaitable):
                return await awaitable

            _wrap_awaitable.__qualname__ = 'ensure_future.<locals>._wrap_awaitable'
            coro_or_future = _wrap_awaitable(coro_or_future)
            should_close = False
        if loop is None:
            loop = get_event_loop()
        try:
            return loop.create_task(coro_or_future)
        except RuntimeError:
            if should_close:
                coro_or_future.close()
            raise
else:
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
                raise TypeError('An asyncio.Future, a coroutine or an '
                                'awaitable is required')
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
