"""Deadlock diagnosis in debug mode: who holds which lock, who waits.

The C primitives (csrc/sync/lock.c, csrc/sync/semaphore.c through csrc/diag/lock_diag.c)
call the hooks below while a debug-mode pyasync loop runs; outside debug
mode they never do.  A Lock, the Lock inside a Condition, and a Semaphore
or BoundedSemaphore made with value 1 count as locks.  This module raises
DeadlockError where a wait can never end:

- a task awaits a Lock it holds itself;
- a task's wait would close a cycle: it waits for a Lock held by a task
  that waits, directly or through a chain, for a Lock it holds;
- a task waits for a lock (or a semaphore) whose holder finished without
  releasing it, and the loop has nothing left that could release it
  (nothing ready, no timer, no I/O, no executor job).

Only what certainly hangs is reported: valid asyncio programs let any task
release a lock another took, so a lock released by a task other than its
holder is used as a signal, not a mutex, and is never diagnosed again.  A
semaphore belongs to no task (a producer may release what a consumer
took), so it takes part only in the last check.  A task that finishes
holding a lock is valid too: it is reported through the loop's exception
handler only when asked for (report_finished_lock_holders()).
"""
import sys
import weakref
from asyncio import events
from asyncio.tasks import current_task   # (pyasync's is asyncio's)

from . import _core


def _sync_coroutine_type():
    """The type of Lock.acquire() and Semaphore.acquire() coroutines."""
    coro = _core.Lock().acquire()
    coro.close()
    return type(coro)


_SyncCoroutine = _sync_coroutine_type()

__all__ = ('DeadlockError', 'report_finished_lock_holders')

_report_finished_holders = False


def report_finished_lock_holders(enabled=True):
    """In debug mode, also report a task that finishes holding a lock
    through the loop's exception handler (a valid program may do that and
    let another task release the lock, so it is off by default).  Returns
    the previous setting."""
    global _report_finished_holders
    was = _report_finished_holders
    _report_finished_holders = bool(enabled)
    return was


class DeadlockError(RuntimeError):
    """A wait that can never end, found by pyasync's debug mode."""


class _Hold:
    """What is known of one lock: its holder and where it was acquired."""
    __slots__ = ('owner', 'where', 'orphaned', 'signal')

    def __init__(self):
        self.owner = None      # weakref to the holding task
        self.where = None      # "file:line in func" of the acquire
        self.orphaned = None   # the report, once the holder finished
        self.signal = False    # released by a non-holder: not diagnosed

    def holder(self):
        return None if self.owner is None else self.owner()


_holds = weakref.WeakKeyDictionary()     # lock -> _Hold
_held_by = weakref.WeakKeyDictionary()   # task -> {id(lock): weakref(lock)}
_waiting = weakref.WeakKeyDictionary()   # task -> the lock it waits for


def _debug_task():
    """The current task when the running loop is in debug mode."""
    loop = events._get_running_loop()
    if loop is None or not loop.get_debug():
        return None
    return current_task(loop)


def _where(depth):
    """The caller's place as "file:line in func" (depth frames up)."""
    try:
        f = sys._getframe(depth)
    except ValueError:
        return "an unknown place"
    while f is not None and f.f_globals.get('__name__') == __name__:
        f = f.f_back
    if f is None:
        return "an unknown place"
    code = f.f_code
    return "%s:%d in %s" % (code.co_filename, f.f_lineno, code.co_name)


def _name(task):
    return "Task %r" % (task.get_name(),)


def _is_mutex(lock):
    """A Lock (a Condition's included), not a semaphore: one a task can
    hold, so that waiting for it while holding it is a deadlock."""
    return isinstance(lock, _core.Lock)


def holder_of(lock):
    """The task debug mode saw acquire lock and not yet release it, or None
    (not seen, released, a signal lock, or its holder finished)."""
    hold = _holds.get(lock)
    return None if hold is None or hold.signal else hold.holder()


class _Hooks:
    """The methods the C primitives call (names fixed in lock_diag.c)."""

    def acquired(self, lock):
        task = _debug_task()
        if task is None:
            return
        hold = _holds.get(lock)
        if hold is None:
            hold = _holds[lock] = _Hold()
        if hold.signal:
            return
        if isinstance(task.get_coro(), _SyncCoroutine):
            # create_task(lock.acquire()): a task that only takes the lock
            # for whoever releases it.  Nobody holds it in the mutex sense.
            hold.owner = hold.where = hold.orphaned = None
            return
        hold.owner = weakref.ref(task)
        hold.where = _where(2)
        hold.orphaned = None
        _held_by.setdefault(task, {})[id(lock)] = weakref.ref(lock)

    def released(self, lock):
        hold = _holds.get(lock)
        if hold is None or hold.signal:
            return
        holder = hold.holder()
        loop = events._get_running_loop()
        task = current_task(loop) if loop is not None else None
        if holder is None or task is not holder:
            # Released by someone else: a signal, not a mutex.
            hold.signal = True
        if holder is not None:
            held = _held_by.get(holder)
            if held is not None:
                held.pop(id(lock), None)
        hold.owner = hold.where = hold.orphaned = None

    def before_wait(self, lock):
        task = _debug_task()
        if task is None:
            return
        hold = _holds.get(lock)
        if hold is not None and not hold.signal and _is_mutex(lock):
            holder = hold.holder()
            if holder is task:
                raise DeadlockError(
                    "%s would wait forever for %s, which it holds itself "
                    "(acquired at %s)" % (_name(task), repr(lock), hold.where))
            cycle = self._cycle(task, lock)
            if cycle:
                raise DeadlockError(
                    "%s would close a wait cycle: %s" % (_name(task), cycle))
        _waiting[task] = lock

    @staticmethod
    def _cycle(task, lock):
        """The wait-for chain from task back to task, described, or None."""
        steps = []
        seen = {id(task)}
        waiter, wanted = task, lock
        while True:
            hold = _holds.get(wanted)
            if hold is None or hold.signal or not _is_mutex(wanted):
                return None
            holder = hold.holder()
            if holder is None:
                return None
            steps.append("%s waits for %s, held by %s (acquired at %s)"
                         % (_name(waiter), repr(wanted), _name(holder),
                            hold.where))
            if holder is task:
                return "; ".join(steps)
            if id(holder) in seen:
                return None      # a cycle without us: not ours to report
            seen.add(id(holder))
            wanted = _waiting.get(holder)
            if wanted is None:
                return None
            waiter = holder

    def wait_ended(self, lock):
        loop = events._get_running_loop()
        if loop is None:
            return
        task = current_task(loop)
        if task is not None and _waiting.get(task) is lock:
            del _waiting[task]

    def task_done(self, task):
        held = _held_by.pop(task, None)
        if not held:
            return
        loop = task.get_loop()
        for ref in held.values():
            lock = ref()
            hold = _holds.get(lock) if lock is not None else None
            if hold is None or hold.holder() is not task:
                continue
            report = ("%r finished while holding %r acquired at %s"
                      % (task, lock, hold.where))
            hold.owner = None
            hold.orphaned = report
            if (_report_finished_holders and loop.get_debug()
                    and not loop.is_closed()):
                # Soon, not now: the task's context is still entered, and
                # 3.13 runs the handler in the task's context.
                loop.call_soon(loop.call_exception_handler,
                               {'message': report, 'task': task})

    def loop_idle(self, loop):
        """Nothing can happen on loop any more: fail the waits for locks
        whose holder finished holding them."""
        for task, lock in list(_waiting.items()):
            if task.done() or task.get_loop() is not loop:
                continue
            hold = _holds.get(lock)
            if hold is None or hold.signal:
                continue
            why = hold.orphaned
            if why is None and hold.holder() is task:
                # (A semaphore: a Lock's self-wait was refused at once.)
                why = "%s holds it itself (acquired at %s)" % (
                    _name(task), hold.where)
            if why is None:
                continue
            fut = getattr(task, '_fut_waiter', None)
            if fut is None or fut.done():
                continue
            fut.set_exception(DeadlockError(
                "%s waits for %s, which nothing can release any more: %s"
                % (_name(task), repr(lock), why)))


hooks = _Hooks()
