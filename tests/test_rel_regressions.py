"""Regression tests for bugs found by the reliability work (fuzzing, the
bad-input table), one test per fix."""
import asyncio

import pytest

import pyasync


@pytest.mark.parametrize("lock", [1, "x", object(), pyasync.Event()])
def test_condition_rejects_a_lock_without_lock_methods(lock):
    """asyncio.Condition(lock) reads lock.locked/.acquire/.release at once;
    pyasync accepted anything and failed only at first use."""
    with pytest.raises(AttributeError) as expected:
        asyncio.Condition(lock)
    with pytest.raises(AttributeError) as got:
        pyasync.Condition(lock)
    assert str(got.value) == str(expected.value)


def test_condition_accepts_any_lock_like_object():
    class LockLike:
        def locked(self):
            return False

        async def acquire(self):
            return True

        def release(self):
            pass
    assert pyasync.Condition(LockLike()).locked() is False


def _tuple_arguments(aio):
    """writelines() of a tuple, and a tuple as a future's result through
    pyasync's C paths that call Python methods: the tuple is one argument
    (a "O" build format would have unpacked it; aiohttp on 3.14 writes
    tuples of chunks)."""
    async def main():
        loop = aio.get_running_loop()
        got = loop.create_future()

        class Server(asyncio.Protocol):
            def data_received(self, data):
                got.set_result(data)

        server = await loop.create_server(Server, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(asyncio.Protocol,
                                             '127.0.0.1', port)
        tr.writelines((b'ab', b'cd'))
        data = await got
        tr.close()
        server.close()
        await server.wait_closed()
        fut = asyncio.Future(loop=loop)          # a stdlib future
        loop.call_soon(pyasync._core._set_result_unless_cancelled, fut,
                       (1, 2))
        return data, await fut
    return aio.run(main())


def test_tuple_is_one_argument():
    assert _tuple_arguments(pyasync) == _tuple_arguments(asyncio) == (
        b'abcd', (1, 2))
