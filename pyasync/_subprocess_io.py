"""Subprocesses on libuv (csrc/io/process.c).

subprocess_exec/subprocess_shell are asyncio.BaseEventLoop's own (argument
checks, messages, debug logging).  The transport is asyncio's
BaseSubprocessTransport with _start() on uv_spawn instead of
subprocess.Popen: it connects the pipes with loop.connect_read_pipe /
connect_write_pipe and needs from _proc only a Popen-like face (pid,
stdin/stdout/stderr, returncode, poll, send_signal, terminate, kill),
which _UVProcess gives.  libuv reaps the child itself (its SIGCHLD
handling), so asyncio's child watcher is never asked for.

Popen options: cwd, env, executable, pass_fds, start_new_session
(UV_PROCESS_DETACHED) and close_fds are honoured (close_fds: Python's fds
are non-inheritable, so only fds made inheritable and not in pass_fds
would leak); restore_signals is what libuv does anyway.  Options that need
code between fork and exec (preexec_fn, user, group, extra_groups, umask,
process_group) have no uv_spawn equivalent: with any of them the child is
started by subprocess.Popen instead, as asyncio does, and a thread waits
for its exit (as asyncio's default ThreadedChildWatcher).  libuv only
reaps the pids it spawned, so the two never race for a child.
"""
import contextvars
import logging
import os
import sys
import signal
import subprocess
import threading
import time
import weakref
from asyncio import base_events, base_subprocess, unix_events

from . import _core

__all__ = ()

_Base = base_events.BaseEventLoop

# Popen options uv_spawn cannot honour, with their "not given" values.
_POPEN_ONLY = {
    'preexec_fn': None, 'user': None, 'group': None, 'extra_groups': None,
    'umask': -1, 'process_group': None,
}
_logger = logging.getLogger('asyncio')
_IGNORED = {'close_fds', 'restore_signals', 'startupinfo', 'creationflags'}
_PIDFD = None


def _pidfd_watch():
    """3.14's loop watches each child itself through a pidfd in its
    selector (no child watchers): the exit is reported by the handle that
    reads the pidfd, in the same loop iteration as pipe closures that
    happen with it.  pyasync does the same where pidfds work."""
    global _PIDFD
    if sys.version_info < (3, 14):
        return False
    if _PIDFD is None:
        _PIDFD = unix_events.can_use_pidfd()
    return _PIDFD


# loop -> the pidfds its readers still watch, closed with the loop (a
# child outliving its loop would leak one otherwise).
_watched_pidfds = weakref.WeakKeyDictionary()


def close_pidfds(loop):
    """From loop.close(): close the pidfds nobody will read now."""
    for pidfd in _watched_pidfds.pop(loop, ()):
        try:
            loop._remove_reader(pidfd)
        except Exception:
            pass
        os.close(pidfd)


def _exit_context():
    """The context asyncio's child watcher reports an exit in: 3.12+'s
    PidfdChildWatcher (when pidfds work) reads the pidfd with a Handle
    made in subprocess_exec's context; 3.11's ThreadedChildWatcher (and
    3.12+'s without pidfds) calls from its thread, an empty context."""
    global _PIDFD
    if sys.version_info >= (3, 12):
        if _PIDFD is None:
            _PIDFD = unix_events.can_use_pidfd()
        if _PIDFD:
            return contextvars.copy_context()
    return contextvars.Context()


class _UVProcess:
    """The Popen-like object BaseSubprocessTransport drives (its _proc),
    also get_extra_info('subprocess')."""

    def __init__(self, args, handle, stdin, stdout, stderr):
        self.args = args
        self._handle = handle
        self.pid = handle.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = None

    def __repr__(self):
        return (f'<{self.__class__.__name__}: returncode: {self.returncode}'
                f' args: {self.args!r}>')

    def poll(self):
        if self.returncode is None:
            self.returncode = self._peek(os.WNOHANG)
        return self.returncode

    def wait(self, timeout=None):
        """Block until the child exits (Popen.wait); the loop reaps it."""
        if timeout is None:
            if self.returncode is None:
                self.returncode = self._peek(0)
            return self.returncode
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.0005)
        return self.returncode

    def _peek(self, options):
        """The exit status without reaping (WNOWAIT): libuv reaps the
        child and reports it to the transport; until then the pid stays
        ours, so signals cannot reach a stranger."""
        rc = self._handle.returncode
        if rc is not None:
            return rc
        try:
            info = os.waitid(os.P_PID, self.pid,
                             os.WEXITED | os.WNOWAIT | options)
        except ChildProcessError:       # reaped by the loop meanwhile
            return self._handle.returncode
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return info.si_status
        return -info.si_status

    def send_signal(self, sig):
        # Nothing once libuv has reaped the child: the pid may be reused.
        self._handle.kill(sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _child_fd(spec, fallback, to_close):
    """The fd the child gets for a Popen stdio spec that is not PIPE."""
    if spec is None:
        return fallback
    if spec == subprocess.DEVNULL:
        return -1                       # libuv: /dev/null for fds 0-2
    if isinstance(spec, int):
        if spec < 0:
            raise ValueError(f'invalid stdio value: {spec!r}')
        return spec
    return spec.fileno()


def _env_list(env):
    if env is None:
        return None
    out = []
    for k, v in env.items():
        k = os.fsencode(k)
        if b'=' in k:
            raise ValueError("illegal environment variable name")
        out.append(k + b'=' + os.fsencode(v))
    return tuple(out)


class _UVSubprocessTransport(base_subprocess.BaseSubprocessTransport):

    def _start(self, args, shell, stdin, stdout, stderr, bufsize,
               executable=None, cwd=None, env=None, pass_fds=(),
               start_new_session=False, **kwargs):
        popen_only = False
        for name, value in kwargs.items():
            if name in _POPEN_ONLY:
                popen_only |= value != _POPEN_ONLY[name]
            elif name not in _IGNORED:
                raise TypeError(f"__init__() got an unexpected keyword "
                                f"argument '{name}'")
        if popen_only:
            self._start_with_popen(
                args, shell, stdin, stdout, stderr, bufsize,
                executable=executable, cwd=cwd, env=env, pass_fds=pass_fds,
                start_new_session=start_new_session, **kwargs)
            return
        if shell:
            argv = ['/bin/sh', '-c', args]
        else:
            argv = list(args)
        if executable is not None:
            argv[0] = executable
        program = executable if executable is not None else argv[0]
        parent_files = {}
        child_ends = []
        try:
            fds = self._make_stdio(stdin, stdout, stderr, parent_files,
                                   child_ends)
            for fd in sorted(pass_fds):
                fds.extend([-1] * (fd + 1 - len(fds)))
                fds[fd] = fd
            handle = self._spawn(program, argv, env, cwd, fds,
                                 start_new_session)
        except BaseException:
            for f in parent_files.values():
                f.close()
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        self._proc = _UVProcess(args, handle, parent_files.get(0),
                                parent_files.get(1), parent_files.get(2))

    def _start_with_popen(self, args, shell, stdin, stdout, stderr, bufsize,
                          **kwargs):
        """Spawn through subprocess.Popen (for the options uv_spawn lacks)
        and report the exit from a waiting thread, like asyncio's
        _UnixSubprocessTransport with ThreadedChildWatcher."""
        self._proc = subprocess.Popen(
            args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            universal_newlines=False, bufsize=bufsize, **kwargs)
        if _pidfd_watch():
            self._reaper = 'popen'      # the pidfd reader reaps (3.14)
            return
        waiter = threading.Thread(
            target=_wait_for_exit,
            args=(self._loop, self._proc.pid, self._exited_callback()),
            name=f'pyasync-waitpid-{self._proc.pid}', daemon=True)
        waiter.start()

    def _exited_callback(self):
        ctx = _exit_context()
        return lambda returncode: ctx.run(self._uv_exited, returncode)

    # -- 3.14: the exit as a pidfd reader reports it -------------------------
    # libuv reaps the child (SIGCHLD) and hands over its status; where the
    # pidfd is watched, the status waits for the pidfd's reader, which
    # reports it as asyncio 3.14's _PidfdChildWatcher._do_wait does.

    _reaper = 'uv'          # 'uv': libuv reaps; 'popen': the pidfd reader
    _pidfd = None           # the watched pidfd, until its reader ran
    _pidfd_fired = False
    _uv_returncode = None

    def _uv_exited(self, returncode):
        if self._pidfd is not None and not self._pidfd_fired:
            self._uv_returncode = returncode        # the reader reports it
            return
        self._process_exited(returncode)

    def _watch_pidfd(self):
        """After the transport is made, as asyncio 3.14 adds its child
        handler."""
        if not _pidfd_watch():
            return
        try:
            pidfd = os.pidfd_open(self._proc.pid)
        except OSError:
            # Reaped already (libuv was quick): its exit_cb reports it.
            if self._reaper == 'popen':
                self._popen_reaped(self._proc.pid)
            return
        self._pidfd = pidfd
        self._loop._add_reader(pidfd, self._pidfd_ready, pidfd)
        _watched_pidfds.setdefault(self._loop, set()).add(pidfd)

    def _pidfd_ready(self, pidfd):
        self._loop._remove_reader(pidfd)
        _watched_pidfds.get(self._loop, set()).discard(pidfd)
        os.close(pidfd)
        self._pidfd_fired = True
        if self._reaper == 'popen':
            self._popen_reaped(self._proc.pid)
        elif self._uv_returncode is not None:
            self._process_exited(self._uv_returncode)
        # else: libuv's exit callback comes next and reports it.

    def _popen_reaped(self, pid):
        self._process_exited(_reap(
            pid, "child process pid %d exit status already read:  will "
                 "report returncode 255"))

    def _make_stdio(self, stdin, stdout, stderr, parent_files, child_ends):
        def pipe(index):
            r, w = os.pipe()
            child_ends.append(r if index == 0 else w)
            parent_files[index] = (open(w, 'wb', buffering=0) if index == 0
                                   else open(r, 'rb', buffering=0))
            return child_ends[-1]

        fds = []
        for index, spec in enumerate((stdin, stdout, stderr)):
            if spec == subprocess.PIPE:
                fds.append(pipe(index))
            elif index == 2 and spec == subprocess.STDOUT:
                fds.append(fds[1])
            else:
                fds.append(_child_fd(spec, index, child_ends))
        return fds

    def _spawn(self, program, argv, env, cwd, fds, detached):
        file = os.fsencode(program)
        bargs = tuple(os.fsencode(a) for a in argv)
        bcwd = None if cwd is None else os.fsencode(cwd)
        try:
            return _core.Process(self._loop, file, bargs, _env_list(env),
                                 bcwd, tuple(fds), detached,
                                 self._exited_callback())
        except OSError as exc:
            # Popen's message names the program (or the cwd it could not
            # enter).
            name = program
            if cwd is not None and not os.path.isdir(cwd):
                name = cwd
            raise type(exc)(exc.errno, exc.strerror, name) from None


def _reap(pid, lost_message):
    """waitpid(pid): its return code; 255 and lost_message % pid logged
    when someone else reaped it (the status is lost, as asyncio says)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        _logger.warning(lost_message, pid)
        return 255
    return os.waitstatus_to_exitcode(status)


def _wait_for_exit(loop, pid, exited):
    """Thread body: reap pid, then hand its return code to the loop."""
    returncode = _reap(pid, "Unknown child process pid %d, will report "
                            "returncode 255")
    if loop.is_closed():
        _logger.warning("Loop %r that handles pid %r is closed", loop, pid)
        return
    try:
        loop.call_soon_threadsafe(exited, returncode)
    except RuntimeError:                # closed meanwhile
        pass


class SubprocessMixin:
    """EventLoop's subprocess methods."""

    __slots__ = ()

    subprocess_exec = _Base.__dict__['subprocess_exec']
    subprocess_shell = _Base.__dict__['subprocess_shell']
    _log_subprocess = _Base.__dict__['_log_subprocess']

    async def _make_subprocess_transport(self, protocol, args, shell,
                                         stdin, stdout, stderr, bufsize,
                                         extra=None, **kwargs):
        waiter = self.create_future()
        transp = _UVSubprocessTransport(self, protocol, args, shell,
                                        stdin, stdout, stderr, bufsize,
                                        waiter=waiter, extra=extra,
                                        **kwargs)
        transp._watch_pidfd()
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp
