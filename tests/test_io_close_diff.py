"""Closing a socket under a waiter, differential against asyncio's
selector loop (issue 12, part 3).

asyncio's EpollSelector registers the file at add_reader time and the
kernel forgets it when the file is closed, while the selector keeps the
fd's key: an old reader never fires for a new socket on the same fd
number, a same-mask reader added there never fires either, and a mask
change there fails as epoll_ctl(MOD) does (FileNotFoundError when the fd
was reused, OSError EBADF when it is closed), dropping the key.  pyasync
follows that model (csrc/io/poll.c); each scenario runs on both loops.
"""
import os
import socket

import pytest

from difftrace import assert_same

_ABSTRACT = 0


def abstract_name():
    global _ABSTRACT
    _ABSTRACT += 1
    return f'\0pyasync-close-{os.getpid()}-{_ABSTRACT}'


def _tcp_pair():
    with socket.socket() as lst:
        lst.bind(('127.0.0.1', 0))
        lst.listen()
        a = socket.create_connection(lst.getsockname())
        b, _ = lst.accept()
    return a, b


def _unix_pair(abstract):
    if not abstract:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with socket.socket(socket.AF_UNIX) as lst:
        lst.bind(abstract_name())
        lst.listen()
        a = socket.socket(socket.AF_UNIX)
        a.connect(lst.getsockname())
        b, _ = lst.accept()
    return a, b


def _dgram_pair(abstract):
    if not abstract:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.bind(abstract_name())
    b.bind(abstract_name())
    a.connect(b.getsockname())
    b.connect(a.getsockname())
    return a, b


KINDS = {
    'tcp': _tcp_pair,
    'unix': lambda: _unix_pair(False),
    'unix-abstract': lambda: _unix_pair(True),
    'dgram': lambda: _dgram_pair(False),
    'dgram-abstract': lambda: _dgram_pair(True),
}


def pair(kind):
    a, b = KINDS[kind]()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def ticks(aio, n=5):
    for _ in range(n):
        await aio.sleep(0)


def reused_pair(kind, fd):
    """A new pair whose first socket has number fd (the one just freed)."""
    c, d = pair(kind)
    assert c.fileno() == fd, 'the fd number was not reused'
    return c, d


def call(trace, label, fn, *args):
    try:
        trace(label, fn(*args))
    except OSError as exc:
        trace.exc(label, exc)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('polled', [False, True], ids=['unpolled', 'polled'])
def test_old_reader_never_fires_on_reused_fd(kind, polled):
    # Closed and reopened before the loop polled (libuv would register
    # the new socket for the old reader) or after.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        loop.add_reader(fd, trace, 'old reader fired')
        if polled:
            await ticks(aio)
        a.close()
        c, d = reused_pair(kind, fd)
        d.send(b'new')
        await aio.sleep(0.02)
        trace('removed', loop.remove_reader(fd))
        trace('new socket keeps its data', c.recv(10))
        for s in (b, c, d):
            s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix', 'dgram-abstract'])
@pytest.mark.parametrize('polled', [False, True], ids=['unpolled', 'polled'])
def test_reader_replaced_on_reused_fd(kind, polled):
    # Same mask: asyncio only swaps the key's data (no epoll_ctl), so the
    # new socket is not registered: the new reader does not fire until
    # the key is removed and added afresh.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        loop.add_reader(fd, trace, 'old reader fired')
        if polled:
            await ticks(aio)
        a.close()
        c, d = reused_pair(kind, fd)
        d.send(b'x')
        loop.add_reader(fd, trace, 'second reader fired')
        await aio.sleep(0.02)
        trace('removed', loop.remove_reader(fd))

        def third():
            trace('third reader fired', c.recv(10))
            trace('removed', loop.remove_reader(fd))
        loop.add_reader(fd, third)
        await aio.sleep(0.02)
        trace('removed again', loop.remove_reader(fd))
        for s in (b, c, d):
            s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix-abstract', 'dgram'])
@pytest.mark.parametrize('polled', [False, True], ids=['unpolled', 'polled'])
def test_writer_added_on_reused_fd(kind, polled):
    # A mask change is epoll_ctl(MOD) of a file never registered: ENOENT,
    # and the key (the old reader with it) is gone.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        loop.add_reader(fd, trace, 'old reader fired')
        if polled:
            await ticks(aio)
        a.close()
        c, d = reused_pair(kind, fd)
        d.send(b'x')
        call(trace, 'add_writer', loop.add_writer, fd, trace, 'writer fired')
        await aio.sleep(0.02)
        trace('remove_writer', loop.remove_writer(fd))
        trace('remove_reader', loop.remove_reader(fd))
        # The fd is free again: a fresh registration works.

        def reader():
            trace('fresh reader', c.recv(10))
            loop.remove_reader(fd)
        loop.add_reader(fd, reader)
        await aio.sleep(0.02)
        for s in (b, c, d):
            s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix', 'dgram'])
def test_closed_fd_with_reader_and_writer(kind):
    # Removing one side of a closed fd is a MOD: EBADF, key dropped, the
    # other side gone too (and neither Handle cancelled).
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        rh = loop._add_reader(fd, trace, 'reader')
        loop.add_writer(fd, trace, 'writer')
        loop.remove_writer(fd)
        wh = loop._add_writer(fd, trace, 'writer')
        await ticks(aio, 1)
        a.close()
        call(trace, 'remove_reader', loop.remove_reader, fd)
        call(trace, 'remove_writer', loop.remove_writer, fd)
        trace('cancelled', rh.cancelled(), wh.cancelled())
        call(trace, 'add_writer', loop.add_writer, fd, trace, 'w')
        b.close()
    assert_same(scenario)


def _fill(sock):
    try:
        while True:
            sock.send(b'x' * 65536)
    except BlockingIOError:
        pass


def _drain(sock):
    try:
        while sock.recv(1 << 20):
            pass
    except (BlockingIOError, ConnectionResetError):
        pass


RECEIVERS = {
    'sock_recv': lambda loop, s: loop.sock_recv(s, 10),
    'sock_recv_into': lambda loop, s: loop.sock_recv_into(s, bytearray(10)),
    'sock_recvfrom': lambda loop, s: loop.sock_recvfrom(s, 10),
    'sock_recvfrom_into':
        lambda loop, s: loop.sock_recvfrom_into(s, bytearray(10)),
}


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('method', RECEIVERS)
def test_receiver_closed_under_waiter(kind, method):
    # The waiter is never woken for the new socket; cancelling it later
    # removes the stale key; the new socket's data stays unread.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        task = loop.create_task(RECEIVERS[method](loop, a))
        await ticks(aio)
        a.close()
        c, d = reused_pair(kind, fd)
        d.send(b'new')
        await aio.sleep(0.02)
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        trace('remove_reader', loop.remove_reader(fd))
        trace('new data', c.recv(10))
        for s in (b, c, d):
            s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix', 'dgram-abstract'])
def test_reader_removed_under_waiter(kind):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        task = loop.create_task(loop.sock_recv(a, 10))
        await ticks(aio)
        trace('remove_reader', loop.remove_reader(a))
        b.send(b'x')
        await aio.sleep(0.02)
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        trace('remove_reader', loop.remove_reader(a))
        trace('data', a.recv(10))
        a.close()
        b.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix', 'dgram'])
def test_closed_while_its_callback_is_queued(kind):
    # Readable, then closed by a callback of the same iteration: the
    # retry sees the closed socket (EBADF) and fails the waiter.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        task = loop.create_task(loop.sock_recv(a, 10))
        await ticks(aio)
        b.send(b'x')
        loop.call_soon(a.close)
        await aio.sleep(0.02)
        try:
            trace('result', await task)
        except OSError as exc:
            trace.exc('recv', exc)
        b.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix', 'unix-abstract',
                                  'dgram-abstract'])
def test_sendall_closed_under_waiter(kind):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        fd = a.fileno()
        if kind.startswith('dgram'):
            _fill(a)
            task = loop.create_task(loop.sock_sendto(a, b'y',
                                                     b.getsockname()))
        else:
            task = loop.create_task(loop.sock_sendall(a, b'x' * 50_000_000))
        await ticks(aio)
        trace('pending', not task.done())
        a.close()
        c, d = reused_pair(kind, fd)
        await aio.sleep(0.02)
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        trace('remove_writer', loop.remove_writer(fd))
        for s in (b, c, d):
            s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix'])
def test_sendall_peer_closed(kind):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        task = loop.create_task(loop.sock_sendall(a, b'x' * 50_000_000))
        await ticks(aio)
        b.close()
        try:
            await task
        except OSError as exc:
            trace('error', type(exc).__name__)
        trace('remove_writer', loop.remove_writer(a))
        a.close()
    assert_same(scenario)


@pytest.mark.parametrize('family', ['tcp', 'unix-abstract'])
def test_accept_closed_under_waiter(family):
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        if family == 'tcp':
            srv = socket.socket()
            srv.bind(('127.0.0.1', 0))
        else:
            srv = socket.socket(socket.AF_UNIX)
            srv.bind(abstract_name())
        srv.listen()
        srv.setblocking(False)
        fd = srv.fileno()
        task = loop.create_task(loop.sock_accept(srv))
        await ticks(aio)
        srv.close()
        c, d = reused_pair('unix', fd)
        d.send(b'x')
        await aio.sleep(0.02)
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        trace('remove_reader', loop.remove_reader(fd))
        c.close()
        d.close()
    assert_same(scenario)


def test_connect_closed_under_waiter():
    # A UNIX connect to a listener whose backlog is full waits (EAGAIN).
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(abstract_name())
        srv.listen(0)
        clients = []
        task = None
        for _ in range(20):
            c = socket.socket(socket.AF_UNIX)
            c.setblocking(False)
            clients.append(c)
            task = loop.create_task(loop.sock_connect(c, srv.getsockname()))
            await ticks(aio)
            if not task.done():
                break
        trace('pending', not task.done())
        fd = clients[-1].fileno()
        clients[-1].close()
        await aio.sleep(0.02)
        srv.close()
        await aio.sleep(0.02)
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        trace('remove_writer', loop.remove_writer(fd))
        for c in clients:
            c.close()
    assert_same(scenario)


def test_error_events_are_level_triggered():
    # A pending socket error (ICMP port unreachable) wakes a reader that
    # does not consume it on every iteration, as epoll does (libuv stops
    # a poll on POLLERR).
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(('127.0.0.1', 0))
            port = u.getsockname()[1]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(('127.0.0.1', port))
        s.send(b'x')
        await aio.sleep(0.02)
        calls = []
        loop.add_reader(s, calls.append, 1)
        await ticks(aio, 6)
        trace('woken again and again', len(calls) >= 4)
        try:
            s.recv(10)
        except OSError as exc:
            trace.exc('recv', exc)
        loop.remove_reader(s)
        s.close()
    assert_same(scenario)


@pytest.mark.parametrize('kind', ['tcp', 'unix'])
def test_transport_on_a_stale_fd_number(kind):
    # A waiter's socket is closed; a transport is then made on another
    # socket (pyasync's transports run on a dup of the socket's fd, which
    # takes the lowest free number: the stale one): the transport works
    # and the old waiter never fires.
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = pair(kind)
        s, peer = pair(kind)
        task = loop.create_task(loop.sock_recv(a, 10))
        await ticks(aio)
        a.close()
        reader, writer = await aio.open_connection(sock=s) \
            if kind == 'tcp' else await aio.open_unix_connection(sock=s)
        peer.send(b'hello')
        trace('transport read', await aio.wait_for(reader.read(5), 5))
        writer.write(b'back')
        await writer.drain()
        await aio.sleep(0.01)
        trace('peer got', peer.recv(10))
        trace('pending', not task.done())
        task.cancel()
        try:
            await task
        except aio.CancelledError:
            trace('cancelled')
        writer.close()
        await writer.wait_closed()
        for sock in (b, peer):
            sock.close()
    assert_same(scenario)
