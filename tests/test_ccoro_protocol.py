"""The C coroutines (ccoro.c) behind Lock.acquire(), Queue.put(), wait_for()
... speak the coroutine protocol as asyncio's `async def`s do: the same
errors from send/throw/close, the same cleanup when thrown into while
waiting, StopIteration turned into RuntimeError."""
import asyncio
import gc
import warnings

import pyasync


async def protocol_scenario(aio, log):
    lock = aio.Lock()
    c = lock.acquire()
    log("qual", c.__qualname__, c.__name__)
    for name, args in (("send1", None), ("throw0", ()),
                       ("throw4", (1, 2, 3, 4)),
                       ("throw-unstarted", (ValueError("x"),))):
        try:
            c.send(1) if args is None else c.throw(*args)
        except Exception as e:
            log(name, type(e).__name__, str(e))
    try:
        c.send(None)
    except BaseException as e:
        log("send-after", type(e).__name__, str(e))
    c.close()

    await lock.acquire()
    c2 = lock.acquire()
    c2.send(None)
    try:
        c2.throw(KeyError("k"))
    except KeyError as e:
        log("throw-waiting", repr(e), len(lock._waiters))
    try:
        c2.throw(KeyError("k2"))
    except BaseException as e:
        log("throw-finished", type(e).__name__, str(e))
    c3 = lock.acquire()
    c3.send(None)
    c3.close()
    log("closed", len(lock._waiters))
    lock.release()

    q = aio.Queue(1)
    await q.put(1)
    g = q.put(2)
    g.send(None)
    try:
        g.throw(GeneratorExit)
    except BaseException as e:
        log("put-genexit", type(e).__name__, len(q._putters))

    async def raise_stop():
        await lock.acquire()
        raise StopIteration
    try:
        await aio.wait_for(raise_stop(), 1)
    except BaseException as e:
        log("stop", type(e).__name__, str(e))
    log("wait_for", await aio.wait_for(aio.sleep(0, 3), 1))


def run(aio):
    out = []
    aio.run(protocol_scenario(aio, lambda *a: out.append(a)))
    return out


def test_protocol_matches_asyncio():
    assert run(pyasync) == run(asyncio)


def test_never_awaited_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = pyasync.Lock().acquire()
        del c
        gc.collect()
    assert [str(w.message) for w in caught] == [
        "coroutine 'Lock.acquire' was never awaited"]
