"""The user's notebook (shared/seed/asyncio_notebook.txt) as a script.

Each notebook cell that uses asyncio is a function below, in notebook order.
As in Jupyter, every cell runs on one long-lived loop (a Runner), so a task
started in one cell keeps running in the next.  The cell code is the
notebook's, with `await` at top level turned into the cell's coroutine.

    python notebooks/notebook_examples.py            # every cell, on pyasync
    python notebooks/notebook_examples.py --stdlib   # the same on asyncio
    python notebooks/notebook_examples.py --only NAME [--only NAME ...]
    python notebooks/notebook_examples.py --list

The deadlock cells never finish by design: they run under a time limit
(--hang-limit, 2 s) and report that they were still waiting.  The Semaphore
cell fetches from a local aiohttp server started on 127.0.0.1 (there is no
internet here), counting requests in flight on the server side.
"""
import argparse
import sys
import time

if "--stdlib" in sys.argv:
    import asyncio
else:
    import pyasync as asyncio

CELLS = []


def cell(func):
    """Register a notebook cell, in notebook order."""
    CELLS.append(func)
    return func


# ---- Asyncio: coroutines ------------------------------------------------

async def rocket():
    print(1)
    await asyncio.sleep(1)
    print(2)
    await asyncio.sleep(1)
    print(3)
    await asyncio.sleep(1)
    print("Go!")


@cell
async def rocket_awaited():
    await rocket()


@cell
async def rocket_not_awaited():
    coro = rocket()
    print(coro)
    coro.close()


async def say_after(delay, msg):
    await asyncio.sleep(delay)
    print(msg)


@cell
async def say_after_sequential():
    async def main():
        started = time.time()

        await say_after(1, 'hello')
        await say_after(2, ' world')

        print(f"Time: {time.time() - started}")

    await main()


# ---- Task ---------------------------------------------------------------

@cell
async def say_after_tasks():
    async def main():
        task1 = asyncio.create_task(
            say_after(1, 'hello'))

        task2 = asyncio.create_task(
            say_after(2, 'world'))

        started = time.time()

        await task1
        await task2

        print(f"Time: {time.time() - started}")

    await main()


@cell
async def task_methods():
    global task
    task = asyncio.create_task(
        say_after(1, 'hello')
    )

    await task
    print(task.cancelled())
    print(task.done())


async def my_coroutine():
    await asyncio.sleep(3)
    print("Задача завершена")


@cell
async def task_done_check():
    async def main():
        task = asyncio.create_task(my_coroutine())
        if task.done():
            print("Задача уже завершена")
        else:
            print("Задача все еще выполняется")

    await main()


@cell
async def task_names():
    # uses `task` from the task_methods cell (run first by --only)
    global task2, task3
    task.set_name(123)
    print(repr(task.get_name()))
    task2 = asyncio.create_task(my_coroutine())
    task3 = asyncio.create_task(my_coroutine())
    print(repr(task2.get_name()))
    print(repr(task3.get_name()))
    # In Jupyter the kernel's loop keeps running between cells; here the
    # cell waits for the three sleeping tasks so their output is in order.
    await asyncio.sleep(3.1)


@cell
async def future_ensure_future():
    async def slow_operation():
        await asyncio.sleep(2)
        return "Завершено!"

    async def main():
        future = asyncio.ensure_future(slow_operation())  # Создание объекта Future
        await asyncio.sleep(1)
        future_result = await future  # Ожидание завершения Future
        print(future_result)

    await main()


# ---- gather -------------------------------------------------------------

id_list = [1, 2, 3, 4]


@cell
async def gather_connect():
    async def connect_to_user(usr_id):
        print(f'Подключаюсь к {usr_id}')
        await asyncio.sleep(2)
        print(f'Отправляю команду test пользователю {usr_id}')
        await asyncio.sleep(2)

    async def send_msg(id_list):
        coroutines = map(connect_to_user, id_list)
        result = await asyncio.gather(*coroutines, return_exceptions=False)
        return result

    res = await send_msg(id_list)
    print(res)


async def connect_to_user_failing(usr_id):
    print(f'Подключаюсь к {usr_id}')
    if usr_id == 4:
        raise OSError(f'Не могу подключиться к {usr_id}')
    await asyncio.sleep(1)
    print(f'Отправляю команду test пользователю {usr_id}')
    await asyncio.sleep(1)


async def send_msg(id_list, return_ex=False):
    coroutines = map(connect_to_user_failing, id_list)
    result = await asyncio.gather(*coroutines, return_exceptions=return_ex)
    return result


@cell
async def gather_exception_raised():
    await send_msg(id_list, False)


@cell
async def gather_return_exceptions():
    # The previous cell's other coroutines are still running (gather does not
    # cancel them); let them finish first, as they would in the notebook.
    await asyncio.sleep(2.1)
    print(await send_msg(id_list, True))


@cell
async def gather_futures():
    async def slow_operation(num):
        await asyncio.sleep(2)
        return f"Операция {num} завершена"

    async def main():
        futures = [asyncio.ensure_future(slow_operation(i)) for i in range(3)]  # Создание нескольких объектов Future
        results = await asyncio.gather(*futures)  # Ожидание завершения всех Future
        for result in results:
            print(result)

    await main()


# ---- shield, wait_for ---------------------------------------------------

@cell
async def shield_example():
    async def start_task():
        print('Старт задачи...')
        await asyncio.sleep(2)
        print('А что со мной хотели сделать?')

    async def cancel(some_task):
        await asyncio.sleep(0.5)
        some_task.cancel()
        print('Отмена!')

    async def main():
        real_task = asyncio.create_task(start_task())
        shield = asyncio.shield(real_task)
        asyncio.create_task(cancel(shield))
        await real_task

    await main()


@cell
async def wait_for_timeout():
    async def fast_func():
        await asyncio.sleep(360)
        print('Да не долго я работаю')

    async def main():
        try:
            await asyncio.wait_for(fast_func(), timeout=5.0)
        except asyncio.TimeoutError:
            print('Какая-то не очень быстрая ...')

    await main()


@cell
async def wait_for_message():
    async def send_message(user_id, message):
        print(f"Отправка сообщения '{message}' пользователю {user_id}")
        await asyncio.sleep(5)
        print(f"Сообщение '{message}' доставлено пользователю {user_id}")

    async def receive_message(user_id):
        try:
            await asyncio.wait_for(send_message(user_id, "Привет!"), timeout=3)
            print(f"Получен ответ: Привет!")
        except asyncio.TimeoutError:
            print(f"Время ожидания ответа от пользователя {user_id} истекло")

    async def main():
        user_id = 123
        await receive_message(user_id)

    await main()


@cell
async def shield_wait_for_cancelled():
    async def send_important_message():
        print("Начало отправки важного сообщения")
        await asyncio.sleep(7)

    async def main():
        task = asyncio.create_task(send_important_message())
        try:
            await asyncio.sleep(5)
            task.cancel()
            # Здесь используем shield() для гарантированной отправки важного сообщения
            await asyncio.shield(asyncio.wait_for(task, timeout=5))
            print("Отправлено!")
        except asyncio.TimeoutError:
            print("Время на отправку важного сообщения истекло")

    await main()


# ---- wait ---------------------------------------------------------------

async def foo():
    await asyncio.sleep(1)
    print('hello ...')


async def bar():
    await asyncio.sleep(2)
    print('... world!')


@cell
async def wait_first_completed():
    print_hello = asyncio.create_task(foo())
    print_world = asyncio.create_task(bar())

    done, pending = await asyncio.wait({print_hello, print_world}, return_when=asyncio.FIRST_COMPLETED)

    print(done)
    print(pending)
    await print_world  # the notebook's next cell ran after it; keep the order


@cell
async def wait_timeout():
    print_hello = asyncio.create_task(foo())
    print_world = asyncio.create_task(bar())

    done, pending = await asyncio.wait({print_hello, print_world}, timeout=1.5)

    print(done)
    print(pending)
    await print_world


@cell
async def wait_all_completed():
    print_hello = asyncio.create_task(foo())
    print_world = asyncio.create_task(bar())

    done, pending = await asyncio.wait({print_hello, print_world}, return_when=asyncio.ALL_COMPLETED)

    print(sorted(done, key=lambda t: t.get_coro().__name__))
    print(pending)


@cell
async def wait_first_exception():
    async def task1():
        await asyncio.sleep(2)
        print("Задача 1 завершилась")

    async def task2():
        await asyncio.sleep(3)
        raise ValueError("Исключение в задаче 2")

    async def main():
        tasks = {asyncio.create_task(task1()), asyncio.create_task(task2())}

        # Вернуть управление после первой завершившейся задачи
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            print(f"Завершилась задача: {task.get_name()}")

        # Вернуть управление после первого исключения
        _, exceptions = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task, exception in exceptions:
            print(f"Исключение в задаче: {task.get_name()}, {exception}")

    await main()


# ---- Race condition -----------------------------------------------------

@cell
async def race_condition():
    async def increment_counter():
        global counter
        current = counter
        await asyncio.sleep(0)
        current += 1
        await asyncio.sleep(0)
        counter = current

    async def main():
        global counter
        counter = 0
        coroutines = [increment_counter() for _ in range(10000)]  # создаем корутины для обновления counter
        await asyncio.gather(*coroutines)  # запускаем их
        print(counter)

    await main()


@cell
async def race_condition_lock():
    async def increment_counter(lock):
        global counter
        async with lock:
            current = counter
            await asyncio.sleep(0)
            current += 1
            await asyncio.sleep(0)
            counter = current

    async def main():
        global counter
        counter = 0
        lock = asyncio.Lock()
        coroutines = [increment_counter(lock) for _ in range(10000)]  # создаем корутины для обновления counter
        await asyncio.gather(*coroutines)  # запускаем их
        print(counter)

    await main()


# ---- Deadlock (these never finish: run under --hang-limit) ------------------

def hangs(func):
    func.hangs = True
    return func


@cell
@hangs
async def deadlock_one_coroutine():
    async def task(lock):
        print('Task acquiring lock...')
        # acquire the lock
        async with lock:
            print('Task acquiring lock again...')
            # acquire the lock
            async with lock:
                # will never get here
                pass

    async def main():
        # create the shared lock
        lock = asyncio.Lock()
        # execute and await the coroutine
        await task(lock)

    await main()


@cell
@hangs
async def deadlock_two_coroutines():
    async def task(number, lock1, lock2):
        print(f'Task {number} acquiring lock 1...')
        async with lock1:
            await asyncio.sleep(1)
            print(f'Task {number} acquiring lock 2...')
            async with lock2:
                pass

    async def main():
        lock1 = asyncio.Lock()
        lock2 = asyncio.Lock()
        coro1 = task(1, lock1, lock2)
        coro2 = task(2, lock2, lock1)
        await asyncio.gather(coro1, coro2)

    await main()


@cell
@hangs
async def deadlock_lock_never_released():
    async def task(lock):
        # acquire the lock
        print('Task acquiring lock...')
        await lock.acquire()
        # fail
        raise Exception('Something bad happened')
        # release the lock (never gets here)
        print('Task releasing lock...')
        lock.release()

    async def main():
        # create the mutex lock
        lock = asyncio.Lock()
        # create and start the new task
        asyncio.create_task(task(lock))
        # wait a moment
        await asyncio.sleep(1)
        # acquire the lock
        print('Main acquiring lock...')
        await lock.acquire()
        # do something...
        # release lock (never gets here)
        lock.release()

    await main()


# ---- Synchronisation primitives -----------------------------------------

@cell
async def semaphore_aiohttp():
    from semaphore_server import LocalServer
    from aiohttp import ClientSession

    Semaphore = asyncio.Semaphore

    async def get_url(url: str, session: ClientSession, semaphore: Semaphore):
        print('Waiting to acquire semaphore...')
        async with semaphore:
            print('Semaphore acquired, requesting...')
            response = await session.get(url)
            print('Finishing requesting')
            return response.status

    async def main(url):
        # Хотя мы запускаем 100 задач, одновременно будут выполняться только 10 задач.
        semaphore: Semaphore = Semaphore(10)
        async with ClientSession() as session:
            tasks = [asyncio.create_task(get_url(url, session, semaphore))
                     for _ in range(100)]
            return await asyncio.gather(*tasks)

    async with LocalServer() as server:
        statuses = await main(server.url)
    print(f"statuses: {sorted(set(statuses))}, requests served: "
          f"{server.served}, most in flight: {server.most_in_flight}")


@cell
async def event_example():
    async def coro1(event):
        print("coro1: Waiting for the event to be set")
        await event.wait()  # Ждем, пока событие не будет установлено
        print("coro1: Event has been set")

    async def coro2(event):
        await asyncio.sleep(10)  # Подождем 2 секунды
        print("coro2: Setting the event")
        event.set()  # Устанавливаем событие

    async def main():
        # Создаем объект события
        event = asyncio.Event()

        # Запускаем два таска
        task1 = asyncio.create_task(coro1(event))
        task2 = asyncio.create_task(coro2(event))

        # Ждем, пока оба таска завершат выполнение
        await asyncio.gather(task1, task2)

    await main()


@cell
async def condition_notify_all():
    Condition = asyncio.Condition

    async def do_work(condition: Condition):
        print("do_work: захватываю блокировку условия...")
        async with condition:
            print("do_work: Блокировка захвачена, освобождаю и жду выполнения условия...")
            await condition.wait()
            print("do_work: Условие выполнено, вновь захватываю блокировку и начинаю работать...")
            await asyncio.sleep(1)
            print("do_work: Работа закончена, блокировка освобождена.")

    async def fire_event(condition: Condition):
        await asyncio.sleep(5)
        print("fire_event: захватываю блокировку условия...")
        async with condition:
            print("fire_event: Блокировка захвачена, уведомляю всех исполнителей")
            condition.notify_all()
            print("fire_event: Исполнители уведомлены, освобождаю блокировку.")

    async def main():
        condition = Condition()
        asyncio.create_task(fire_event(condition))

        await asyncio.gather(do_work(condition), do_work(condition))

    await main()


@cell
async def condition_wait_for():
    from enum import Enum
    Condition = asyncio.Condition

    class ConnectionState(Enum):
        WAIT_INIT = 0
        INITIALING = 1
        INITIALIZED = 2

    class Connection:
        def __init__(self):
            self._state = ConnectionState.WAIT_INIT
            self._condition = Condition()

        async def initialize(self):
            print("initialize: Preparing initialize the connection.")
            await self._change_state(ConnectionState.INITIALING)
            await asyncio.sleep(5)
            print("initialize: Connection initialized")
            await self._change_state(ConnectionState.INITIALIZED)

        async def execute(self, query: str):
            async with self._condition:
                print("execute: Waiting for connection initialized")
                await self._condition.wait_for(self._is_initialized)
                print(f"execute: Connection initialized, executing query: {query}")
                await asyncio.sleep(5)
                print("execute: Execute finished.")

        async def _change_state(self, state: ConnectionState):
            print(f"_change_state: Will change state from {self._state} to {state}")
            self._state = state
            print("_change_state: Change the state and notify all..")
            async with self._condition:
                self._condition.notify_all()

        def _is_initialized(self):
            if self._state is not ConnectionState.INITIALIZED:
                print("_is_initialized: The connection is not initialized.")
                return False
            print("_is_initialized: The connection is ready.")
            return True

    async def main():
        connection = Connection()
        task_one = asyncio.create_task(connection.execute("SELECT * FROM table"))
        task_two = asyncio.create_task(connection.execute("SELECT * FROM other_table"))

        asyncio.create_task(connection.initialize())
        await asyncio.gather(task_one, task_two)

    await main()


# ---- Running the cells --------------------------------------------------

async def run_cell(func, hang_limit):
    """Run one cell; report what Jupyter would show for an exception.
    hang_limit None: no limit (pyasync's debug mode diagnoses the hangs)."""
    try:
        if getattr(func, "hangs", False) and hang_limit is not None:
            try:
                await asyncio.wait_for(func(), hang_limit)
            except asyncio.TimeoutError:
                print(f"[still waiting after {hang_limit:g} s: deadlock]")
        else:
            await func()
    except Exception as exc:  # shown like Jupyter's error output
        print(f"{type(exc).__name__}: {exc}")
    except asyncio.CancelledError as exc:
        print(f"CancelledError: {exc}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--stdlib", action="store_true",
                        help="run on CPython's asyncio instead of pyasync")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--hang-limit", type=float, default=2.0)
    parser.add_argument("--quiet", action="store_true",
                        help="no cell headers (for comparisons)")
    parser.add_argument("--virtual-clock", action="store_true",
                        help="pyasync: run on a VirtualClock (sleeps take "
                             "no real time)")
    parser.add_argument("--diagnose-deadlocks", action="store_true",
                        help="pyasync: debug mode, and the deadlock cells "
                             "without a time limit (DeadlockError ends them)")
    args = parser.parse_args(argv)
    if (args.virtual_clock or args.diagnose_deadlocks) and args.stdlib:
        parser.error("--virtual-clock and --diagnose-deadlocks are pyasync's")
    if args.list:
        print("\n".join(f.__name__ for f in CELLS))
        return
    wanted = set(args.only)
    if "task_names" in wanted:
        wanted.add("task_methods")  # the cell it builds on
    chosen = [f for f in CELLS if not wanted or f.__name__ in wanted]
    unknown = set(args.only) - {f.__name__ for f in CELLS}
    if unknown:
        parser.error(f"unknown cells: {', '.join(sorted(unknown))}")
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    started = time.monotonic()
    options = {}
    if args.virtual_clock:
        options["clock"] = asyncio.VirtualClock()
    if args.diagnose_deadlocks:
        options["debug"] = True
        # Asked for: also report a task that ends holding a lock.
        asyncio.report_finished_lock_holders(True)   # (pyasync)
    hang_limit = None if args.diagnose_deadlocks else args.hang_limit
    with asyncio.Runner(**options) as runner:
        loop = runner.get_loop()
        if not args.quiet:
            print(f"loop: {type(loop).__module__}.{type(loop).__qualname__}")
        for func in chosen:
            if not args.quiet:
                print(f"\n--- {func.__name__} ---", flush=True)
            runner.run(run_cell(func, hang_limit))
            sys.stdout.flush()
    if not args.quiet:
        print(f"\n{len(chosen)} cells in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
