"""Subprocesses (csrc/io/process.c, pyasync/_subprocess_io.py): the same
scenarios on asyncio's loop and on pyasync's, traces compared; then what
only pyasync can be asked (fd counts, no child watcher, loop close)."""
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from unittest import mock

import pytest

import pyasync
from difftrace import assert_same

PY = sys.executable


def test_echo_and_exit_codes():
    async def scenario(aio, trace):
        p = await aio.create_subprocess_exec(
            'echo', 'hello', 'world', stdout=subprocess.PIPE)
        out, err = await p.communicate()
        trace('echo', out, err, p.returncode)
        for code in (0, 1, 3, 255):
            p = await aio.create_subprocess_exec(PY, '-c',
                                                 f'raise SystemExit({code})')
            trace('exit', code, await p.wait(), p.returncode)
        p = await aio.create_subprocess_shell('exit 7')
        trace('shell exit', await p.wait())
    assert_same(scenario)


def test_kill_terminate_send_signal():
    async def scenario(aio, trace):
        for how in ('kill', 'terminate', 'send_signal'):
            p = await aio.create_subprocess_exec('sleep', '30')
            if how == 'send_signal':
                p.send_signal(signal.SIGINT)
            else:
                getattr(p, how)()
            trace(how, await p.wait())
            # After the exit: ProcessLookupError once the transport has
            # let the process go, else nothing.
            for f in (p.kill, lambda: p.send_signal(signal.SIGTERM)):
                try:
                    f()
                    trace('signal after exit: nothing')
                except ProcessLookupError:
                    trace('signal after exit: ProcessLookupError')
        p = await aio.create_subprocess_exec(
            PY, '-c', 'import signal,sys,time;'
            'signal.signal(signal.SIGUSR1, lambda *a: sys.exit(42));'
            'print("ready", flush=True); time.sleep(30)',
            stdout=subprocess.PIPE)
        trace('ready', await p.stdout.readline())
        p.send_signal(signal.SIGUSR1)
        trace('handled', await p.wait())
    assert_same(scenario)


def test_communicate_with_input_and_stderr():
    async def scenario(aio, trace):
        code = ('import sys; data = sys.stdin.buffer.read();'
                'sys.stdout.buffer.write(data.upper());'
                'sys.stderr.buffer.write(b"err:" + data); sys.exit(5)')
        p = await aio.create_subprocess_exec(
            PY, '-c', code, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        out, err = await p.communicate(b'some input')
        trace('communicate', out, err, p.returncode)
        p = await aio.create_subprocess_exec(
            PY, '-c', code, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        out, err = await p.communicate(b'abc')
        trace('stderr to stdout', sorted([out[:3], out[3:]]), err)
        p = await aio.create_subprocess_exec(
            PY, '-c', code, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        trace('devnull', await p.communicate(), p.returncode)
    assert_same(scenario)


def test_cat_pipeline_10_mib():
    async def scenario(aio, trace):
        data = bytes(range(256)) * (10 * 4096)        # 10 MiB
        p = await aio.create_subprocess_exec(
            'cat', stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        async def feed():
            for i in range(0, len(data), 65536):
                p.stdin.write(data[i:i + 65536])
                await p.stdin.drain()
            p.stdin.close()
            await p.stdin.wait_closed()

        async def collect():
            chunks = []
            while chunk := await p.stdout.read(1 << 20):
                chunks.append(chunk)
            return b''.join(chunks)

        _, got = await aio.gather(feed(), collect())
        trace('same bytes', len(got), got == data)
        trace('rc', await p.wait())
    assert_same(scenario)


def test_shell_env_cwd():
    async def scenario(aio, trace):
        with tempfile.TemporaryDirectory() as d:
            p = await aio.create_subprocess_shell(
                'echo "$FOO-$BAR"; pwd', cwd=d,
                env={'FOO': 'foo', 'BAR': 'bär', 'PATH': os.environ['PATH']},
                stdout=subprocess.PIPE)
            out, _ = await p.communicate()
            lines = out.decode().splitlines()
            trace('env', lines[0], os.path.realpath(lines[1]) ==
                  os.path.realpath(d))
            p = await aio.create_subprocess_exec(
                PY, '-c', 'import os; print(os.getcwd())', cwd=d,
                stdout=subprocess.PIPE)
            out, _ = await p.communicate()
            trace('cwd', os.path.realpath(out.decode().strip()) ==
                  os.path.realpath(d))
            p = await aio.create_subprocess_exec(
                'sh', '-c', 'cat > out.txt', cwd=d,
                stdin=subprocess.PIPE)
            await p.communicate(b'to a file')
            with open(os.path.join(d, 'out.txt'), 'rb') as f:
                trace('file', f.read())
            with open(os.path.join(d, 'fd.txt'), 'wb') as f:
                p = await aio.create_subprocess_exec('echo', 'via fd',
                                                     stdout=f)
                await p.wait()
                p = await aio.create_subprocess_exec('echo', 'via int',
                                                     stdout=f.fileno())
                await p.wait()
            with open(os.path.join(d, 'fd.txt'), 'rb') as f:
                trace('fd', f.read())
    assert_same(scenario)


def test_pass_fds_and_new_session():
    async def scenario(aio, trace):
        r, w = os.pipe()
        try:
            p = await aio.create_subprocess_exec(
                PY, '-c', f'import os; os.write({w}, b"passed")',
                pass_fds=(w,))
            trace('pass_fds rc', await p.wait())
            trace('read', os.read(r, 100))
        finally:
            os.close(r)
            os.close(w)
        p = await aio.create_subprocess_exec(
            PY, '-c', 'import os; print(os.getsid(0) == os.getpid())',
            start_new_session=True, stdout=subprocess.PIPE)
        trace('new session', (await p.communicate())[0])
        p = await aio.create_subprocess_exec(
            PY, '-c', 'import os; print(os.getsid(0) == os.getpid())',
            stdout=subprocess.PIPE)
        trace('same session', (await p.communicate())[0])
    assert_same(scenario)


@pytest.mark.parametrize('call, kwargs', [
    ('shell', dict(cmd=['ls'])),
    ('shell', dict(cmd='ls', universal_newlines=True)),
    ('shell', dict(cmd='ls', shell=False)),
    ('shell', dict(cmd='ls', bufsize=1)),
    ('shell', dict(cmd='ls', text=True)),
    ('shell', dict(cmd='ls', encoding='utf-8')),
    ('shell', dict(cmd='ls', errors='strict')),
    ('exec', dict(program='ls', universal_newlines=True)),
    ('exec', dict(program='ls', shell=True)),
    ('exec', dict(program='ls', bufsize=1)),
    ('exec', dict(program='ls', text=True)),
    ('exec', dict(program='no-such-program-pyasync')),
    ('exec', dict(program=PY, cwd='/no/such/dir/pyasync')),
    ('exec', dict(program='ls', stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, env={'A=B': '1'})),
])
def test_argument_errors(call, kwargs):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        kw = dict(kwargs)
        try:
            if call == 'shell':
                cmd = kw.pop('cmd')
                await loop.subprocess_shell(asyncio.SubprocessProtocol, cmd,
                                            **kw)
            else:
                program = kw.pop('program')
                await loop.subprocess_exec(asyncio.SubprocessProtocol,
                                           program, **kw)
        except Exception as exc:
            trace('raised', type(exc).__name__, str(exc))
        else:
            trace('no error')
    assert_same(scenario)


def test_protocol_callbacks_order():
    """The SubprocessProtocol sees what asyncio's would: connection_made,
    pipe data, pipe_connection_lost for each pipe, process_exited, then
    connection_lost (the exit may come before or after the pipes close)."""
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        done = loop.create_future()

        class Proto(asyncio.SubprocessProtocol):
            def __init__(self):
                self.events = []

            def connection_made(self, transport):
                self.events.append('connection_made')

            def pipe_data_received(self, fd, data):
                self.events.append(('data', fd, data))

            def pipe_connection_lost(self, fd, exc):
                self.events.append(('pipe_lost', fd, exc))

            def process_exited(self):
                self.events.append('process_exited')

            def connection_lost(self, exc):
                self.events.append(('connection_lost', exc))
                done.set_result(None)

        tr, proto = await loop.subprocess_exec(
            Proto, PY, '-c', 'import sys; sys.stdout.write("out");'
            'sys.stdout.flush(); sys.stderr.write("err")',
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        trace('pid', tr.get_pid() > 0, tr.get_extra_info('subprocess')
              is not None)
        tr.get_pipe_transport(0).close()
        await done
        ev = proto.events
        trace('first', ev[0], 'last', ev[-1])
        trace('data', sorted(e for e in ev if e[0] == 'data'))
        trace('pipes lost', sorted(e[1] for e in ev if e[0] == 'pipe_lost'))
        trace('exited once', ev.count('process_exited'))
        trace('returncode', tr.get_returncode())
        tr.close()
        trace('repr', 'returncode=0' in repr(tr), 'closed' in repr(tr))
    assert_same(scenario)


# -- pyasync only ---------------------------------------------------------

def _fd_count():
    return len(os.listdir('/proc/self/fd'))


def test_no_fd_leaks_after_100_processes():
    async def main(n):
        for i in range(n):
            p = await asyncio.create_subprocess_exec(
                'cat', stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            out, err = await p.communicate(b'x%d' % i)
            assert out == b'x%d' % i and p.returncode == 0
        for _ in range(10):                  # killed with pipes open
            p = await asyncio.create_subprocess_exec(
                'sleep', '30', stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            p.kill()
            await p.wait()
        for _ in range(10):                  # failed spawns
            with pytest.raises(FileNotFoundError):
                await asyncio.create_subprocess_exec(
                    'no-such-program-pyasync', stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    pyasync.run(main(2))
    before = _fd_count()
    pyasync.run(main(100))
    assert _fd_count() == before


def test_spawn_failure_closes_pipes_without_warnings(recwarn):
    before = _fd_count()

    async def main():
        with pytest.raises(FileNotFoundError) as info:
            await asyncio.create_subprocess_exec(
                'no-such-program-pyasync', stdin=subprocess.PIPE,
                stdout=subprocess.PIPE)
        assert info.value.filename == 'no-such-program-pyasync'

    pyasync.run(main())
    assert _fd_count() == before
    assert [w for w in recwarn if w.category is ResourceWarning] == []


@pytest.mark.skipif(sys.version_info >= (3, 14),
                    reason="3.14 removed child watchers: nothing to ask")
def test_child_watcher_never_asked():
    async def main():
        p = await asyncio.create_subprocess_exec('true')
        return await p.wait()

    with mock.patch('asyncio.events.get_child_watcher',
                    side_effect=AssertionError('watcher asked')), \
            mock.patch('asyncio.unix_events.events.get_child_watcher',
                       side_effect=AssertionError('watcher asked')):
        assert pyasync.run(main()) == 0


def test_popen_only_options():
    """preexec_fn, user, group, extra_groups, umask and process_group have
    no uv_spawn equivalent: pyasync then starts the child with Popen, as
    asyncio does; what the child sees must be the same."""
    probe = ('import os, sys; print(os.umask(0), os.getpgid(0) == os.getpid(),'
             ' os.getuid(), os.getgid(), os.getgroups(),'
             ' os.environ.get("PREEXEC"), sys.stdin.read())')

    def preexec():
        os.environ['PREEXEC'] = 'ran'

    async def scenario(aio, trace):
        for kw in (dict(preexec_fn=preexec), dict(umask=0o27),
                   dict(process_group=0), dict(user=os.getuid()),
                   dict(group=os.getgid()),
                   dict(extra_groups=os.getgroups()),
                   dict(umask=0o77, process_group=0, preexec_fn=preexec)):
            p = await aio.create_subprocess_exec(
                PY, '-c', probe, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
            out, _ = await p.communicate(b'input')
            trace(sorted(kw), out, p.returncode)
        p = await aio.create_subprocess_shell(
            'exit 5', umask=0o22, stdout=subprocess.PIPE)
        trace('shell', await p.wait(), await p.stdout.read())
        p = await aio.create_subprocess_exec('sleep', '30', umask=0o22)
        p.kill()
        trace('killed', await p.wait())
        try:
            await aio.create_subprocess_exec('no-such-program-pyasync',
                                             umask=0o22)
        except FileNotFoundError as exc:
            trace('missing', exc.filename)
        try:
            await aio.create_subprocess_exec('true', preexec_fn=lambda: 1 / 0)
        except subprocess.SubprocessError as exc:
            trace('preexec failed', type(exc).__name__, str(exc))
    assert_same(scenario)


def test_popen_only_options_release_fds():
    before = _fd_count()

    async def main():
        p = await asyncio.create_subprocess_exec(
            PY, '-c', 'print(1)', stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, umask=0o22)
        return await p.communicate()

    assert pyasync.run(main()) == (b'1\n', b'')
    assert _fd_count() == before


def test_unknown_popen_option():
    async def main():
        with pytest.raises(TypeError):
            await asyncio.create_subprocess_exec('true', bogus=1)
    pyasync.run(main())


def test_loop_close_with_running_child():
    before = _fd_count()
    loop = pyasync.new_event_loop()

    async def start():
        return await asyncio.create_subprocess_exec('sleep', '30')

    p = loop.run_until_complete(start())
    pid = p.pid
    p._transport.close()          # kills it; the loop closes before reaping
    loop.close()                  # must not hang on the process handle
    os.waitpid(pid, 0)            # the zombie is ours now: reap it
    assert _fd_count() == before


def test_exports():
    assert pyasync.subprocess is asyncio.subprocess
    assert pyasync.create_subprocess_exec is \
        asyncio.subprocess.create_subprocess_exec
    import pyasync.subprocess as ps
    assert ps.PIPE == subprocess.PIPE
