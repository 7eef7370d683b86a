"""The task call graph (asyncio 3.14's graph API) and the task tree.

Python 3.14 added asyncio.capture_call_graph(), format_call_graph(),
print_call_graph() and their dataclasses FrameCallGraphEntry and
FutureCallGraph.  pyasync offers the same API on 3.11-3.13, with 3.14's
signatures and output format, for pyasync's (and asyncio's) tasks:

- A task's *call stack* is walked through its coroutine chain (cr_await of
  coroutines, gi_yieldfrom of generator-based ones, ag_await of async
  generators).  pyasync's C coroutines (sleep, Lock.acquire, wait, ...)
  have no frame: they are walked through but, as FrameCallGraphEntry holds
  a frame, they are not entries of the call stack (format_tasks() names
  them).  For the current task the stack is the live frames, as in 3.14.
- *Awaited by* is what 3.14's Task machinery records in each future with
  future_add_to_awaited_by().  pyasync derives it when a graph is asked
  for, so the task step pays nothing: every live task of the loop is
  awaited-by-source for its `_fut_waiter`; a gather()'s children, a
  shield()'s inner future, the futures of a wait(), wait_for() or
  as_completed() the task is in are awaited by that task; a TaskGroup's
  tasks are awaited by the group's parent task; and what was registered
  with future_add_to_awaited_by() is added.

Beyond 3.14: format_tasks() / print_tasks() render every live task of a
loop as a tree (a task awaited by another is printed under it) with what
each one waits on, and install_task_dump_signal() prints that tree on a
signal in debug mode.  docs/diagnostics.md describes the formats.
"""
import asyncio
import dataclasses
import inspect
import signal as _signal
import sys
import threading
import types
import weakref

from . import _core, _deadlock

__all__ = (
    'capture_call_graph',
    'format_call_graph',
    'print_call_graph',
    'FrameCallGraphEntry',
    'FutureCallGraph',
    'future_add_to_awaited_by',
    'future_discard_from_awaited_by',
    'format_tasks',
    'print_tasks',
    'install_task_dump_signal',
)


@dataclasses.dataclass(frozen=True, slots=True)
class FrameCallGraphEntry:
    frame: types.FrameType


@dataclasses.dataclass(frozen=True, slots=True)
class FutureCallGraph:
    future: asyncio.Future
    call_stack: tuple  # of FrameCallGraphEntry, innermost first
    awaited_by: tuple  # of FutureCallGraph


# ---- explicit awaited-by registrations -------------------------------

# future -> {id(waiter): waiter}.  Like 3.14 the waiters are strong
# references (a missing discard keeps a waiter alive while the future
# lives); the futures are weak keys, so a registration never outlives its
# future.
_registered = weakref.WeakKeyDictionary()


def future_add_to_awaited_by(fut, waiter, /):
    """Record that `fut` is awaited on by `waiter`.

    As in asyncio 3.14, only futures are tracked: a call with anything else
    does nothing."""
    if isinstance(fut, asyncio.Future) and isinstance(waiter, asyncio.Future):
        _registered.setdefault(fut, {})[id(waiter)] = waiter


def future_discard_from_awaited_by(fut, waiter, /):
    """Forget that `fut` is awaited on by `waiter` (if it was recorded)."""
    if isinstance(fut, asyncio.Future) and isinstance(waiter, asyncio.Future):
        waiters = _registered.get(fut)
        if waiters is not None:
            waiters.pop(id(waiter), None)
            if not waiters:
                del _registered[fut]


# ---- what is awaited by whom, derived at capture time -----------------

def _is_task(fut):
    return isinstance(fut, (asyncio.Task, _core.Task))


def _loop_tasks(loop):
    try:
        return list(asyncio.all_tasks(loop))
    except RuntimeError:
        return []


def _callbacks(fut):
    """fut's done-callbacks (the callables), [] if it does not say."""
    try:
        cbs = fut._callbacks
    except AttributeError:
        return []
    return [cb[0] if isinstance(cb, tuple) else cb for cb in cbs or ()]


def _coro_chain(coro):
    """The coroutine chain from coro to what it awaits last."""
    chain = []
    seen = set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        chain.append(coro)
        nxt = None
        # _cr_await: a C coroutine's on 3.14+ (csrc/core/ccoro.c says why).
        for attr in ('cr_await', '_cr_await', 'gi_yieldfrom', 'ag_await'):
            try:
                nxt = getattr(coro, attr)
            except AttributeError:
                continue
            break
        else:
            break
        coro = nxt
    return chain


def _closure_var(func, name):
    code = getattr(func, '__code__', None)
    cells = getattr(func, '__closure__', None)
    if code is None or not cells or name not in code.co_freevars:
        return None
    try:
        return cells[code.co_freevars.index(name)].cell_contents
    except ValueError:      # an empty cell
        return None


def _shield_inner(fut):
    """The inner future when fut is the outer future of a shield():
    pyasync's (a C state) or asyncio's (a closure)."""
    for cb in _callbacks(fut):
        view = _core._c_view(getattr(cb, '__self__', None))
        if (view is not None and view['kind'] == 'shield'
                and view['outer'] is fut):
            return view['inner']
        if getattr(cb, '__name__', None) == '_outer_done_callback':
            inner = _closure_var(cb, 'inner')
            if asyncio.isfuture(inner):
                return inner
    return None


# asyncio's own Python combinators, when a task of an asyncio loop is in
# one: the frame's local naming the futures it waits for on the task's
# behalf (pyasync's are C coroutines, seen through _core._c_view).
_ASYNCIO_FRAME_FUTURES = {'_wait': 'fs', 'wait_for': 'fut'}


def _frame_futures(coro):
    frame = getattr(coro, 'cr_frame', None)
    if frame is None or frame.f_code.co_filename != _ASYNCIO_TASKS_FILE:
        return []
    name = _ASYNCIO_FRAME_FUTURES.get(frame.f_code.co_name)
    value = frame.f_locals.get(name) if name is not None else None
    if asyncio.isfuture(value):
        return [value]
    if isinstance(value, (set, frozenset, list)):
        return [f for f in value if asyncio.isfuture(f)]
    return []


_ASYNCIO_TASKS_FILE = asyncio.tasks.__file__


def _followed(fut, seen=None):
    """The futures a combinator future stands for: a gather()'s children
    and a shield()'s inner future, nested ones flattened."""
    seen = set() if seen is None else seen
    if id(fut) in seen:
        return []
    seen.add(id(fut))
    out = []
    children = getattr(fut, '_children', None)
    inner = _shield_inner(fut)
    for child in (list(children) if isinstance(children, (list, tuple))
                  else []) + ([inner] if inner is not None else []):
        out.append(child)
        out.extend(_followed(child, seen))
    return out


def _view_futures(view):
    """The futures a C combinator coroutine waits for on its task's behalf."""
    kind = view['kind']
    if kind == 'wait':
        fs = view['fs']
        return list(fs) if isinstance(fs, (set, frozenset, list)) else []
    if kind in ('wait_for', 'cancel_and_wait'):
        fut = view['fut']
        return [fut] if asyncio.isfuture(fut) else []
    if kind == 'as_completed':
        todo = view['todo']
        return list(todo) if isinstance(todo, (set, frozenset)) else []
    return []


class _AwaitedByIndex:
    """id(future) -> the futures and tasks awaiting it, in discovery order."""

    def __init__(self, loop):
        self._waiters = {}
        tasks = _loop_tasks(loop) if loop is not None else []
        tasks.sort(key=_task_sort_key)
        for task in tasks:
            self._add_task(task)
        for fut, waiters in list(_registered.items()):
            for waiter in list(waiters.values()):
                self._add(fut, waiter)

    def _add(self, fut, waiter):
        if fut is waiter:
            return
        entry = self._waiters.setdefault(id(fut), (fut, {}))
        entry[1].setdefault(id(waiter), waiter)

    def _add_task(self, task):
        waiting = getattr(task, '_fut_waiter', None)
        if waiting is not None:
            self._add(waiting, task)
            for fut in _followed(waiting):
                self._add(fut, task)
        try:
            coro = task.get_coro()
        except AttributeError:
            coro = None
        for c in _coro_chain(coro):
            view = _core._c_view(c)
            for fut in (_view_futures(view) if view is not None
                        else _frame_futures(c)):
                self._add(fut, task)
        for cb in _callbacks(task):
            group = getattr(cb, '__self__', None)
            if isinstance(group, asyncio.TaskGroup):
                parent = getattr(group, '_parent_task', None)
                if parent is not None:
                    self._add(task, parent)

    def awaited_by(self, fut):
        entry = self._waiters.get(id(fut))
        return list(entry[1].values()) if entry is not None else []


def _loop_of(fut):
    try:
        return fut.get_loop()
    except (AttributeError, RuntimeError):
        return getattr(fut, '_loop', None)


# ---- reading a loop that another thread runs --------------------------

def _gil_disabled():
    return not getattr(sys, '_is_gil_enabled', lambda: True)()


def _runs_elsewhere(loop):
    """True when another thread is running loop without the GIL: its
    coroutines then change under a reader here (pyasync's C coroutines
    and CPython's alike), so what they await is read by that thread."""
    if loop is None or not _gil_disabled():
        return False
    ident = getattr(loop, '_thread_id', None)
    return (ident is not None and ident != threading.get_ident()
            and loop.is_running())


def _on_loop_thread(loop, fn, timeout):
    """(True, fn()) run by the thread running loop between two of its
    callbacks, or (False, None) if it has not run within timeout seconds
    (a callback blocking the loop).  fn's exception is raised here.  If
    the loop stops first, fn() runs here: nothing changes its coroutines
    any more (and the queued call, run later, does nothing)."""
    done = threading.Event()
    lock = threading.Lock()
    box = []

    def run():
        with lock:
            if box:
                return          # abandoned: read here already
            try:
                box.append((True, fn()))
            except Exception as exc:     # raised in the caller's thread
                box.append((False, exc))
        done.set()
    try:
        loop.call_soon_threadsafe(run)
    except RuntimeError:        # closed meanwhile
        return True, fn()
    waited = 0.0
    while not done.wait(0.05):
        waited += 0.05
        stopped = not loop.is_running()
        if not stopped and waited < timeout:
            continue
        with lock:
            abandon = not box
            if abandon:
                box.append((None, None))
        if abandon:
            return (True, fn()) if stopped else (False, None)
        done.wait()             # it is answering just now
        break
    ok, value = box[0]
    if ok is False:
        raise value
    return True, value


def _read_on_loop_thread(loop, fn, what):
    """fn(), by loop's own thread when another thread runs it (GIL off),
    else here.  A loop that does not answer within 5 s is reported.  (A
    loop's thread asking another loop waits for it meanwhile.)"""
    if not _runs_elsewhere(loop):
        return fn()
    answered, value = _on_loop_thread(loop, fn, 5.0)
    if not answered:
        raise RuntimeError(
            f'{what}: {loop!r} runs in another thread and did not answer '
            f'within 5 seconds (a callback is blocking it)')
    return value


# ---- capture_call_graph ------------------------------------------------

def _check_future(future):
    if not isinstance(future, asyncio.Future):
        raise TypeError(
            f"{future!r} object does not appear to be compatible "
            f"with asyncio.Future")


def _truncate(entries, limit):
    if limit is None:
        return entries
    if limit > 0:
        return entries[:limit]
    if limit < 0:
        return entries[limit:]
    return entries


def _frame_of(c):
    """The frame of a coroutine, generator or async generator; None for
    pyasync's C coroutines (and finished ones)."""
    for attr in ('cr_frame', 'gi_frame', 'ag_frame'):
        frame = getattr(c, attr, None)
        if frame is not None:
            return frame
    return None


def _coro_stack(coro):
    """Frame entries of coro's chain, outermost first (no C coroutines)."""
    entries = []
    for c in _coro_chain(coro):
        frame = _frame_of(c)
        if frame is not None:
            entries.append(FrameCallGraphEntry(frame))
    return entries


def _graph_awaited_by(future, index, limit, path):
    out = []
    for parent in index.awaited_by(future):
        if id(parent) in path:
            continue    # a cycle of registrations: shown once
        out.append(_graph_for_future(parent, index, limit, path))
    return tuple(out)


def _graph_for_future(future, index, limit, path=frozenset()):
    _check_future(future)
    coro = None
    get_coro = getattr(future, 'get_coro', None)
    if get_coro is not None and limit != 0:
        coro = get_coro()
    stack = _truncate(_coro_stack(coro), limit)
    stack.reverse()
    path = path | {id(future)}
    return FutureCallGraph(future, tuple(stack),
                           _graph_awaited_by(future, index, limit, path))


_CO_ASYNC = (inspect.CO_COROUTINE | inspect.CO_GENERATOR
             | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE)


def _is_generator_frame(frame):
    """What 3.14 tells by `frame.f_generator is not None`."""
    return bool(frame.f_code.co_flags & _CO_ASYNC)


def capture_call_graph(future=None, /, *, depth=1, limit=None):
    """Capture the async call graph for the current task or the given future.

    Returns FutureCallGraph(future, call_stack, awaited_by): call_stack a
    tuple of FrameCallGraphEntry(frame), awaited_by a tuple of
    FutureCallGraph.  Without a future the current task is captured, from
    the frame `depth` levels up from this call; None if there is no current
    task.  `limit` keeps at most abs(limit) entries of each call stack
    (positive: the outermost ones, as asyncio 3.14 does; 0: none)."""
    loop = asyncio.events._get_running_loop()
    if future is not None:
        if loop is None or future is not asyncio.current_task(loop=loop):
            _check_future(future)
            owner = _loop_of(future)
            return _read_on_loop_thread(
                owner, lambda: _graph_for_future(
                    future, _AwaitedByIndex(owner), limit),
                'capture_call_graph()')
    else:
        if loop is None:
            raise RuntimeError(
                'capture_call_graph() is called outside of a running '
                'event loop and no *future* to introspect was provided')
        future = asyncio.current_task(loop=loop)
    if future is None:
        return None
    _check_future(future)

    stack = []
    f = sys._getframe(depth) if limit != 0 else None
    try:
        while f is not None:
            stack.append(FrameCallGraphEntry(f))
            back = f.f_back
            if (_is_generator_frame(f) and back is not None
                    and not _is_generator_frame(back)):
                break   # the bottom coroutine: the task runs it
            f = back
    finally:
        del f
    if limit is not None:
        stack = _truncate(stack, -limit)
    index = _AwaitedByIndex(loop)
    return FutureCallGraph(
        future, tuple(stack),
        _graph_awaited_by(future, index, limit, frozenset({id(future)})))


# ---- format_call_graph / print_call_graph -------------------------------

def _frame_tag(code):
    flags = code.co_flags
    if flags & inspect.CO_COROUTINE:
        return 'async '
    if flags & inspect.CO_ASYNC_GENERATOR:
        return 'async generator '
    if flags & (inspect.CO_GENERATOR | inspect.CO_ITERABLE_COROUTINE):
        return 'generator '
    return ''


def _frame_line(frame):
    code = frame.f_code
    return (f'File {code.co_filename!r}, line {frame.f_lineno}, in '
            f'{_frame_tag(code)}{code.co_qualname}()')


def _future_title(fut):
    if _is_task(fut):
        return f'* Task(name={fut.get_name()!r}, id={id(fut):#x})'
    return f'* Future(id={id(fut):#x})'


def _render_graph(graph, lines, level):
    pad = '    ' * level
    lines.append(pad + _future_title(graph.future))
    if graph.call_stack:
        lines.append(pad + '  + Call stack:')
        for entry in graph.call_stack:
            lines.append(pad + '  |   ' + _frame_line(entry.frame))
    if graph.awaited_by:
        lines.append(pad + '  + Awaited by:')
        for parent in graph.awaited_by:
            _render_graph(parent, lines, level + 1)


def format_call_graph(future=None, /, *, depth=1, limit=None):
    """Return the async call graph of `future` (default: the current task)
    as a string, in asyncio 3.14's format; "" if there is no current task."""
    graph = capture_call_graph(future, depth=depth + 1, limit=limit)
    if graph is None:
        return ''
    lines = []
    try:
        _render_graph(graph, lines, 0)
    finally:
        del graph   # it holds frames
    return '\n'.join(lines)


def print_call_graph(future=None, /, *, file=None, depth=1, limit=None):
    """Print the async call graph of `future` (default: the current task).

    As in asyncio 3.14 it calls format_call_graph(future, depth=depth), so
    with the default depth the stack starts at this function's frame."""
    print(format_call_graph(future, depth=depth, limit=limit), file=file)


# ---- the task tree --------------------------------------------------------

def _task_sort_key(task):
    """Tasks in creation order where names say it (Task-N), then by name."""
    try:
        name = task.get_name()
    except Exception:
        name = ''
    if name.startswith('Task-') and name[5:].isdigit():
        return (0, int(name[5:]), '')
    return (1, 0, name)


def _c_coro_name(coro):
    return getattr(coro, '__qualname__', None) or type(coro).__name__


def _seconds_left(handle, loop):
    try:
        return handle.when() - loop.time()
    except Exception:
        return None


def _count_done(futs):
    done = 0
    for f in futs:
        try:
            done += bool(f.done())
        except Exception:
            pass
    return done


def _describe_view(view, loop, owners=None):
    kind = view['kind']
    if kind == 'sleep':
        text = f'sleep({view["delay"]!r})'
        left = (_seconds_left(view['timer'], loop)
                if view['timer'] is not None else None)
        if left is not None:
            text += f', {max(left, 0.0):.3f} s left'
        return text
    if kind == 'sync':
        prim = view['self']
        name = view['qualname']
        if name.startswith('_ContextManagerMixin.'):   # `async with lock:`
            name = type(prim).__name__ + '.acquire'
            via = ' (async with)'
        else:
            via = ''
        text = f'{name}(){via} on {prim!r}'
        if isinstance(prim, (asyncio.Lock, _core.Lock)):
            holder = owners.get(id(prim)) if owners is not None else None
            text += (f', held by {_future_brief(holder)}' if holder is not None
                     else ', holder unknown')
        return text
    if kind == 'wait':
        fs = _view_futures(view)
        text = f'wait() for {len(fs)} futures ({_count_done(fs)} done)'
    elif kind in ('wait_for', 'cancel_and_wait'):
        text = f'{kind}({_future_brief(view["fut"])})'
    elif kind == 'as_completed':
        text = f'as_completed(), {len(_view_futures(view))} pending'
    else:
        text = kind
    handle = view.get('timeout_handle')
    if handle is not None:
        left = _seconds_left(handle, loop)
        if left is not None:
            text += f', timeout in {max(left, 0.0):.3f} s'
    return text


def _future_brief(fut):
    if _is_task(fut):
        return f'Task(name={fut.get_name()!r}, id={id(fut):#x})'
    return f'{type(fut).__name__}(id={id(fut):#x})'


def _describe_future(fut):
    """What a task's _fut_waiter is, when no C coroutine says more."""
    if _is_task(fut):
        return 'task ' + _future_brief(fut)
    children = getattr(fut, '_children', None)
    if isinstance(children, (list, tuple)):
        return (f'gather() of {len(children)} ({_count_done(children)} '
                f'done)')
    inner = _shield_inner(fut)
    if inner is not None:
        return f'shield({_future_brief(inner)})'
    return 'future ' + _future_brief(fut)


def _describe_stream(frame):
    """'read on fd N' when a Python frame waits inside a StreamReader."""
    reader = frame.f_locals.get('self')
    if not isinstance(reader, asyncio.StreamReader):
        return None
    transport = getattr(reader, '_transport', None)
    sock = transport.get_extra_info('socket') if transport else None
    try:
        fd = sock.fileno() if sock is not None else None
    except Exception:
        fd = None
    where = f' on fd {fd}' if fd is not None else ''
    return f'stream read{where} ({frame.f_code.co_name})'


def _task_lines(task, loop, current, owners):
    """The stack lines and the 'waiting on' line of one task."""
    lines = []
    try:
        coro = task.get_coro()
    except AttributeError:
        coro = None
    chain = _coro_chain(coro)
    waits = None
    sync_seen = False
    last_frame = None
    for c in chain:
        frame = _frame_of(c)
        if frame is not None:
            lines.append(_frame_line(frame))
            last_frame = frame
            continue
        view = _core._c_view(c)
        if view is not None:
            lines.append(f'{_c_coro_name(c)}() (C coroutine)')
            # The outermost primitive names the wait: Barrier.wait(), not
            # the Condition.wait() it runs on.
            if not sync_seen:
                waits = _describe_view(view, loop, owners)
                sync_seen = view['kind'] == 'sync'
    if task is current:
        waits = 'nothing: running now (the current task)'
    if waits is None and last_frame is not None:
        waits = _describe_stream(last_frame)
    waiting = getattr(task, '_fut_waiter', None)
    if waits is None and waiting is not None:
        waits = _describe_future(waiting)
    if waits is None:
        waits = 'nothing (scheduled to run)'
    lines.append('waiting on: ' + waits)
    return lines


def _task_chain(task):
    """task's coroutine chain; none for a task-like object without
    get_coro()."""
    try:
        return _coro_chain(task.get_coro())
    except AttributeError:
        return []


def _lock_holders(tasks):
    """id(lock) -> the task inside `async with lock:`, for the locks tasks
    wait on.  asyncio's Lock does not record its owner; a coroutine in an
    `async with` block keeps the lock's bound __aexit__ on its frame's
    stack, and the garbage collector's referrers find that coroutine (two
    walks of the tracked objects, only when a task waits on a lock)."""
    locks = {}
    waiting = set()     # (id(lock), id(task)): the task waits to acquire it
    for task in tasks:
        for c in _task_chain(task):
            view = _core._c_view(c)
            if view is not None and view['kind'] == 'sync':
                prim = view['self']
                if isinstance(prim, (asyncio.Lock, _core.Lock)):
                    locks[id(prim)] = prim
                    waiting.add((id(prim), id(task)))
    if not locks:
        return {}
    # Debug mode's deadlock diagnosis records holders (pyasync/_deadlock.py),
    # `await lock.acquire()` ones too: ask it first.
    holders = {}
    for lock_id, prim in locks.items():
        task = _deadlock.holder_of(prim)
        if task is not None:
            holders[lock_id] = task
    if len(holders) == len(locks):
        return holders
    import gc
    if sys.version_info >= (3, 14):
        return _lock_holders_314(tasks, locks, waiting, holders)
    exits = [m for m in gc.get_referrers(*locks.values())
             if getattr(m, '__name__', None) == '__aexit__'
             and id(getattr(m, '__self__', None)) in locks]
    if not exits:
        return holders
    by_coro = {}
    for task in tasks:
        for c in _task_chain(task):
            by_coro[id(c)] = task
    for ref in gc.get_referrers(*exits):
        task = by_coro.get(id(ref))
        if task is None:
            continue
        referents = {id(r) for r in gc.get_referents(ref)}
        for m in exits:
            lock_id = id(m.__self__)
            # A waiter's `async with` holds __aexit__ too, while it waits.
            if id(m) in referents and (lock_id, id(task)) not in waiting:
                holders.setdefault(lock_id, task)
    return holders


def _lock_holders_314(tasks, locks, waiting, holders):
    """3.14's `async with` keeps the lock and its type's __aexit__ (unbound)
    on the frame's stack, not a bound method: the holder is the coroutine
    that refers to both."""
    import gc
    for task in tasks:
        for c in _task_chain(task):
            refs = gc.get_referents(c)
            ids = {id(r) for r in refs}
            for lock_id, prim in locks.items():
                if (lock_id in holders or lock_id not in ids
                        or (lock_id, id(task)) in waiting):
                    continue
                if id(getattr(type(prim), '__aexit__', None)) in ids:
                    holders[lock_id] = task
    return holders


def _task_parents(task, index, live):
    """The live tasks task is awaited by, directly or through futures."""
    parents = []
    todo = index.awaited_by(task)
    seen = {id(task)}
    while todo:
        w = todo.pop(0)
        if id(w) in seen:
            continue
        seen.add(id(w))
        if id(w) in live:
            parents.append(w)
        else:
            todo.extend(index.awaited_by(w))
    return parents


def format_tasks(loop=None):
    """Every live task of `loop` (default: the running loop) as a tree.

    A task awaited by another task is printed under it; one awaited by
    several is printed in full under the first and named under the others.
    Each task shows its coroutine stack (outermost first, C coroutines by
    name) and what it is waiting on."""
    if loop is None:
        loop = asyncio.get_running_loop()
    return _read_on_loop_thread(loop, lambda: _format_tasks(loop),
                                'format_tasks()')


def _format_tasks(loop):
    tasks = sorted(_loop_tasks(loop), key=_task_sort_key)
    current = asyncio.current_task(loop) if loop.is_running() else None
    index = _AwaitedByIndex(loop)
    live = {id(t): t for t in tasks}
    children = {id(t): [] for t in tasks}
    roots = []
    for task in tasks:
        parents = _task_parents(task, index, live)
        if parents:
            for p in parents:
                children[id(p)].append(task)
        else:
            roots.append(task)

    owners = _lock_holders(tasks)
    lines = [f'{len(tasks)} task{"s" if len(tasks) != 1 else ""} '
             f'on {type(loop).__name__} at {id(loop):#x}:']
    shown = set()

    def render(task, level):
        pad = '    ' * level
        title = _future_title(task)
        if id(task) in shown:
            lines.append(pad + title + ' (shown above)')
            return
        shown.add(id(task))
        lines.append(pad + title)
        for line in _task_lines(task, loop, current, owners):
            lines.append(pad + '  | ' + line)
        for child in children[id(task)]:
            render(child, level + 1)

    for task in roots:
        render(task, 0)
    for task in tasks:          # left: tasks awaiting one another in a cycle
        if id(task) not in shown:
            render(task, 0)
    return '\n'.join(lines)


def print_tasks(loop=None, *, file=None):
    """Print format_tasks(loop) to file (default: sys.stdout)."""
    print(format_tasks(loop), file=file)


# ---- the signal dump -------------------------------------------------------

def _dump_tasks(loop):
    try:
        text = format_tasks(loop)
    except Exception as exc:    # a diagnostic must not stop the program
        text = f'pyasync: the task dump failed: {exc!r}'
    try:
        print(text, file=sys.stderr, flush=True)
    except Exception:
        pass


def install_task_dump_signal(loop=None, signum=_signal.SIGUSR1):
    """On signal `signum`, print the task tree (format_tasks) to stderr.

    Debug mode only and opt-in: raises RuntimeError when loop.get_debug()
    is False, or when the signal already has a handler (signal.signal or
    loop.add_signal_handler; only SIG_DFL is replaced).  Installs with
    loop.add_signal_handler, so the dump runs as a loop callback while the
    program goes on; loop.remove_signal_handler(signum) removes it.
    Returns True."""
    if loop is None:
        loop = asyncio.get_running_loop()
    if not loop.get_debug():
        raise RuntimeError(
            'install_task_dump_signal() works in debug mode only: '
            'run with PYTHONASYNCIODEBUG=1, -X dev, asyncio.run(..., '
            'debug=True) or loop.set_debug(True)')
    current = _signal.getsignal(signum)
    if current != _signal.SIG_DFL:
        raise RuntimeError(
            f'install_task_dump_signal(): signal {signum} already has a '
            f'handler ({current!r}); not replacing it')
    loop.add_signal_handler(signum, _dump_tasks, loop)
    return True
