"""Real anyio (4.x, unmodified) on pyasync's loop, compared with asyncio's.

Each scenario is an anyio `main()` returning a record of what happened; it
runs once under `anyio.run(main, backend="asyncio")` on a stdlib loop and
once with `backend_options={"loop_factory": pyasync.new_event_loop}` (anyio
hands the factory to its asyncio.Runner on every Python), and the two
records must be equal.  On the pyasync side the run also checks that the
loop and the tasks really are pyasync's.

anyio implements cancel scopes on asyncio's Task internals: it reads
`_must_cancel`, `_fut_waiter` (and tests `isinstance(_fut_waiter,
asyncio.Future)` and `done()` to decide whether a cancel would only be a
wake-up race), counts with cancelling()/uncancel() and looks at
get_coro()'s state.  tests/test_task_internals_diff.py checks those values
directly; here the library itself is the judge.

Timings: deadlines are short and the records only hold what the deadlines
decide (which scope caught, what was cancelled), never the wall clock."""
import asyncio
import socket
import sys

import anyio
import pytest
from anyio import (CancelScope, create_memory_object_stream,
                   create_task_group, fail_after, move_on_after)

import pyasync
import bothloops

if sys.version_info < (3, 11):      # pragma: no cover
    from exceptiongroup import ExceptionGroup

def run(main, impl):
    opts = {} if impl == "asyncio" else {"loop_factory": pyasync.new_event_loop}

    async def checked():
        if impl == "pyasync":
            # The scenario must really run on pyasync's loop and tasks.
            assert isinstance(asyncio.get_running_loop(), pyasync.EventLoop)
            assert type(asyncio.current_task()) is pyasync.Task
        return await main()

    return anyio.run(checked, backend="asyncio", backend_options=opts)


def assert_same(main):
    return bothloops.assert_same(main, run=lambda impl, m: run(m, impl))


def cancelling():
    return asyncio.current_task().cancelling()


# ---- task groups -------------------------------------------------------

def test_task_group_children_in_order():
    async def main():
        out = []

        async def child(n):
            for i in range(n):
                await anyio.lowlevel.checkpoint()
            out.append(("child", n))
            return n

        async with create_task_group() as tg:
            for n in (3, 1, 2, 0):
                tg.start_soon(child, n, name=f"c{n}")
        out.append(("after", cancelling()))
        return out
    assert_same(main)


def test_task_group_failure_cancels_siblings():
    async def main():
        out = []

        async def sibling(name):
            try:
                await anyio.sleep(5)
            except anyio.get_cancelled_exc_class() as exc:
                out.append((name, "cancelled", type(exc).__name__))
                raise

        async def bad():
            await anyio.lowlevel.checkpoint()
            raise ValueError("boom")

        try:
            async with create_task_group() as tg:
                tg.start_soon(sibling, "s1")
                tg.start_soon(sibling, "s2")
                tg.start_soon(bad)
                await anyio.sleep(5)
        except ExceptionGroup as eg:
            out.append(("eg", [repr(e) for e in eg.exceptions]))
        # anyio cancels the tasks of a scope in set order (by address).
        out.sort(key=repr)
        out.append(("host cancelling", cancelling()))
        return out
    assert_same(main)


def test_task_group_start_with_task_status():
    async def main():
        out = []

        async def server(task_status=anyio.TASK_STATUS_IGNORED):
            await anyio.lowlevel.checkpoint()
            task_status.started("ready")
            out.append("serving")
            await anyio.sleep(5)

        async with create_task_group() as tg:
            value = await tg.start(server)
            out.append(("started", value))
            tg.cancel_scope.cancel()
        out.append(("caught", tg.cancel_scope.cancelled_caught, cancelling()))
        return out
    assert_same(main)


def test_task_group_cancelled_from_outside_scope():
    async def main():
        out = []
        with move_on_after(0.02) as scope:
            async with create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(anyio.sleep, 5)
                await anyio.sleep(5)
        out.append((scope.cancel_called, scope.cancelled_caught, cancelling()))
        return out
    assert_same(main)


# ---- cancel scopes -----------------------------------------------------

def test_move_on_after_and_fail_after():
    async def main():
        out = []
        with move_on_after(0.01) as scope:
            await anyio.sleep(5)
            out.append("not reached")
        out.append(("moved on", scope.cancel_called, scope.cancelled_caught))
        with move_on_after(5) as scope:
            await anyio.sleep(0)
        out.append(("in time", scope.cancel_called, scope.cancelled_caught))
        try:
            with fail_after(0.01):
                await anyio.sleep(5)
        except TimeoutError as exc:
            out.append(("failed", type(exc).__name__))
        out.append(("cancelling", cancelling()))
        return out
    assert_same(main)


def test_shielded_scope_inside_cancelled_scope():
    async def main():
        out = []
        with CancelScope() as outer:
            with CancelScope(shield=True) as inner:
                outer.cancel()
                await anyio.sleep(0.01)
                out.append("shielded sleep finished")
                with move_on_after(0.01) as deadline:
                    await anyio.sleep(5)
                out.append(("inner deadline", deadline.cancelled_caught))
            out.append(("shield", inner.cancel_called, inner.cancelled_caught))
            await anyio.lowlevel.checkpoint()
            out.append("not reached")
        out.append(("outer", outer.cancel_called, outer.cancelled_caught,
                    cancelling()))
        return out
    assert_same(main)


def test_nested_scopes_outer_deadline_first():
    async def main():
        out = []
        with move_on_after(0.01) as outer:
            with move_on_after(5) as inner:
                await anyio.sleep(5)
            out.append("not reached")
        out.append(("outer", outer.cancelled_caught,
                    "inner", inner.cancel_called, inner.cancelled_caught))
        with move_on_after(5) as outer:
            with move_on_after(0.01) as inner:
                await anyio.sleep(5)
            out.append("after inner")
        out.append(("outer", outer.cancelled_caught,
                    "inner", inner.cancelled_caught, cancelling()))
        return out
    assert_same(main)


def test_swallowed_cancellation_is_delivered_again():
    async def main():
        out = []
        with move_on_after(0.01) as scope:
            for i in range(3):
                try:
                    await anyio.sleep(5)
                except anyio.get_cancelled_exc_class():
                    out.append(("swallowed", i))
        out.append((scope.cancel_called, scope.cancelled_caught, cancelling()))
        return out
    assert_same(main)


def test_cancel_scope_in_child_task_host_unaffected():
    async def main():
        out = []

        async def child():
            with move_on_after(0.01) as scope:
                await anyio.sleep(5)
            out.append(("child", scope.cancelled_caught, cancelling()))

        async with create_task_group() as tg:
            tg.start_soon(child)
            tg.start_soon(child)
        out.append(("host", cancelling()))
        return out
    assert_same(main)


@pytest.mark.parametrize("what", ["event", "stream_receive", "stream_send",
                                  "sleep", "lock", "semaphore", "condition",
                                  "capacity_limiter"])
def test_deadline_while_waiting(what):
    async def main():
        out = []
        lock = anyio.Lock()
        sem = anyio.Semaphore(1)
        cond = anyio.Condition()
        limiter = anyio.CapacityLimiter(1)
        send, recv = create_memory_object_stream(0)
        event = anyio.Event()

        async def hold(prim):
            async with prim:
                await anyio.sleep(0.05)

        async with create_task_group() as tg:
            if what in ("lock", "semaphore", "capacity_limiter"):
                prim = {"lock": lock, "semaphore": sem,
                        "capacity_limiter": limiter}[what]
                tg.start_soon(hold, prim)
                await anyio.lowlevel.checkpoint()
            with move_on_after(0.01) as scope:
                if what == "event":
                    await event.wait()
                elif what == "stream_receive":
                    await recv.receive()
                elif what == "stream_send":
                    await send.send(1)
                elif what == "sleep":
                    await anyio.sleep(5)
                elif what == "lock":
                    await lock.acquire()
                elif what == "semaphore":
                    await sem.acquire()
                elif what == "capacity_limiter":
                    await limiter.acquire()
                elif what == "condition":
                    async with cond:
                        await cond.wait()
                out.append("not reached")
            out.append((what, scope.cancelled_caught, cancelling()))
        # The primitive is still usable: nobody kept a cancelled claim.
        if what == "lock":
            async with lock:
                out.append(("lock again", lock.locked()))
        elif what == "semaphore":
            async with sem:
                out.append(("semaphore again", sem.value))
        elif what == "capacity_limiter":
            async with limiter:
                out.append(("limiter again", limiter.borrowed_tokens))
        elif what == "condition":
            async with cond:
                out.append(("condition again", cond.locked()))
        elif what == "stream_receive":
            out.append(("stream stats", recv.statistics().tasks_waiting_receive))
        elif what == "stream_send":
            out.append(("stream stats", send.statistics().tasks_waiting_send))
        return out
    assert_same(main)


def woken_waiter_scenario():
    """Event set, then the scope cancelled before the waiter ran: asyncio
    semantics with anyio's check say the waiter sees the event first and
    the cancellation only at its next checkpoint."""
    async def main():
        out = []
        event = anyio.Event()

        async def waiter():
            await event.wait()
            out.append("woke")
            await anyio.lowlevel.checkpoint()
            out.append("not reached")

        async with create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            event.set()
            tg.cancel_scope.cancel()
        out.append(("caught", tg.cancel_scope.cancelled_caught, cancelling()))
        return out
    return main


def woken_receiver_scenario():
    async def main():
        out = []
        send, recv = create_memory_object_stream(0)

        async def receiver():
            out.append(("got", await recv.receive()))
            await anyio.lowlevel.checkpoint()
            out.append("not reached")

        async with create_task_group() as tg:
            tg.start_soon(receiver)
            # (reads every task's _fut_waiter until all are blocked)
            await anyio.wait_all_tasks_blocked()
            send.send_nowait("item")
            tg.cancel_scope.cancel()
        out.append(("caught", tg.cancel_scope.cancelled_caught, cancelling()))
        return out
    return main


WOKEN = {"event": woken_waiter_scenario, "stream": woken_receiver_scenario}


@pytest.mark.parametrize("what", sorted(WOKEN))
def test_woken_waiter_keeps_its_wakeup_when_scope_cancelled(what):
    main = WOKEN[what]()
    assert run(main, "asyncio")[0] in ("woke", ("got", "item"))
    assert_same(main)


# ---- memory object streams and events ---------------------------------

@pytest.mark.parametrize("size", [0, 1, 10])
def test_memory_stream_producer_consumer(size):
    async def main():
        out = []
        send, recv = create_memory_object_stream(size)

        async def producer(name, send):
            async with send:
                for i in range(5):
                    await send.send((name, i))

        async def consumer(name, recv):
            async with recv:
                async for item in recv:
                    out.append((name, item))

        async with create_task_group() as tg:
            tg.start_soon(producer, "p1", send.clone())
            tg.start_soon(producer, "p2", send)
            tg.start_soon(consumer, "c1", recv.clone())
            tg.start_soon(consumer, "c2", recv)
        out.sort()
        out.append(("cancelling", cancelling()))
        return out
    assert_same(main)


def test_memory_stream_closed_and_end_of_stream():
    async def main():
        out = []
        send, recv = create_memory_object_stream(1)
        await send.send(1)
        await send.aclose()
        out.append(await recv.receive())
        try:
            await recv.receive()
        except anyio.EndOfStream:
            out.append("end")
        try:
            await send.send(2)
        except anyio.ClosedResourceError:
            out.append("closed")
        return out
    assert_same(main)


def test_event_wakes_all_waiters():
    async def main():
        out = []
        event = anyio.Event()

        async def waiter(n):
            await event.wait()
            out.append(("woke", n, event.is_set()))

        async with create_task_group() as tg:
            for n in range(3):
                tg.start_soon(waiter, n)
            await anyio.sleep(0.01)
            out.append(("waiting", event.statistics().tasks_waiting))
            event.set()
        out.sort()
        return out
    assert_same(main)


def test_to_thread_and_from_thread():
    async def main():
        def work(x):
            return anyio.from_thread.run(anyio.sleep, 0) is None and x * 2
        return [await anyio.to_thread.run_sync(work, 21)]
    assert_same(main)


# ---- sockets -----------------------------------------------------------

def test_tcp_echo():
    async def main():
        out = []

        async def handle(stream):
            async with stream:
                async for chunk in stream:
                    await stream.send(chunk.upper())

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            async with await anyio.connect_tcp("127.0.0.1", port) as client:
                out.append(client.extra(anyio.abc.SocketAttribute.family)
                           == socket.AF_INET)
                for msg in (b"hello", b"world"):
                    await client.send(msg)
                    out.append(await client.receive())
                await client.send_eof()
                try:
                    while True:
                        out.append(("extra", await client.receive()))
                except anyio.EndOfStream:
                    out.append("eof")
            tg.cancel_scope.cancel()
        out.append(("cancelling", cancelling()))
        return out
    assert_same(main)


def test_tcp_receive_cancelled_by_deadline():
    async def main():
        out = []
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def silent(stream):
            async with stream:
                await anyio.sleep(5)

        async with listener, create_task_group() as tg:
            tg.start_soon(listener.serve, silent)
            async with await anyio.connect_tcp("127.0.0.1", port) as client:
                with move_on_after(0.02) as scope:
                    await client.receive()
                out.append(("moved on", scope.cancelled_caught))
                await client.send(b"still usable")
                out.append("sent")
            tg.cancel_scope.cancel()
        return out
    assert_same(main)


def test_udp_deadline_and_getaddrinfo():
    async def main():
        out = []
        async with await anyio.create_udp_socket(local_host="127.0.0.1") as a, \
                await anyio.create_udp_socket(local_host="127.0.0.1") as b:
            port = b.extra(anyio.abc.SocketAttribute.local_port)
            with move_on_after(0.01) as scope:
                await b.receive()
            out.append(("udp deadline", scope.cancelled_caught))
            await a.sendto(b"dgram", "127.0.0.1", port)
            data, addr = await b.receive()
            out.append(("udp", data, addr[0]))
        res = await anyio.getaddrinfo("localhost", 80, family=socket.AF_INET,
                                      type=socket.SOCK_STREAM)
        out.append(("getaddrinfo", sorted({r[4][0] for r in res})))
        return out
    assert_same(main)


# ---- processes, threads, portals --------------------------------------

def test_processes():
    async def main():
        out = []
        result = await anyio.run_process(["echo", "hi"])
        out.append(("run_process", result.returncode, result.stdout))
        async with await anyio.open_process(["cat"]) as proc:
            await proc.stdin.send(b"abc")
            await proc.stdin.aclose()
            out.append(("cat", await proc.stdout.receive()))
            out.append(("returncode", await proc.wait()))
        with move_on_after(0.02) as scope:
            await anyio.run_process(["sleep", "5"])
        out.append(("killed on deadline", scope.cancelled_caught))
        return out
    assert_same(main)


def test_thread_abandoned_on_cancel():
    async def main():
        import time
        with move_on_after(0.01) as scope:
            await anyio.to_thread.run_sync(time.sleep, 0.05,
                                           abandon_on_cancel=True)
        return [("abandoned", scope.cancelled_caught, cancelling())]
    assert_same(main)


@pytest.mark.parametrize("impl", ["asyncio", "pyasync"])
def test_blocking_portal(impl):
    from anyio.from_thread import start_blocking_portal
    opts = ({} if impl == "asyncio"
            else {"loop_factory": pyasync.new_event_loop})

    async def add(a, b):
        await anyio.sleep(0)
        return a + b

    with start_blocking_portal(backend="asyncio",
                               backend_options=opts) as portal:
        loop_type = portal.call(lambda: type(asyncio.get_running_loop()))
        assert portal.call(add, 1, 2) == 3
        fut = portal.start_task_soon(anyio.sleep, 5)
        fut.cancel()
    assert issubclass(loop_type, pyasync.EventLoop) == (impl == "pyasync")
    assert fut.cancelled()


def test_anyio_run_after_install():
    """pyasync.install(): anyio.run without a loop factory gets pyasync's
    loop through the policy (on 3.13 too, where the policy still makes
    the loop asyncio.Runner uses)."""
    async def main():
        async with create_task_group() as tg:
            tg.start_soon(anyio.sleep, 0)
            with move_on_after(0.01) as scope:
                await anyio.Event().wait()
        return (type(asyncio.get_running_loop()), scope.cancelled_caught)

    pyasync.install()
    try:
        loop_type, caught = anyio.run(main, backend="asyncio")
    finally:
        asyncio.set_event_loop_policy(None)
    assert issubclass(loop_type, pyasync.EventLoop)
    assert caught
