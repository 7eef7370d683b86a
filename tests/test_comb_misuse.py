"""The C combinators under misuse: bad arguments and the coroutine protocol
driven by hand.  Each must raise the error Python would, never crash."""
import asyncio
import gc

import pytest

import pyasync


async def value(x=1):
    return x


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("call, exc", [
    (lambda: pyasync.gather(1), TypeError),
    (lambda: pyasync.gather(foo=1), TypeError),
    (lambda: pyasync.gather([]), TypeError),          # unhashable and no future
    (lambda: pyasync.shield(1), TypeError),
    (lambda: pyasync.shield(), TypeError),
    (lambda: pyasync.wait(), TypeError),
    (lambda: pyasync.wait_for(1), TypeError),
    (lambda: pyasync.as_completed(), TypeError),
    (lambda: pyasync.wrap_future(None), AssertionError),
    (lambda: pyasync.wrap_future(None, loop=None), AssertionError),
    (lambda: pyasync.run_coroutine_threadsafe(1, 2), TypeError),
    (lambda: pyasync.run_coroutine_threadsafe(1, 2, 3), TypeError),
    (lambda: pyasync.to_thread(), TypeError),
])
def test_bad_arguments_outside_a_loop(call, exc):
    with pytest.raises(exc):
        call()


@pytest.mark.parametrize("make, exc", [
    (lambda loop: pyasync.wait(None), ValueError),
    (lambda loop: pyasync.wait(1), TypeError),
    (lambda loop: pyasync.wait([1]), AttributeError),
    (lambda loop: pyasync.wait([loop.create_future()], timeout="x"), TypeError),
    (lambda loop: pyasync.wait_for(1, 1), TypeError),
    (lambda loop: pyasync.wait_for(1, None), TypeError),
    (lambda loop: pyasync.wait_for(loop.create_future(), "x"), TypeError),
    (lambda loop: pyasync.to_thread(1), TypeError),
    # as_completed asks for the current loop first, so inside a loop
    (lambda loop: next(pyasync.as_completed(None)), TypeError),
    (lambda loop: next(pyasync.as_completed(1)), TypeError),
    (lambda loop: next(pyasync.as_completed([1])), TypeError),
])
def test_bad_arguments_when_awaited(make, exc):
    async def main():
        with pytest.raises(exc):
            await make(asyncio.get_running_loop())
    run(main())


def test_coroutine_protocol_by_hand():
    async def main():
        loop = asyncio.get_running_loop()
        w = pyasync.wait_for(loop.create_future(), 10)
        with pytest.raises(TypeError):
            w.send(1)                        # non-None into a fresh coroutine
        with pytest.raises(ValueError):
            w.throw(ValueError)              # before start: raised at once
        with pytest.raises(RuntimeError):
            w.send(None)                     # finished
        w = pyasync.wait_for(loop.create_future(), 10)
        assert asyncio.isfuture(w.send(None))
        # (a C coroutine's cr_await is _cr_await on 3.14+: ccoro.c)
        assert getattr(w, "cr_await", getattr(w, "_cr_await", None)) \
            is not None and not w.cr_running

        # Bad throw() arguments: what a Python coroutine suspended the
        # same way does (TypeError up to 3.14; 3.15 may first end it).
        async def reference():
            await loop.create_future()

        def outcomes(make):
            seen = []
            for args in [(1,), (ValueError, ValueError("x"), 5),
                         (ValueError("x"), 1), (1, 2, 3, 4)]:
                try:
                    make().throw(*args)
                except Exception as exc:  # noqa: BLE001: recording the type
                    seen.append(type(exc).__name__)
            return seen

        def started(coro):
            coro.send(None)
            return coro

        ref = started(reference())
        ours = w
        assert outcomes(lambda: ours) == outcomes(lambda: ref)
        ref.close()
        w.close()
        w.close()
        with pytest.raises(RuntimeError):
            w.send(None)
        w = pyasync.wait_for(value(5), None)
        with pytest.raises(StopIteration) as info:
            w.send(None)
        assert info.value.value == 5
        w = pyasync.wait([loop.create_future()])
        w.send(None)
        with pytest.raises(KeyError):
            w.throw(KeyError("k"))
        w = pyasync.wait([loop.create_future()])
        w.send(None)
        del w                                # finalizer closes it
        gc.collect()
        w = pyasync.wait_for(loop.create_future(), 1)
        assert w.__qualname__ == "wait_for"
        w.close()                            # unstarted: no warning
    run(main())


def test_gathering_future_surface():
    async def main():
        g = pyasync.gather(value(1), value(2))
        with pytest.raises(TypeError):
            g.cancel(1, 2)
        with pytest.raises(AttributeError):
            del g._cancel_requested
        with pytest.raises(TypeError):
            type(g)()
        assert len(g._children) == 2
        assert isinstance(g, asyncio.Future)
        assert await g == [1, 2]
        with pytest.raises(TypeError):
            pyasync._core.gather.__self__.gather(1)
    run(main())


def test_same_coroutine_awaited_twice():
    async def main():
        w = pyasync.wait_for(asyncio.sleep(0.01, "x"), 1)
        t = asyncio.ensure_future(w)
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await w                          # the task owns it
        assert await t == "x"
    run(main())
