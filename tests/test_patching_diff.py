"""What real libraries' own test suites patch and poke, on asyncio and on
pyasync (issue 23): each scenario runs on a stdlib loop and on a pyasync
loop (bothloops.assert_same) and must record the same things.

- remove_reader()/remove_writer() of a socket object closed since it was
  added (anyio closes sockets during I/O): asyncio's selector finds the
  registration by the object;
- a pipe transport refuses the other direction (uvloop's process tests);
- mock.patch.object(loop, "time") moves the loop's timers (a web
  framework's keep-alive tests, looptime);
- transports take instance attributes, so mock.patch.object(transport,
  "write") sees the protocol's writes;
- patches of asyncio.Transport's own methods reach pyasync's transports;
- set_debug() keeps what it was given (1, 0, a mock);
- a socket.socket subclass's recv()/send()/accept() are called, as by
  asyncio's transports (websockets' tests record them).
"""
import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from unittest import mock

import pytest

import pyasync
from bothloops import assert_same


def closed_socket_removal(kind, writer):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair(socket.AF_UNIX, kind)
        add = loop.add_writer if writer else loop.add_reader
        remove = loop.remove_writer if writer else loop.remove_reader
        add(a, lambda: None)
        a.close()
        out = [a.fileno(), remove(a)]
        try:
            remove(a)
        except ValueError as exc:       # no registration left to find
            out.append(str(exc))
        b.close()
        return out
    return main


@pytest.mark.parametrize("writer", [False, True], ids=["reader", "writer"])
@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM],
                         ids=["stream", "datagram"])
def test_removing_a_closed_socket_finds_it_by_the_object(kind, writer):
    out = assert_same(closed_socket_removal(kind, writer))
    assert out == [-1, True, "Invalid file descriptor: -1"]


def test_removing_a_closed_socket_added_by_fd_is_an_error():
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        loop.add_reader(a.fileno(), lambda: None)
        fd = a.fileno()
        a.close()
        out = []
        try:
            loop.remove_reader(a)
        except ValueError as exc:
            out.append(str(exc))
        out.append(loop.remove_reader(fd))    # by its number, still there
        b.close()
        return out
    assert assert_same(main) == ["Invalid file descriptor: -1", True]


def test_pipe_transports_refuse_the_other_direction():
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdin.read()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        transport = proc._transport
        out = []
        stdin = transport.get_pipe_transport(0)
        for name in ("pause_reading", "resume_reading", "is_reading"):
            try:
                getattr(stdin, name)()
                out.append((name, "returned"))
            except NotImplementedError:
                out.append((name, "NotImplementedError"))
        stdout = transport.get_pipe_transport(1)
        try:
            stdout.write(b"wat")
            out.append(("write", "returned"))
        except (NotImplementedError, AttributeError):
            # asyncio's read pipe has no write() at all; pyasync's one
            # transport type inherits asyncio.Transport's, which refuses.
            out.append(("write", "refused"))
        proc.stdin.close()
        await proc.wait()
        return out
    assert assert_same(main) == [
        ("pause_reading", "NotImplementedError"),
        ("resume_reading", "NotImplementedError"),
        ("is_reading", "NotImplementedError"),
        ("write", "refused")]


def test_a_task_factory_stays_with_its_loop():
    """uvloop's suite sets a factory on one test's loop and expects the
    next loop to have none (asyncio keeps it per loop)."""
    def scenario(new_loop):
        out = []

        class MyTask(asyncio.Task):
            pass

        async def coro():
            return "ran"

        first = new_loop()
        first.set_task_factory(
            lambda loop, coro, **kw: MyTask(coro, loop=loop, **kw))
        task = first.create_task(coro())
        out.append((type(task).__name__, first.run_until_complete(task)))
        first.close()
        second = new_loop()
        out.append(second.get_task_factory())
        task = second.create_task(coro())
        out.append((isinstance(task, MyTask), second.run_until_complete(task)))
        second.close()
        return out
    ref = scenario(asyncio.new_event_loop)
    assert ref == [("MyTask", "ran"), None, (False, "ran")]
    assert scenario(pyasync.new_event_loop) == ref


# ---- the loop's clock, patched ------------------------------------------

def run_unbounded(impl, main):
    """bothloops.run_on without its wait_for(): a patched clock would make
    that time out too."""
    factory = (asyncio.new_event_loop if impl == "asyncio"
               else pyasync.new_event_loop)
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), pyasync.EventLoop) == (
            impl == "pyasync")
        return runner.run(main())


def test_a_patched_loop_time_makes_timers_due():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        loop.call_later(1000, fired.append, "call_later")
        sleeper = asyncio.ensure_future(asyncio.sleep(500))
        await asyncio.sleep(0)            # (its timer is set now)
        now = loop.time()
        with mock.patch.object(loop, "time", return_value=now + 2000):
            for _ in range(3):
                await asyncio.sleep(0)
            # call_later() itself reads the patched clock.
            loop.call_later(10, fired.append, "late")
            for _ in range(3):
                await asyncio.sleep(0)
        fired.append(("sleeper done", sleeper.done()))
        # Unpatched again: a timer 10 s away is not due.
        loop.call_later(10, fired.append, "unpatched")
        for _ in range(3):
            await asyncio.sleep(0)
        return fired
    assert assert_same(main, run=run_unbounded) == [
        "call_later", ("sleeper done", True)]


def test_a_patched_loop_time_times_out_wait_for():
    async def main():
        loop = asyncio.get_running_loop()
        base = loop.time()
        clock = [base]
        with mock.patch.object(loop, "time", side_effect=lambda: clock[0]):
            waiter = asyncio.ensure_future(
                asyncio.wait_for(loop.create_future(), 60))
            await asyncio.sleep(0)
            clock[0] = base + 61
            try:
                await waiter
                return ["no timeout"]
            except asyncio.TimeoutError:
                return ["timed out by the patched clock"]
    assert assert_same(main, run=run_unbounded) == [
        "timed out by the patched clock"]


def test_a_loop_subclass_overriding_time_drives_its_timers():
    class Shifted:
        def time(self):
            return super().time() + 3600

    async def main():
        loop = asyncio.get_running_loop()
        t = loop.time()
        fired = []
        loop.call_at(t - 1800, fired.append, "due half an hour ago")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return fired

    def run(impl, main):
        base = asyncio.SelectorEventLoop if impl == "asyncio" \
            else pyasync.EventLoop
        cls = type("ShiftedLoop", (Shifted, base), {})
        with asyncio.Runner(loop_factory=cls) as runner:
            return runner.run(main())
    assert assert_same(main, run=run) == ["due half an hour ago"]


def test_call_soon_patched_on_the_instance_sees_what_asyncio_schedules():
    """asyncio's futures and tasks schedule through loop.call_soon, looked
    up each time: a wrapping mock counts done callbacks, task steps and
    wake-ups.  pyasync's C paths then go through the attribute too."""
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        real = loop.call_soon

        def spy(callback, *args, context=None):
            seen.append(getattr(callback, "__name__", None) == "<lambda>")
            return real(callback, *args, context=context)

        with mock.patch.object(loop, "call_soon", side_effect=spy):
            fut = loop.create_future()
            fut.add_done_callback(lambda f: None)
            fut.set_result(1)
            await asyncio.sleep(0)
            waiter = loop.create_future()

            async def wait():
                await waiter

            task = loop.create_task(wait())      # a task step, a wake-up
            await asyncio.sleep(0)
            waiter.set_result(None)
            await task
        return [len(seen), seen.count(True)]
    out = assert_same(main)
    assert out[0] >= 4 and out[1] == 1


def test_call_soon_patched_on_the_class_after_use_is_seen():
    """pyasync remembers that a loop class keeps its own call_soon and
    create_task (its C paths then call them directly) until the class
    changes: a patch of the class made after the loop has run tasks must
    see what asyncio's futures and tasks schedule."""
    async def main():
        loop = asyncio.get_running_loop()

        async def child():
            return 1
        await loop.create_task(child())     # the class is known plain now
        seen = []
        real = type(loop).call_soon

        def spy(self, callback, *args, context=None):
            seen.append(getattr(callback, "__name__", None) == "<lambda>")
            return real(self, callback, *args, context=context)

        with mock.patch.object(type(loop), "call_soon", spy):
            fut = loop.create_future()
            fut.add_done_callback(lambda f: None)
            fut.set_result(1)
            await asyncio.sleep(0)
        after = len(seen)
        await loop.create_task(child())     # unpatched again
        return [after > 0, seen.count(True), len(seen) == after]
    assert assert_same(main) == [True, 1, True]


def test_a_patch_on_asyncio_base_event_loop_reaches_the_loop():
    """pyasync's loop runs asyncio's own BaseEventLoop methods; patched on
    that class, they are patched for pyasync's loop as for asyncio's."""
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        with mock.patch.object(
                asyncio.BaseEventLoop, "call_exception_handler",
                autospec=True,
                side_effect=lambda self, ctx: seen.append(ctx["message"])):
            loop.call_soon(lambda: 1 / 0)
            await asyncio.sleep(0)
        with mock.patch.object(asyncio.BaseEventLoop, "create_connection",
                               autospec=True,
                               return_value=("transport", "protocol")):
            seen.append(await loop.create_connection(asyncio.Protocol,
                                                     "192.0.2.1", 9))
        return seen
    out = assert_same(main)
    assert len(out) == 2
    assert out[0].startswith("Exception in callback ")
    assert out[1] == ("transport", "protocol")


# ---- transports: instance attributes and asyncio's base methods ---------

async def echo_pair():
    """A connected (client transport, server's received data) pair."""
    loop = asyncio.get_running_loop()
    got = []

    class Server(asyncio.Protocol):
        def data_received(self, data):
            got.append(data)

    srv = await loop.create_server(Server, "127.0.0.1", 0)
    tr, _ = await loop.create_connection(
        asyncio.Protocol, *srv.sockets[0].getsockname()[:2])
    return srv, tr, got


def test_a_transport_write_patched_on_the_instance():
    async def main():
        srv, tr, got = await echo_pair()
        seen = []
        real_write = tr.write
        with mock.patch.object(tr, "write",
                               side_effect=lambda d: (seen.append(d),
                                                      real_write(d))):
            tr.write(b"ping")
            tr.writelines([b"a", b"b"])
        tr.marker = "instance attribute"
        await asyncio.sleep(0.05)
        out = [seen[0], b"".join(got)[:4], tr.marker, "write" in vars(tr)]
        tr.close()
        srv.close()
        await srv.wait_closed()
        return out
    assert assert_same(main) == [b"ping", b"ping", "instance attribute",
                                 False]


def test_get_extra_info_patched_on_asyncio_transport():
    async def main():
        srv, tr, _ = await echo_pair()
        with mock.patch.object(asyncio.Transport, "get_extra_info",
                               return_value="patched"):
            out = [tr.get_extra_info("peername")]
        out.append(tr.get_extra_info("peername")[0])
        out.append(tr.get_extra_info("nothing", "default"))
        tr.close()
        srv.close()
        await srv.wait_closed()
        return out
    assert assert_same(main) == ["patched", "127.0.0.1", "default"]


@pytest.mark.parametrize("value", [1, 0, "yes", ""])
def test_set_debug_keeps_what_it_was_given(value):
    async def main():
        loop = asyncio.get_running_loop()
        was = loop.get_debug()
        loop.set_debug(value)
        out = [loop.get_debug(), bool(loop.get_debug())]
        loop.set_debug(was)
        return [out, loop.get_debug()]
    assert assert_same(main) == [[value, bool(value)], False]


def test_set_debug_with_a_mock():
    async def main():
        loop = asyncio.get_running_loop()
        flag = mock.Mock()
        loop.set_debug(flag)
        out = [loop.get_debug() is flag]
        loop.set_debug(False)
        return out
    assert assert_same(main) == [True]


# ---- socket subclasses ----------------------------------------------------

class RecordingSocket(socket.socket):
    """Records the socket methods asyncio's transports call."""
    calls = None

    def recv(self, n, *args):
        self.calls.add("recv")
        return super().recv(n, *args)

    def recv_into(self, buf, *args):
        self.calls.add("recv_into")
        return super().recv_into(buf, *args)

    def send(self, data, *args):
        self.calls.add("send")
        return super().send(data, *args)

    def accept(self):
        self.calls.add("accept")
        fd, addr = self._accept()
        conn = RecordingSocket(self.family, self.type, self.proto, fileno=fd)
        return conn, addr


def test_socket_subclass_methods_are_called():
    async def main():
        RecordingSocket.calls = set()
        lsock = RecordingSocket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()

        async def handle(reader, writer):
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(handle, sock=lsock)
        csock = RecordingSocket(socket.AF_INET, socket.SOCK_STREAM)
        csock.connect(lsock.getsockname())
        csock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=csock)
        writer.write(b"hello\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()
        calls = RecordingSocket.calls
        return [line, "accept" in calls, "send" in calls,
                bool(calls & {"recv", "recv_into"})]
    assert assert_same(main) == [b"HELLO\n", True, True, True]


# ---- pytest: pyasync imported before pytest starts ------------------------

def test_pyasync_imported_before_pytest_raises_no_rewrite_warning(tmp_path):
    """pytest marks every module of a distribution with a pytest11 entry
    point for assertion rewriting; pyasync already imported (sitecustomize,
    `import pyasync; pytest.main()`) must not make it warn, or projects
    that turn warnings into errors cannot start."""
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1\n")
    # What the entry point makes pytest do, from a plugin, so that the
    # warning goes through pytest's own handling (-W error fails the run).
    (tmp_path / "markpyasync.py").write_text(textwrap.dedent("""
        def pytest_configure(config):
            config.pluginmanager.rewrite_hook.mark_rewrite("pyasync")
    """))
    script = textwrap.dedent("""
        import sys
        import pyasync
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p",
                              "no:asyncio", "-p", "markpyasync", "-W",
                              "error", sys.argv[1]]))
    """)
    r = subprocess.run([sys.executable, "-c", script,
                        str(tmp_path / "test_one.py")],
                       capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout
