"""`python -m pyasync ps PID` and `pstree PID`: a running pyasync program's
tasks, seen from outside the process (Python 3.14+).

asyncio 3.14's `python -m asyncio ps PID` reads _asyncio's own task lists
out of the other process's memory (the layout its debug offsets publish).
pyasync's tasks are not in those lists: they would have to be objects of
_asyncio.Task's exact layout, written into the interpreter's per-thread
lists, which no import-time check could prove safe.  Instead the tool asks
the program itself, with 3.14's sys.remote_exec() (PEP 768): the code runs
in the program's main thread at its next safe point, between two
callbacks, collects every task of every pyasync loop and writes them to a
file the tool reads.  The table and the tree are then printed by asyncio's
own code (asyncio.tools), so they look exactly as asyncio's do.

A loop asleep in its poll runs no Python code, so it would never reach a
safe point: each pyasync loop running in the main thread also watches a
datagram socket in the abstract namespace, "pyasync-wake-<pid>", and the
tool sends it an empty datagram after remote_exec().  Reading it runs a
Python callback, which is the safe point.  The socket only wakes the loop:
what is read from the process still needs the ptrace permission that
sys.remote_exec() checks.

No debug mode, no restart.  What a task is awaiting inside pyasync's C
code (Event.wait, sleep, Lock.acquire...) has no Python frame: it is
named without file and line.
"""
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import namedtuple

__all__ = ('main',)

# The shapes asyncio.tools reads (those of _remote_debugging's results):
# a frame has lineno on 3.14, location.lineno on 3.15; both are here.
LocationInfo = namedtuple('LocationInfo',
                          'lineno end_lineno col_offset end_col_offset')


class FrameInfo(namedtuple('FrameInfo', 'filename lineno funcname')):
    __slots__ = ()

    @property
    def location(self):
        return LocationInfo(self.lineno, self.lineno, 0, 0)

    opcode = None

CoroInfo = namedtuple('CoroInfo', 'call_stack task_name')
TaskInfo = namedtuple('TaskInfo', 'task_id task_name coroutine_stack '
                                  'awaited_by')
AwaitedInfo = namedtuple('AwaitedInfo', 'thread_id awaited_by')

WAKE_PREFIX = 'pyasync-wake-'


# ---- in the inspected program ---------------------------------------------

_wake = None            # (pid, socket): this process's wake socket
_wake_lock = threading.Lock()


def _wake_socket():
    global _wake
    with _wake_lock:
        if _wake is not None and _wake[0] == os.getpid():
            return _wake[1]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind('\0' + WAKE_PREFIX + str(os.getpid()))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        _wake = (os.getpid(), sock)
        return sock


def _drain(sock):
    # Running this Python function is what lets a pending remote_exec()
    # script run (at the eval loop's next check).
    try:
        while sock.recv(64) is not None:
            pass
    except OSError:
        pass


def watch(loop):
    """From a loop starting to run in the main thread: wake on the wake
    socket.  Returns what unwatch() needs."""
    sock = _wake_socket()
    if sock is None:
        return None
    # Unreferenced: an idle loop stays idle to the virtual clock and the
    # deadlock diagnosis.
    loop._add_wake_reader(sock.fileno(), _drain, sock)
    return sock


def unwatch(loop, sock):
    if sock is not None and not loop.is_closed():
        loop._remove_reader(sock.fileno())


def _frames_of(coro):
    """The frames of a coroutine chain, innermost first; pyasync's C
    coroutines by their name alone."""
    frames = []
    seen = set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        frame = getattr(coro, 'cr_frame', None) or getattr(
            coro, 'gi_frame', None) or getattr(coro, 'ag_frame', None)
        if frame is not None:
            code = frame.f_code
            frames.append((code.co_filename, frame.f_lineno,
                           code.co_qualname))
        elif hasattr(coro, '_cr_await') or hasattr(coro, 'cr_running'):
            name = getattr(coro, '__qualname__', type(coro).__name__)
            frames.append(('', 0, name))
        nxt = None
        for attr in ('cr_await', '_cr_await', 'gi_yieldfrom', 'ag_await'):
            nxt = getattr(coro, attr, None)
            if nxt is not None:
                break
        coro = nxt
    frames.reverse()
    return frames


def _thread_ids():
    """threading ident -> native thread id."""
    return {t.ident: t.native_id for t in threading.enumerate()}


def _records(loop):
    """The records of loop's pending tasks (run where reading them is
    safe: see collect())."""
    import asyncio
    records = []
    for task in [t for t in asyncio.all_tasks(loop) if not t.done()]:
        coro = task.get_coro() if hasattr(task, 'get_coro') else None
        awaited_by = []
        # (The waiter records are 3.14's: before, nobody is listed.)
        for parent in getattr(task, '_asyncio_awaited_by', None) or ():
            pcoro = (parent.get_coro() if hasattr(parent, 'get_coro')
                     else None)
            awaited_by.append([_frames_of(pcoro), id(parent)])
        records.append([id(task), task.get_name(), _frames_of(coro),
                        awaited_by])
    return records


def _names_only(loop):
    """What may be read of another thread's running loop from here: its
    tasks by name, without what they await."""
    import asyncio
    return [[id(t), t.get_name(), [], []]
            for t in asyncio.all_tasks(loop) if not t.done()]


def collect():
    """Every pending task of every pyasync loop of this process, as
    {native thread id: [task records]} (JSON-ready).

    Without the GIL (3.14t), a loop running in another thread changes its
    coroutines' state while we would read it: its records are made by its
    own thread, between two callbacks; one that does not answer (blocked)
    is listed by task names only.  With the GIL, reading them from here
    is safe, and a blocked loop is listed in full."""
    from . import graph as _graph, loop as _loop
    native = _thread_ids()
    out = {}
    for loop in list(_loop._live_loops):
        if loop.is_closed():
            continue
        ident = getattr(loop, '_thread_id', None)
        if _graph._runs_elsewhere(loop):
            try:
                answered, records = _graph._on_loop_thread(
                    loop, lambda loop=loop: _records(loop), 2.0)
            except Exception:   # one loop's failure: its names at least
                answered = False
            if not answered:
                records = _names_only(loop)
        else:
            records = _records(loop)
        if not records:
            continue
        tid = native.get(ident, 0) if ident is not None else 0
        out.setdefault(str(tid), []).extend(records)
    return out


def dump(path):
    """Write collect() to path (the remote_exec() script calls this)."""
    data = collect()
    tmp = path + '.part'
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.rename(tmp, path)


# ---- in the tool -----------------------------------------------------------

def _as_asyncio_result(data):
    """collect()'s records in the shapes of _remote_debugging's result."""
    result = []
    for tid, records in data.items():
        tasks = []
        for task_id, name, frames, awaited_by in records:
            stack = [CoroInfo([FrameInfo(*f) for f in frames], task_id)]
            parents = [CoroInfo([FrameInfo(*f) for f in pframes], pid)
                       for pframes, pid in awaited_by]
            tasks.append(TaskInfo(task_id, name, stack, parents))
        result.append(AwaitedInfo(int(tid), tasks))
    return result


def fetch(pid, timeout=10.0):
    """Ask process pid for its tasks; the result as asyncio.tools reads it."""
    if not hasattr(sys, 'remote_exec'):
        raise RuntimeError('inspecting another process needs Python 3.14+ '
                           '(sys.remote_exec)')
    with tempfile.TemporaryDirectory(prefix='pyasync-ps-') as tmp:
        os.chmod(tmp, 0o777)         # the program may run as another user
        out = os.path.join(tmp, 'tasks.json')
        script = os.path.join(tmp, 'dump.py')
        with open(script, 'w') as f:
            f.write('import pyasync.remote\n'
                    f'pyasync.remote.dump({out!r})\n')
        os.chmod(script, 0o644)
        sys.remote_exec(pid, script)
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            while not os.path.exists(out):
                try:
                    sock.sendto(b'', '\0' + WAKE_PREFIX + str(pid))
                except OSError:
                    pass            # no pyasync loop in the main thread yet
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f'process {pid} did not answer within {timeout:g} s '
                        f'(its main thread runs no Python code: no pyasync '
                        f'loop runs there, or it is blocked in C code)')
                time.sleep(0.02)
        with open(out) as f:
            return _as_asyncio_result(json.load(f))


def main(argv=None):
    import argparse
    import asyncio.tools as tools
    parser = argparse.ArgumentParser(
        prog='python -m pyasync',
        description="A pyasync program's tasks, from outside the process "
                    "(as `python -m asyncio ps/pstree` for asyncio's).")
    sub = parser.add_subparsers(dest='command', required=True)
    for name, what in (('ps', 'a table'), ('pstree', 'a tree')):
        p = sub.add_parser(name, help=f'Display {what} of all pending tasks '
                                      f'in a process')
        p.add_argument('pid', type=int, help='Process ID to inspect')
        p.add_argument('--timeout', type=float, default=10.0,
                       help='seconds to wait for the program to answer')
    args = parser.parse_args(argv)
    try:
        result = fetch(args.pid, args.timeout)
    except PermissionError:
        tools.exit_with_permission_help_text()
    except (RuntimeError, TimeoutError, ProcessLookupError, OSError) as exc:
        print(f'Error retrieving tasks: {exc}', file=sys.stderr)
        return 1
    # asyncio's own presentation, fed with what the program told us.
    tools.get_all_awaited_by = lambda pid: result
    if args.command == 'ps':
        tools.display_awaited_by_tasks_table(args.pid)
    else:
        tools.display_awaited_by_tasks_tree(args.pid)
    return 0
