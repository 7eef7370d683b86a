"""pyasync: asyncio re-implemented in C on libuv.

`import pyasync as asyncio` runs an asyncio program on pyasync's loop, Future
and Task; `pyasync.install()` makes pyasync's loop the loop under unmodified
asyncio code.  Exceptions are asyncio's own classes, so `except` clauses
written for one catch the other.

(PYTEST_DONT_REWRITE: pyasync's pytest entry point makes pytest mark this
package for assertion rewriting, which warns when pyasync was imported
before pytest started, as by a sitecustomize; it has no asserts to rewrite.)
"""
from asyncio.exceptions import (CancelledError, InvalidStateError,
                                TimeoutError)
from asyncio.coroutines import iscoroutine, iscoroutinefunction
from asyncio.futures import isfuture
from asyncio.events import AbstractEventLoop

import sys as _sys
import types as _types

from . import _core
from .events import (get_event_loop, get_event_loop_policy, get_running_loop,
                     new_event_loop, set_event_loop, set_event_loop_policy,
                     _get_running_loop, _set_running_loop)
from .loop import EventLoop
from .policy import EventLoopPolicy, install
from .runners import Runner, run
from .tasks import (Future, Task, all_tasks, create_task, current_task,
                    ensure_future, sleep, wait_for)
if _sys.version_info >= (3, 12):
    from .tasks import create_eager_task_factory, eager_task_factory

from asyncio.exceptions import BrokenBarrierError
from asyncio.queues import QueueEmpty, QueueFull
if _sys.version_info >= (3, 13):
    from asyncio.queues import QueueShutDown
from ._core import (Barrier, BoundedSemaphore, Condition, Event, LifoQueue,
                    Lock, PriorityQueue, Queue, Semaphore)
from ._core import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION,
                    as_completed, gather, run_coroutine_threadsafe, shield,
                    to_thread, wait, wrap_future)
from .taskgroups import TaskGroup
# asyncio 3.14's call-graph API on every Python, and the task tree.
from .graph import (FrameCallGraphEntry, FutureCallGraph, capture_call_graph,
                    format_call_graph, format_tasks, future_add_to_awaited_by,
                    future_discard_from_awaited_by, install_task_dump_signal,
                    print_call_graph, print_tasks)
from . import graph as _graph
from .timeouts import Timeout, timeout, timeout_at
from .clock import VirtualClock
from ._deadlock import DeadlockError, report_finished_lock_holders

# asyncio.subprocess works unmodified on pyasync's loop (it asks for the
# running loop): the same module under pyasync's name.
from asyncio import subprocess
from asyncio.subprocess import create_subprocess_exec, create_subprocess_shell
_sys.modules.setdefault(__name__ + '.subprocess', subprocess)

# pyasync's policy is the default one for `import pyasync as asyncio` code
# (on 3.14+ a deprecated name, as asyncio's: see __getattr__ below).
if _sys.version_info < (3, 14):
    DefaultEventLoopPolicy = EventLoopPolicy
Handle = _core.Handle
TimerHandle = _core.TimerHandle


# The rest of asyncio's public names are asyncio's own objects, shared on
# purpose: exception classes (so `except` clauses catch both), protocol and
# transport base classes (user protocols subclass them), the task registry
# functions (one registry for both), and what only calls loop methods
# (streams, subprocess helpers, child watchers, the selector loop for code
# that asks for one by name).
import asyncio as _asyncio


# asyncio's submodules that pyasync has no counterpart of are reachable
# as attributes too (`asyncio.staggered.staggered_race`, `asyncio.
# base_events`...), except those whose classes pyasync re-implements, so
# that pyasync.locks.Lock cannot be mistaken for pyasync.Lock.
_OWN_KINDS = frozenset({'futures', 'locks', 'queues'})


def _shared_from_asyncio():
    names = {}
    for name in _asyncio.__all__:
        if name not in globals():
            names[name] = getattr(_asyncio, name)
    for name, value in vars(_asyncio).items():
        if (isinstance(value, type(_asyncio)) and name not in globals()
                and name not in _OWN_KINDS and name != 'sys'
                and value.__name__ == 'asyncio.' + name):
            names[name] = value
    return names


globals().update(_shared_from_asyncio())

if _sys.version_info >= (3, 14):
    def __getattr__(name):
        # asyncio 3.14 deprecates its policy classes by these names.
        if name in ('DefaultEventLoopPolicy', 'AbstractEventLoopPolicy'):
            import warnings
            warnings.warn(f"'asyncio.{name}' is deprecated and slated for "
                          f"removal in Python 3.16", DeprecationWarning,
                          stacklevel=2)
            if name == 'DefaultEventLoopPolicy':
                return EventLoopPolicy
            return _asyncio.events._AbstractEventLoopPolicy
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Free-threaded 3.14 only: with the __getattr__ above, CPython 3.14 looks
# up every `pyasync.sleep` generically, taking references that threads
# running loops fight over; this package, its dict and its own functions
# and classes are made immortal, whose counts nobody touches
# (csrc/module.c, _immortalize).
if hasattr(_core, '_immortalize'):
    _core._immortalize(_sys.modules[__name__], [
        value for value in list(globals().values())
        if isinstance(value, (type, _types.FunctionType,
                              _types.BuiltinFunctionType))
        and getattr(value, '__module__', '').startswith('pyasync')])

__all__ = tuple(sorted(set(_asyncio.__all__) | set(_graph.__all__) | {
    'EventLoop', 'EventLoopPolicy', 'install', 'run', 'Runner',
    'VirtualClock', 'DeadlockError', 'report_finished_lock_holders'}))
del _sys, _types
