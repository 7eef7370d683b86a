"""pyasync: asyncio re-implemented in C on libuv.

`import pyasync as asyncio` runs an asyncio program on pyasync's loop, Future
and Task; `pyasync.install()` makes pyasync's loop the loop under unmodified
asyncio code.  Exceptions are asyncio's own classes, so `except` clauses
written for one catch the other.
"""
from asyncio.exceptions import (CancelledError, InvalidStateError,
                                TimeoutError)
from asyncio.coroutines import iscoroutine, iscoroutinefunction
from asyncio.futures import isfuture
from asyncio.events import AbstractEventLoop

from . import _core
from .events import (get_event_loop, get_event_loop_policy, get_running_loop,
                     new_event_loop, set_event_loop, set_event_loop_policy,
                     _get_running_loop, _set_running_loop)
from .loop import EventLoop
from .policy import EventLoopPolicy, install
from .runners import Runner, run
from .tasks import (Future, Task, all_tasks, create_task, current_task,
                    ensure_future, sleep)

from asyncio.exceptions import BrokenBarrierError
from asyncio.queues import QueueEmpty, QueueFull
from ._core import (Barrier, BoundedSemaphore, Condition, Event, LifoQueue,
                    Lock, PriorityQueue, Queue, Semaphore)
from ._core import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION,
                    as_completed, gather, run_coroutine_threadsafe, shield,
                    to_thread, wait, wait_for, wrap_future)
from .taskgroups import TaskGroup
from .timeouts import Timeout, timeout, timeout_at

# asyncio's streams use only loop methods (create_connection, create_server,
# ...), which pyasync's loop has: the asyncio functions themselves.
from asyncio.streams import (StreamReader, StreamReaderProtocol,
                             StreamWriter, open_connection,
                             open_unix_connection, start_server,
                             start_unix_server)
from asyncio.exceptions import IncompleteReadError, LimitOverrunError
from asyncio.protocols import (BaseProtocol, BufferedProtocol,
                               DatagramProtocol, Protocol,
                               SubprocessProtocol)
from asyncio.transports import (BaseTransport, DatagramTransport,
                                ReadTransport, SubprocessTransport,
                                Transport, WriteTransport)

# asyncio.subprocess works unmodified on pyasync's loop (it asks for the
# running loop): the same module under pyasync's name.
import sys as _sys
from asyncio import subprocess
from asyncio.subprocess import create_subprocess_exec, create_subprocess_shell
_sys.modules.setdefault(__name__ + '.subprocess', subprocess)
del _sys

Handle = _core.Handle
TimerHandle = _core.TimerHandle

__all__ = (
    'AbstractEventLoop', 'Barrier', 'BoundedSemaphore',
    'BrokenBarrierError', 'CancelledError', 'Condition', 'Event',
    'LifoQueue', 'Lock', 'PriorityQueue', 'Queue', 'QueueEmpty',
    'QueueFull', 'Semaphore', 'EventLoop', 'EventLoopPolicy',
    'Future', 'Handle', 'InvalidStateError', 'Runner', 'Task', 'TimeoutError',
    'TimerHandle', 'all_tasks', 'create_task', 'current_task',
    'ensure_future', 'get_event_loop', 'get_event_loop_policy',
    'get_running_loop', 'install', 'iscoroutine', 'iscoroutinefunction',
    'isfuture', 'new_event_loop', 'run', 'set_event_loop',
    'set_event_loop_policy', 'sleep',
    # combinators (csrc/gather.c, shield.c, wait.c, wait_for.c,
    # as_completed.c, threads.c) and the Python-level TaskGroup/timeouts
    'ALL_COMPLETED', 'FIRST_COMPLETED', 'FIRST_EXCEPTION', 'TaskGroup',
    'Timeout', 'as_completed', 'gather', 'run_coroutine_threadsafe',
    'shield', 'timeout', 'timeout_at', 'to_thread', 'wait', 'wait_for',
    'wrap_future',
    # streams and protocols (csrc/io/stream.c, pyasync/_streams_io.py)
    'StreamReader', 'StreamReaderProtocol', 'StreamWriter',
    'open_connection', 'open_unix_connection', 'start_server',
    'start_unix_server', 'IncompleteReadError', 'LimitOverrunError',
    'BaseProtocol', 'BufferedProtocol', 'DatagramProtocol', 'Protocol',
    'SubprocessProtocol', 'BaseTransport', 'DatagramTransport',
    'ReadTransport', 'SubprocessTransport', 'Transport', 'WriteTransport',
    # subprocesses (csrc/io/process.c, pyasync/_subprocess_io.py)
    'create_subprocess_exec', 'create_subprocess_shell',
)
