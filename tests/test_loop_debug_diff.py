"""Debug mode's slow-callback warning, the task factory, and a datagram
socketpair endpoint: differential against asyncio (issue 12, part 4)."""
import contextvars
import logging
import re
import socket
import sys
import time

import pytest

from difftrace import assert_same, normalise


def _slow():
    time.sleep(0.06)


async def _slow_coro():
    time.sleep(0.06)


def _logged(trace):
    class Recorder(logging.Handler):
        def emit(self, record):
            msg = re.sub(r'took \d+\.\d{3} seconds', 'took N seconds',
                         record.getMessage())
            # The future's own "created at" is where asyncio's Python
            # create_future ran (docs/differences.md).
            msg = re.sub(r'when=[0-9.]+', 'when=T', msg)
            msg = re.sub(r'<Future finis\.\.\.[^>]*>', '<Future>', msg)
            trace(record.name, record.levelname, normalise(msg))
    return Recorder()


@pytest.mark.parametrize('what', ['task', 'call_soon', 'call_later',
                                  'done_callback'])
def test_slow_callback_names_what_asyncio_names(what):
    def scenario(aio, trace):
        handler = _logged(trace)
        log = logging.getLogger('asyncio')
        old = log.level
        log.addHandler(handler)
        log.setLevel(logging.WARNING)

        async def main():
            loop = aio.get_running_loop()
            loop.slow_callback_duration = 0.05
            if what == 'task':
                await loop.create_task(_slow_coro(), name='slow')
            elif what == 'call_soon':
                loop.call_soon(_slow)
            elif what == 'call_later':
                loop.call_later(0.001, _slow)
            else:
                fut = loop.create_future()
                fut.add_done_callback(lambda f: _slow())
                fut.set_result(1)
            await aio.sleep(0.1)
        try:
            aio.run(main(), debug=True)
        finally:
            log.removeHandler(handler)
            log.setLevel(old)
    trace = assert_same(scenario, via_run=False)
    assert any('Executing' in str(e) for e in trace)


def test_task_factory_calls():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()

        def factory(loop_, coro, **kwargs):
            trace('factory', loop_ is loop, coro.__qualname__,
                  sorted(kwargs))
            return aio.Task(coro, loop=loop_, **kwargs)

        async def child():
            return 1
        loop.set_task_factory(factory)
        trace('get', loop.get_task_factory() is factory)
        await loop.create_task(child(), name='n')
        await aio.create_task(child())
        await aio.create_task(child(), name='x')
        await loop.create_task(child(), context=contextvars.copy_context())
        await aio.ensure_future(child())
        await aio.gather(child(), child())
        await aio.wait_for(child(), 1)
        await aio.shield(child())
        async with aio.TaskGroup() as tg:
            tg.create_task(child(), name='tg')
            tg.create_task(child())
        loop.set_task_factory(None)
        trace('reset', loop.get_task_factory())
    assert_same(scenario)


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='eager_task_factory is new in 3.12')
def test_eager_task_factory_is_returned():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        factory = aio.create_eager_task_factory(aio.Task)
        loop.set_task_factory(factory)
        trace('get', loop.get_task_factory() is factory)

        async def child():
            trace('child runs')
            return 2
        t = loop.create_task(child())
        trace('done at once', t.done())
        trace('result', await t)
    assert_same(scenario)


def test_datagram_socketpair_endpoint():
    async def scenario(aio, trace):
        loop = aio.get_running_loop()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)

        class Proto(aio.DatagramProtocol):
            def __init__(self, name):
                self.name = name

            def datagram_received(self, data, addr):
                trace(self.name, 'got', data, addr)

            def error_received(self, exc):
                trace(self.name, 'error', type(exc).__name__)

            def connection_lost(self, exc):
                trace(self.name, 'lost', type(exc).__name__)
        ta, _ = await loop.create_datagram_endpoint(lambda: Proto('a'),
                                                    sock=a)
        tb, _ = await loop.create_datagram_endpoint(lambda: Proto('b'),
                                                    sock=b)
        trace('peername', ta.get_extra_info('peername'))
        # The peer of an unnamed socketpair has no address to send to.
        b.send(b'b->a via the socket')
        a.send(b'a->b via the socket')
        await aio.sleep(0.02)
        ta.sendto(b'a->b')
        await aio.sleep(0.02)
        tb.close()
        await aio.sleep(0)
    assert_same(scenario)
