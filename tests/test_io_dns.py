"""getaddrinfo/getnameinfo: equal to the socket module's answers."""
import asyncio
import socket

import pytest

import pyasync

CASES = [
    (('localhost', 80), {}),
    (('localhost', 80), {'type': socket.SOCK_STREAM}),
    (('127.0.0.1', 8080), {}),
    (('127.0.0.1', '8080'), {'family': socket.AF_INET}),
    (('127.0.0.1', b'8080'), {'proto': socket.IPPROTO_TCP}),
    (('127.0.0.1', None), {}),
    ((b'127.0.0.1', 'http'), {'type': socket.SOCK_STREAM}),
    (('::1', 443), {'type': socket.SOCK_STREAM}),
    ((None, 0), {'flags': socket.AI_PASSIVE}),
    ((None, 80), {}),
    (('localhost', 'https'), {'family': socket.AF_INET}),
    (('127.0.0.1', 0), {'flags': socket.AI_CANONNAME}),
]


def stdlib(host, port, family=0, type=0, proto=0, flags=0):
    try:
        return socket.getaddrinfo(host, port, family, type, proto, flags)
    except Exception as e:
        return (type_(e), e.args)


def type_(e):
    return type(e).__name__


def ours(loop, host, port, **kw):
    async def go():
        try:
            return await loop.getaddrinfo(host, port, **kw)
        except Exception as e:
            return (type_(e), e.args)
    return loop.run_until_complete(go())


@pytest.fixture
def loop():
    lp = pyasync.new_event_loop()
    yield lp
    lp.close()


@pytest.mark.parametrize('args,kw', CASES)
def test_getaddrinfo_equals_socket(loop, args, kw):
    expected = stdlib(*args, **kw)
    got = ours(loop, *args, **kw)
    assert got == expected
    if isinstance(got, list):
        assert all(type(r[0]) is socket.AddressFamily
                   and type(r[1]) is socket.SocketKind for r in got)


@pytest.mark.parametrize('host,port', [
    ('nonexistent.invalid', 80),
    (None, None),
    ('127.0.0.1', 'no-such-service'),
    (1234, 80),
    ('127.0.0.1', 1.5),
    (b'\xff', 80),
    (b'a' * 300, 80),
    ('127.0.0.1', -1),
    ('127.0.0.1', 'ht\x00tp'),
    ('x', 2 ** 40),
])
def test_getaddrinfo_errors_equal_socket(loop, host, port):
    assert ours(loop, host, port) == stdlib(host, port)


def test_bad_family_error(loop):
    assert ours(loop, '127.0.0.1', 80, family=12345) == \
        stdlib('127.0.0.1', 80, 12345)


def test_gaierror_class(loop):
    with pytest.raises(socket.gaierror) as info:
        loop.run_until_complete(loop.getaddrinfo('nonexistent.invalid', 80))
    assert info.value.errno == socket.EAI_NONAME


@pytest.mark.parametrize('host', ['LOCALHOST', 'bücher.invalid',
                                  'a' * 70 + '.invalid'])
def test_idna_host(loop, host):
    assert ours(loop, host, 80) == stdlib(host, 80)


@pytest.mark.parametrize('sockaddr,flags', [
    (('127.0.0.1', 80), 0),
    (('127.0.0.1', 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV),
    (('::1', 443, 0, 0), 0),
    (('::1', 22), socket.NI_NUMERICSERV),
    (('127.0.0.1', 80, 1), 0),
    (['127.0.0.1', 80], 0),
    (('127.0.0.1',), 0),
    (('::1', 80, 0x100000, 0), 0),
    (('not an address', 80), 0),
])
def test_getnameinfo_equals_socket(loop, sockaddr, flags):
    try:
        expected = socket.getnameinfo(sockaddr, flags)
    except Exception as e:
        expected = (type_(e), e.args)

    async def go():
        try:
            return await loop.getnameinfo(sockaddr, flags)
        except Exception as e:
            return (type_(e), e.args)
    assert loop.run_until_complete(go()) == expected


def test_does_not_block_the_loop(loop):
    ticks = []

    async def main():
        async def ticker():
            for _ in range(3):
                ticks.append(1)
                await asyncio.sleep(0)
        t = loop.create_task(ticker())
        await loop.getaddrinfo('localhost', 80)
        await t
    loop.run_until_complete(main())
    assert len(ticks) == 3


def test_cancel_and_close_with_pending_request():
    loop = pyasync.new_event_loop()

    async def main():
        t = loop.create_task(loop.getaddrinfo('localhost', 80))
        await asyncio.sleep(0)
        t.cancel()
        loop.create_task(loop.getaddrinfo('localhost', 81))
        await asyncio.sleep(0)
        return t
    t = loop.run_until_complete(main())
    assert t.cancelled()
    loop.close()


def test_closed_loop(differential):
    def scenario(loop):
        loop.close()
        coro = loop.getaddrinfo('localhost', 80)
        try:
            coro.send(None)
        except RuntimeError as e:
            return str(e)
    differential(scenario)


def test_debug_mode_logs_like_asyncio(caplog):
    import logging
    msgs = []
    for make in (asyncio.new_event_loop, pyasync.new_event_loop):
        lp = make()
        lp.set_debug(True)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger='asyncio'):
            lp.run_until_complete(lp.getaddrinfo('127.0.0.1', 80,
                                                 type=socket.SOCK_STREAM))
        lp.close()
        msgs.append([r.getMessage().split(' took ')[0]
                     for r in caplog.records if 'address info' in
                     r.getMessage()])
    assert msgs[0] == msgs[1] and len(msgs[0]) == 2
