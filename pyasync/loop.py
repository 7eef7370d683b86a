"""pyasync's event loop: the Python face of the C core (_core.Loop).

The hot paths (call_soon, call_later, call_at, time, the iterations of
run_forever, create_task, create_future) are C.  What only runs once per
run or on errors is here, much of it asyncio.BaseEventLoop's own methods
bound as class attributes: they only read the attributes set in __init__.
"""
import asyncio
import gc
import signal
import sys
import sysconfig
import threading
import time
import weakref
from asyncio import base_events, coroutines, events, tasks
from asyncio.log import logger

from . import _core, _deadlock
from ._borrowed import borrowed
from ._io_low import LowLevelIOMixin
from ._streams_io import StreamsIOMixin
from . import _subprocess_io
from . import remote as _remote
from ._subprocess_io import SubprocessMixin
from ._udp_io import UDPMixin

__all__ = ['EventLoop', 'new_event_loop']

_Base = base_events.BaseEventLoop
# What Loop._asyncgen_firstiter_fast does in C (csrc/core/asyncgens.c): while
# these are unpatched, run_forever() installs it instead.
_ASYNCIO_FIRSTITER = _Base._asyncgen_firstiter_hook
_WEAKSET_ADD = weakref.WeakSet.add


# Queued handles are untracked by the GC while only their loop holds them
# (csrc/core/handle.c).  Before a full collection, the handles someone else
# also holds are tracked, so that a cycle through one is collected even
# when its loop was dropped without close().
_live_loops = weakref.WeakSet()
# sys.remote_exec() (3.14+) can run code in this process: see remote.py.
_REMOTE_EXEC = hasattr(sys, 'remote_exec')


def _track_shared_handles(phase, info, _loops=_live_loops):
    # (_loops bound here: module globals may be gone at interpreter exit.)
    if phase == 'start' and info.get('generation') == 2:
        for loop in list(_loops):
            loop._track_shared_handles()


# (Not in the free-threaded build: there queued handles stay tracked, and
# other threads' loops are not this thread's to walk.)
if not sysconfig.get_config_var('Py_GIL_DISABLED'):
    gc.callbacks.append(_track_shared_handles)


def _borrow(name):
    """asyncio.BaseEventLoop's implementation of `name` (_borrowed.py)."""
    return borrowed(_Base, name)


class EventLoop(LowLevelIOMixin, StreamsIOMixin, SubprocessMixin, UDPMixin,
                _core.Loop, asyncio.AbstractEventLoop):
    """An asyncio event loop on libuv."""

    if sys.version_info >= (3, 12):
        # 3.12+ caches `loop.method` lookups only while the instance dict
        # is not made (LOAD_ATTR_METHOD_LAZY_DICT): __init__'s attributes
        # live in slots.  (3.11 caches them only once the dict exists.)
        __slots__ = ('_exception_handler', '_current_handle',
                     '_default_executor', '_executor_shutdown_called',
                     '_asyncgens', '_asyncgens_shutdown_called',
                     '_clock_resolution', '_coroutine_origin_tracking_enabled',
                     '_coroutine_origin_tracking_saved_depth',
                     '_signal_handlers', '_unix_server_sockets')

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._bind_c_methods()

    def __init__(self):
        self._debug = coroutines._is_debug_mode()
        self._exception_handler = None
        self._current_handle = None
        self._default_executor = None
        self._executor_shutdown_called = False
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._clock_resolution = time.get_clock_info('monotonic').resolution
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth = None
        self._signal_handlers = {}
        # 3.13's create_unix_server(cleanup_socket=True) notes its sockets
        # here; _stop_serving() unlinks their paths (_streams_io.py).
        self._unix_server_sockets = {}
        _live_loops.add(self)

    # -- borrowed from BaseEventLoop: they need only the attributes above.
    __repr__ = _Base.__dict__['__repr__']      # (see get_debug below)
    _check_closed = _borrow('_check_closed')
    _check_running = _borrow('_check_running')
    _check_thread = _borrow('_check_thread')
    _check_callback = _borrow('_check_callback')
    _check_default_executor = _borrow('_check_default_executor')
    _set_coroutine_origin_tracking = _borrow('_set_coroutine_origin_tracking')
    _asyncgen_firstiter_hook = _borrow('_asyncgen_firstiter_hook')
    _asyncgen_finalizer_hook = _borrow('_asyncgen_finalizer_hook')
    shutdown_asyncgens = _borrow('shutdown_asyncgens')
    _do_shutdown = _borrow('_do_shutdown')
    set_default_executor = _borrow('set_default_executor')
    run_until_complete = _borrow('run_until_complete')
    get_exception_handler = _borrow('get_exception_handler')
    set_exception_handler = _borrow('set_exception_handler')
    default_exception_handler = _borrow('default_exception_handler')
    call_exception_handler = _borrow('call_exception_handler')
    # The function itself: the C fast paths recognise it (loop.c), and
    # special methods are looked up on the type, at times (interpreter
    # exit) when asyncio's classes may be gone.
    get_debug = _Base.__dict__['get_debug']
    __del__ = _Base.__dict__['__del__']

    def set_debug(self, enabled):
        was = bool(self._debug)
        _Base.set_debug(self, enabled)
        if self.is_running() and bool(enabled) != was:
            # The lock diagnostics follow the debug loops that run.
            _core._debug_loop_running(1 if enabled else -1)

    def run_in_executor(self, executor, func, *args):
        fut = _Base.run_in_executor(self, executor, func, *args)
        if self._clock_is_virtual:
            # A virtual clock must not jump while a thread works: its
            # result may schedule what the jump would skip.
            self._thread_work_begin()
            fut.add_done_callback(self._thread_work_end)
        return fut

    async def shutdown_default_executor(self, *args, **kwargs):
        if not self._clock_is_virtual:
            return await _Base.shutdown_default_executor(self, *args,
                                                         **kwargs)
        # The joining thread resolves a future: thread work, too.
        self._thread_work_begin()
        try:
            return await _Base.shutdown_default_executor(self, *args,
                                                         **kwargs)
        finally:
            self._thread_work_end(None)

    def run_forever(self):
        """Run until stop() is called."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        if self._debug:
            _core._debug_loop_running(1)   # (the lock diagnostics)
        old_agen_hooks = sys.get_asyncgen_hooks()
        old_wakeup_fd = self._install_wakeup_fd()
        # 3.14+: `python -m pyasync ps PID` can wake a main-thread loop
        # (pyasync/remote.py).
        remote_wake = (_remote.watch(self) if old_wakeup_fd is not None
                       and _REMOTE_EXEC else None)
        try:
            sys.set_asyncgen_hooks(firstiter=self._firstiter_hook(),
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            self._run()
        finally:
            if self._debug:
                _core._debug_loop_running(-1)
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)
            self._restore_wakeup_fd(old_wakeup_fd)
            _remote.unwatch(self, remote_wake)

    def _firstiter_hook(self):
        """asyncio's first-iteration hook for async generators, or its C
        twin (csrc/core/asyncgens.c) when neither it nor WeakSet.add is
        patched or overridden."""
        hook = self._asyncgen_firstiter_hook
        if (getattr(hook, '__func__', None) is _ASYNCIO_FIRSTITER
                and weakref.WeakSet.add is _WEAKSET_ADD):
            return self._asyncgen_firstiter_fast
        return hook

    def _install_wakeup_fd(self):
        # Signals must interrupt libuv's poll, which retries on EINTR:
        # the C handler writes to our fd pair and wakes it.  Only the main
        # thread may do this; elsewhere signals are not delivered anyway.
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            return signal.set_wakeup_fd(self._wakeup_fd,
                                        warn_on_full_buffer=False)
        except (ValueError, OSError):
            return None

    def _restore_wakeup_fd(self, old_fd):
        if old_fd is None:
            return
        try:
            signal.set_wakeup_fd(old_fd)
        except (ValueError, OSError):
            pass

    def close(self):
        """Close the loop: drop pending callbacks, release libuv.

        As BaseEventLoop.close: the default executor is shut down without
        waiting.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        # Before libuv lets go of the signals (it resets them to SIG_DFL):
        # Python's handlers come back at once.
        self._remove_all_signal_handlers()
        _subprocess_io.close_pidfds(self)
        self._close()
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    def _log_slow_callback(self, handle, dt):
        # A task step is a C ready entry whose Handle (made for debug
        # mode) has the task itself as callback; asyncio's step callback
        # is bound to its task, and both are named by the task's repr.
        cb = handle._callback
        task = cb if isinstance(cb, _core.Task) else getattr(cb, '__self__',
                                                               None)
        if isinstance(task, (_core.Task, tasks.Task)):
            what = repr(task)
        else:
            what = str(handle)
        logger.warning('Executing %s took %.3f seconds', what, dt)


# (EventLoop's own __init_subclass__ runs for its subclasses only.)
EventLoop._bind_c_methods()


def new_event_loop(*, clock=None):
    """A new pyasync event loop (on clock, a VirtualClock, if given)."""
    loop = EventLoop()
    if clock is not None:
        clock._attach(loop)
    return loop


_core._set_lock_diagnostics(_deadlock.hooks)
