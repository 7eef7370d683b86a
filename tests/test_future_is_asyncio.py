"""pyasync's Future and Task are asyncio.Future instances (docs/is_future.md).

They are subclasses of asyncio's C Future (_asyncio.Future) whose own
fields stay unused: libraries testing `isinstance(x, asyncio.Future)` take
them, and the base's methods, called on them directly, see a future that
was never initialized (asyncio's own error) instead of crashing."""
import asyncio
import gc
import weakref

import pytest

import pyasync

C_FUTURE = asyncio.futures._CFuture   # _asyncio.Future


async def _ret(x):
    return x


def test_every_pyasync_future_kind_is_an_asyncio_future():
    loop = pyasync.new_event_loop()
    try:
        async def main():
            fut = loop.create_future()
            task = asyncio.ensure_future(_ret(1))
            gathered = pyasync.gather(_ret(2))
            shielded = pyasync.shield(fut)

            class Sub(pyasync.Future):
                pass

            kinds = [fut, task, gathered, shielded, Sub(loop=loop),
                     pyasync.Future(loop=loop), pyasync.Task(_ret(3))]
            got = [isinstance(k, asyncio.Future) for k in kinds]
            fut.set_result(None)
            await asyncio.gather(*kinds[1:4], kinds[6])
            return got
        assert loop.run_until_complete(main()) == [True] * 7
        assert issubclass(pyasync.Task, asyncio.Future)
        assert pyasync.Future.__mro__[1] is C_FUTURE
    finally:
        loop.close()


def test_asyncio_helpers_that_check_the_type_accept_pyasync_futures():
    # _chain_future (wrap_future, run_coroutine_threadsafe) and
    # _copy_future_state test isinstance(x, asyncio.Future)
    # (A concurrent.futures source, what wrap_future() chains: 3.15's
    # _copy_future_state reads it with _get_snapshot(), which asyncio's
    # own futures lack too.)
    import concurrent.futures
    loop = pyasync.new_event_loop()
    try:
        async def main():
            src = concurrent.futures.Future()
            dst = loop.create_future()
            asyncio.futures._chain_future(src, dst)
            src.set_result("chained")
            return await asyncio.wait_for(dst, 10)
        assert loop.run_until_complete(main()) == "chained"
    finally:
        loop.close()


def _base_members():
    for name, member in sorted(vars(C_FUTURE).items()):
        if name in ("__new__", "__init__", "__init_subclass__",
                    "__class_getitem__", "__doc__", "__module__"):
            continue
        yield name, member


@pytest.mark.parametrize("kind", ["future", "task"])
def test_base_methods_called_directly_see_an_uninitialized_future(kind):
    """_asyncio.Future.done(f) and friends read only the base's (zeroed)
    fields: asyncio's answers for a future whose __init__ never ran."""
    loop = pyasync.new_event_loop()
    try:
        fut = (loop.create_future() if kind == "future"
               else loop.create_task(_ret(1)))
        outcomes = {}
        for name, member in _base_members():
            try:
                if hasattr(member, "__get__") and not callable(member):
                    outcomes[name] = repr(member.__get__(fut, type(fut)))
                else:
                    outcomes[name] = repr(member(fut))
            except Exception as exc:   # noqa: BLE001: recording the type
                outcomes[name] = type(exc).__name__
        # what asyncio's Future says about itself when uninitialized
        blank = C_FUTURE.__new__(C_FUTURE)
        expected = {}
        for name, member in _base_members():
            try:
                if hasattr(member, "__get__") and not callable(member):
                    expected[name] = repr(member.__get__(blank, C_FUTURE))
                else:
                    expected[name] = repr(member(blank))
            except Exception as exc:   # noqa: BLE001
                expected[name] = type(exc).__name__
        assert outcomes == expected
        assert outcomes["done"] == "False"
        assert outcomes["get_loop"] == "RuntimeError"  # not initialized
        # pyasync's own methods are untouched by all that
        assert fut.done() is False and fut.get_loop() is loop
        if kind == "task":
            loop.run_until_complete(fut)
            assert fut.result() == 1
    finally:
        loop.close()


def test_base_init_run_on_a_pyasync_future_leaks_nothing():
    """Someone runs _asyncio.Future.__init__ and its methods on a pyasync
    future: the base's fields then hold objects, which pyasync's clear and
    traverse cover (no leak, no crash, cycles through them collected)."""
    loop = pyasync.new_event_loop()
    try:
        class Token:
            pass

        fut = loop.create_future()
        C_FUTURE.__init__(fut, loop=loop)
        token = Token()
        token.fut = fut            # a cycle through the base's callbacks
        C_FUTURE.add_done_callback(fut, lambda f, t=token: None)
        C_FUTURE.set_result(fut, token)
        assert C_FUTURE.result(fut) is token
        assert fut.done() is False  # pyasync's own state is separate
        fut.set_result("mine")
        assert fut.result() == "mine"
        loop.run_until_complete(asyncio.sleep(0))
        alive = weakref.ref(token)
        del token, fut
        gc.collect()
        assert alive() is None
    finally:
        loop.close()


@pytest.mark.parametrize("kind", ["future", "task", "subclass"])
def test_dict_weakrefs_and_cycles_through_the_dict(kind):
    loop = pyasync.new_event_loop()
    try:
        class Sub(pyasync.Future):
            pass

        if kind == "future":
            obj = loop.create_future()
        elif kind == "task":
            obj = loop.create_task(_ret(1))
            loop.run_until_complete(obj)
        else:
            obj = Sub(loop=loop)
        obj.attr = obj                   # a cycle through __dict__
        assert obj.__dict__ == {"attr": obj}
        ref = weakref.ref(obj)
        finalized = []
        weakref.finalize(obj, finalized.append, True)
        del obj
        gc.collect()
        assert ref() is None and finalized == [True]
    finally:
        loop.close()


def test_anyio_style_waiter_check_holds_for_a_woken_task():
    """anyio decides whether to cancel a task with
    isinstance(task._fut_waiter, asyncio.Future) and task._fut_waiter.done():
    the same answers on both loops for a task whose Event was just set."""
    def scenario(aio, loop):
        async def main():
            ev = aio.Event()
            waiter = aio.ensure_future(ev.wait())
            await aio.sleep(0)
            fw = waiter._fut_waiter
            before = (isinstance(fw, asyncio.Future), fw.done())
            ev.set()
            fw = waiter._fut_waiter
            after = (isinstance(fw, asyncio.Future), fw.done())
            await waiter
            return before, after, waiter._fut_waiter
        return loop.run_until_complete(main())

    results = []
    for aio, make in ((asyncio, asyncio.new_event_loop),
                      (pyasync, pyasync.new_event_loop)):
        loop = make()
        try:
            results.append(scenario(aio, loop))
        finally:
            loop.close()
    assert results[0] == results[1] == ((True, False), (True, True), None)
