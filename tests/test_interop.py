"""pyasync's loop under stdlib asyncio objects, and pyasync objects under
stdlib ones: the `_asyncio_future_blocking` protocol both ways."""
import asyncio
import sys

import pytest

import pyasync


@pytest.fixture
def loop():
    loop = pyasync.new_event_loop()
    yield loop
    loop.close()


def test_running_loop_is_visible_to_asyncio(loop):
    async def main():
        return asyncio.get_running_loop(), asyncio.get_event_loop()

    running, current = loop.run_until_complete(main())
    assert running is loop and current is loop
    assert asyncio.events._get_running_loop() is None


def test_stdlib_task_future_and_sleep_on_pyasync_loop(loop):
    async def child(fut):
        await asyncio.sleep(0.01)
        fut.set_result("from child")
        return "child done"

    async def main():
        fut = asyncio.Future()
        task = asyncio.Task(child(fut))
        assert type(task) is asyncio.Task
        return await fut, await task, asyncio.current_task() is not None

    assert loop.run_until_complete(asyncio.Task(main(), loop=loop)) == (
        "from child", "child done", True)


def test_stdlib_lock_timeout_and_gather_on_pyasync_tasks(loop):
    async def worker(lock, order, i):
        async with lock:
            order.append(i)
            await asyncio.sleep(0)

    async def main():
        assert type(asyncio.current_task()) is pyasync.Task
        lock = asyncio.Lock()
        order = []
        await asyncio.gather(*(worker(lock, order, i) for i in range(5)))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(1), 0.01)
        return order

    assert loop.run_until_complete(main()) == [0, 1, 2, 3, 4]


def test_pyasync_task_awaits_stdlib_future_and_back(loop):
    async def main():
        stdlib_fut = asyncio.Future()
        loop.call_later(0.01, stdlib_fut.set_result, "stdlib")
        got = await stdlib_fut

        pyasync_fut = loop.create_future()
        assert type(pyasync_fut) is pyasync.Future

        async def stdlib_waiter():
            return await pyasync_fut

        waiter = asyncio.Task(stdlib_waiter())
        await asyncio.sleep(0)
        pyasync_fut.set_result("pyasync")
        return got, await waiter

    assert loop.run_until_complete(main()) == ("stdlib", "pyasync")


def test_pyasync_task_on_stdlib_loop():
    loop = asyncio.new_event_loop()
    try:
        async def main():
            await pyasync.sleep(0.01)
            return asyncio.current_task()

        task = pyasync.Task(main(), loop=loop)
        assert loop.run_until_complete(task) is task
    finally:
        loop.close()


def test_cancelling_stdlib_task_waiting_on_pyasync_future(loop):
    async def wait(fut):
        return await fut

    async def main():
        fut = loop.create_future()
        task = asyncio.Task(wait(fut))
        await asyncio.sleep(0)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        return fut.cancelled()

    assert loop.run_until_complete(main()) is True


def test_install_makes_asyncio_run_use_pyasync():
    pyasync.install()
    try:
        async def main():
            return type(asyncio.get_running_loop()), type(asyncio.current_task())

        loop_type, task_type = asyncio.run(main())
        assert issubclass(loop_type, pyasync.EventLoop)
        assert task_type is pyasync.Task
    finally:
        asyncio.set_event_loop_policy(None)


def test_new_event_loop_and_policy():
    policy = pyasync.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, pyasync.EventLoop)
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
    finally:
        loop.close()
