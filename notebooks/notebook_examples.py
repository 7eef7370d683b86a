"""The user's notebook examples (shared/seed/asyncio_notebook.txt) as a script.

Each notebook cell becomes a coroutine run on one Runner, so that, as in
Jupyter, every cell runs on the same loop and a task started in one cell
keeps running in the next.  Run it with `python notebooks/notebook_examples.py`
(pyasync) or `--stdlib` (CPython's asyncio) to compare.  Takes about 14 s.
"""
import sys
import time

if "--stdlib" in sys.argv:
    import asyncio
else:
    import pyasync as asyncio


def cell(title):
    print(f"\n--- {title} ---", flush=True)


async def rocket():
    print(1)
    await asyncio.sleep(1)
    print(2)
    await asyncio.sleep(1)
    print(3)
    await asyncio.sleep(1)
    print("Go!")


async def say_after(delay, msg):
    await asyncio.sleep(delay)
    print(msg)


async def main_sequential():
    started = time.time()
    await say_after(1, 'hello')
    await say_after(2, ' world')
    print(f"Time: {time.time() - started}")


async def main_tasks():
    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))
    started = time.time()
    await task1
    await task2
    print(f"Time: {time.time() - started}")


async def my_coroutine():
    await asyncio.sleep(3)
    print("Задача завершена")


async def main_done():
    task = asyncio.create_task(my_coroutine())
    if task.done():
        print("Задача уже завершена")
    else:
        print("Задача все еще выполняется")


async def slow_operation():
    await asyncio.sleep(2)
    return "Завершено!"


async def main_future():
    future = asyncio.ensure_future(slow_operation())  # Создание объекта Future
    await asyncio.sleep(1)
    future_result = await future  # Ожидание завершения Future
    print(future_result)


def main():
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        print(f"loop: {type(loop).__module__}.{type(loop).__qualname__}")

        cell("rocket")
        runner.run(rocket())
        coro = rocket()
        print(coro)
        coro.close()

        cell("say_after, one after the other")
        runner.run(main_sequential())

        cell("say_after with create_task")
        runner.run(main_tasks())

        cell("Task methods")

        async def await_hello():
            task = asyncio.create_task(say_after(1, 'hello'))
            await task
            return task
        task = runner.run(await_hello())
        print(task.cancelled())
        print(task.done())
        runner.run(main_done())
        task.set_name(123)
        print(repr(task.get_name()))

        async def two_tasks():
            return (asyncio.create_task(my_coroutine()),
                    asyncio.create_task(my_coroutine()))
        task2, task3 = runner.run(two_tasks())
        print(repr(task2.get_name()))
        print(repr(task3.get_name()))
        # In the notebook the kernel's loop keeps running between cells;
        # here the next cell's run lets the three sleeping tasks finish.
        runner.run(asyncio.sleep(3.1))

        cell("Future with ensure_future")
        runner.run(main_future())


if __name__ == "__main__":
    main()
