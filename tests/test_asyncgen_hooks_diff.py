"""asyncio's first-iteration hook for async generators on pyasync's loop
(in C, csrc/asyncgens.c): the same registry, warning and finalisation as
on asyncio's loop, and asyncio's own hook when it or WeakSet.add is
patched."""
import asyncio
import gc
import sys
import warnings
import weakref
from unittest import mock

import pyasync
from difftrace import assert_same


def test_generators_are_registered_and_shut_down():
    async def agen(closed, name):
        try:
            yield 1
            yield 2
        finally:
            closed.append(name)

    def scenario(aio, trace):
        loop = aio.new_event_loop()
        kept = []
        closed = []

        async def main():
            for name in ("a", "b", "c"):
                g = agen(closed, name)
                kept.append(g)
                trace("first", await g.__anext__())
                trace("registered", g in loop._asyncgens,
                      len(loop._asyncgens))
            async for x in agen(closed, "finished"):
                trace("item", x)
            trace("after a finished one", list(closed), len(loop._asyncgens))

        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
        # (shutdown_asyncgens closes them in the WeakSet's order, which
        # follows addresses on either loop.)
        trace("closed by shutdown", sorted(closed), len(loop._asyncgens))
        loop.close()
    assert_same(scenario, via_run=False)


def test_dead_generators_leave_the_registry():
    async def agen():
        yield 1

    def scenario(aio, trace):
        loop = aio.new_event_loop()

        async def main():
            for _ in range(50):
                g = agen()
                await g.__anext__()
                await g.aclose()
                del g
            gc.collect()
            trace("registered", len(loop._asyncgens))

        loop.run_until_complete(main())
        loop.close()
    assert_same(scenario, via_run=False)


def test_generator_started_after_shutdown_warns():
    async def agen():
        yield 1

    def scenario(aio, trace):
        loop = aio.new_event_loop()
        loop.run_until_complete(loop.shutdown_asyncgens())

        async def main():
            g = agen()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await g.__anext__()
            trace("warnings", [(w.category.__name__,
                                "was scheduled after" in str(w.message))
                               for w in caught])
            trace("still registered", g in loop._asyncgens)
            await g.aclose()

        loop.run_until_complete(main())
        loop.close()
    assert_same(scenario, via_run=False)


def test_a_patched_asyncio_hook_is_called():
    seen = []
    original = asyncio.base_events.BaseEventLoop._asyncgen_firstiter_hook

    def spy(self, agen):
        seen.append(type(self).__module__.split(".")[0])
        return original(self, agen)

    async def agen():
        yield 1

    async def main():
        g = agen()
        await g.__anext__()
        await g.aclose()

    with mock.patch.object(asyncio.base_events.BaseEventLoop,
                           "_asyncgen_firstiter_hook", spy):
        pyasync.run(main())
        asyncio.run(main())
    assert seen == ["pyasync", "asyncio"]


def test_another_registry_gets_asyncio_hook():
    """A loop whose _asyncgens is not a WeakSet (a subclass swapped it)
    gets asyncio's hook, which calls its add()."""
    added = []

    class Registry(weakref.WeakSet):
        def add(self, item):
            added.append(item)
            super().add(item)

    async def agen():
        yield 1

    async def main():
        asyncio.get_running_loop()._asyncgens = registry
        g = agen()
        await g.__anext__()
        await g.aclose()
        return g

    registry = Registry()
    g = pyasync.run(main())
    assert added == [g]


def test_the_c_hook_is_installed_only_while_running():
    loop = pyasync.new_event_loop()
    hooks = []

    async def main():
        hooks.append(sys.get_asyncgen_hooks().firstiter)

    before = sys.get_asyncgen_hooks()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert hooks[0] == loop._asyncgen_firstiter_fast
    assert sys.get_asyncgen_hooks() == before
