"""run() and Runner: a pyasync loop's life cycle, with asyncio 3.11's rules.

A Runner makes a pyasync loop, runs coroutines on it as main tasks, and on
close cancels what is left, finalises async generators, shuts the default
executor down and closes the loop.  Ctrl-C cancels the main task once; the
run then ends with KeyboardInterrupt.
"""
import contextvars
import enum
import functools
import signal
import inspect
import sys as _sys
import threading

from asyncio import constants as _constants
from asyncio import coroutines as _coroutines
from asyncio import exceptions as _exceptions
from asyncio import tasks as _atasks

from . import events

__all__ = ('Runner', 'run')


class _State(enum.Enum):
    CREATED = "created"
    INITIALIZED = "initialized"
    CLOSED = "closed"


class Runner:
    """Context manager owning one event loop (pyasync's unless loop_factory)."""

    def __init__(self, *, debug=None, loop_factory=None, clock=None):
        self._state = _State.CREATED
        self._debug = debug
        self._loop_factory = loop_factory
        self._clock = clock   # a pyasync.VirtualClock, or None
        self._loop = None
        self._context = None
        self._interrupt_count = 0
        self._owns_event_loop_slot = False

    def __enter__(self):
        self._lazy_init()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def get_loop(self):
        self._lazy_init()
        return self._loop

    def close(self):
        if self._state is not _State.INITIALIZED:
            return
        loop = self._loop
        try:
            _cancel_leftover_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            if _sys.version_info >= (3, 12):
                # 3.12: the executor gets THREAD_JOIN_TIMEOUT to finish.
                loop.run_until_complete(loop.shutdown_default_executor(
                    _constants.THREAD_JOIN_TIMEOUT))
            else:
                loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            if self._owns_event_loop_slot:
                events.set_event_loop(None)
            loop.close()
            self._loop = None
            self._state = _State.CLOSED

    def run(self, coro, *, context=None):
        """Run coro as the main task until it completes; return its result.
        3.14+: any awaitable (wrapped in a coroutine)."""
        if _sys.version_info < (3, 14) and not _coroutines.iscoroutine(coro):
            raise ValueError("a coroutine was expected, got {!r}".format(coro))
        if events._get_running_loop() is not None:
            raise RuntimeError(
                "Runner.run() cannot be called from a running event loop")
        self._lazy_init()
        if not _coroutines.iscoroutine(coro):
            if inspect.isawaitable(coro):
                async def _wrap_awaitable(awaitable):
                    return await awaitable

                coro = _wrap_awaitable(coro)
            else:
                raise TypeError('An asyncio.Future, a coroutine or an '
                                'awaitable is required')
        if context is None:
            context = self._context
        task = self._loop.create_task(coro, context=context)

        sigint_handler = self._install_sigint_handler(task)
        self._interrupt_count = 0
        try:
            return self._loop.run_until_complete(task)
        except _exceptions.CancelledError:
            # A cancel that came from Ctrl-C, not from the program itself.
            if self._interrupt_count > 0:
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None and uncancel() == 0:
                    raise KeyboardInterrupt()
            raise
        finally:
            if (sigint_handler is not None
                    and signal.getsignal(signal.SIGINT) is sigint_handler):
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def _install_sigint_handler(self, task):
        """Route the first Ctrl-C to task.cancel(), when we may own SIGINT."""
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            return None
        handler = functools.partial(self._on_sigint, main_task=task)
        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:
            return None
        return handler

    def _lazy_init(self):
        if self._state is _State.CLOSED:
            raise RuntimeError("Runner is closed")
        if self._state is _State.INITIALIZED:
            return
        if self._loop_factory is None:
            self._loop = events.new_event_loop()
            events.set_event_loop(self._loop)
            self._owns_event_loop_slot = True
        else:
            self._loop = self._loop_factory()
        if self._clock is not None:
            self._clock._attach(self._loop)
        if self._debug is not None:
            self._loop.set_debug(self._debug)
        self._context = contextvars.copy_context()
        self._state = _State.INITIALIZED

    def _on_sigint(self, signum, frame, main_task):
        self._interrupt_count += 1
        if self._interrupt_count == 1 and not main_task.done():
            main_task.cancel()
            # Wake the loop so the cancellation is seen at once.
            self._loop.call_soon_threadsafe(lambda: None)
            return
        raise KeyboardInterrupt()


def _run(main, *, debug=None, loop_factory=None, clock=None):
    """Run coroutine main on a new pyasync loop (or loop_factory()'s, 3.12+)
    and return its result.  clock: a pyasync.VirtualClock for its time."""
    if events._get_running_loop() is not None:
        raise RuntimeError(
            "asyncio.run() cannot be called from a running event loop")
    with Runner(debug=debug, loop_factory=loop_factory, clock=clock) as runner:
        return runner.run(main)


if _sys.version_info >= (3, 12):
    run = _run
    run.__name__ = run.__qualname__ = 'run'
else:
    def run(main, *, debug=None, clock=None):
        """Run coroutine main on a new pyasync loop and return its result.
        clock: a pyasync.VirtualClock for its time."""
        return _run(main, debug=debug, clock=clock)


def _cancel_leftover_tasks(loop):
    leftovers = _atasks.all_tasks(loop)
    if not leftovers:
        return
    for task in leftovers:
        task.cancel()
    loop.run_until_complete(
        _atasks.gather(*leftovers, return_exceptions=True))
    for task in leftovers:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler({
                'message': 'unhandled exception during asyncio.run() shutdown',
                'exception': task.exception(),
                'task': task,
            })
