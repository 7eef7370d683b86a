"""asyncio's first-iteration hook for async generators on pyasync's loop
(in C, csrc/core/asyncgens.c): the same registry, warning and finalisation as
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


def test_generator_dying_while_the_registry_is_iterated():
    """Generators that die while the WeakSet is iterated leave it after
    the iteration (3.11-3.13 hold the removals back), as on asyncio."""
    async def agen():
        yield 1

    def scenario(aio, trace):
        loop = aio.new_event_loop()

        async def main():
            gens = [agen() for _ in range(5)]
            for g in gens:
                await g.__anext__()
            del g
            seen = 0
            for current in loop._asyncgens:
                if gens:
                    # All but `current` die: the iteration skips them.
                    for g in gens:
                        await g.aclose()
                    del gens[:], g
                    gc.collect()
                    trace("during", len(loop._asyncgens))
                seen += 1
            trace("after the iteration", seen, len(loop._asyncgens))
            del current
            gc.collect()
            trace("all dead", len(loop._asyncgens))

        loop.run_until_complete(main())
        loop.close()
    assert_same(scenario, via_run=False)


def test_a_new_registry_set_while_running():
    async def agen():
        yield 1

    def scenario(aio, trace):
        loop = aio.new_event_loop()

        async def main():
            first = loop._asyncgens
            g = agen()
            await g.__anext__()
            loop._asyncgens = weakref.WeakSet()
            h = agen()
            await h.__anext__()
            trace("in the first", g in first, h in first)
            trace("in the second", g in loop._asyncgens, h in loop._asyncgens)
            await g.aclose()
            await h.aclose()
            del g, h
            gc.collect()
            trace("emptied", len(first), len(loop._asyncgens))

        loop.run_until_complete(main())
        loop.close()
    assert_same(scenario, via_run=False)
