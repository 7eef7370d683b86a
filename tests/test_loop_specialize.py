"""`loop.call_soon(...)` from Python must reach the C method the way
CPython's specializing interpreter makes fastest: the loop's class owns
descriptors of the C methods (Loop._bind_c_methods) and, on 3.12+, its
instance dict stays unmade (pyasync/loop.py).  These check that it does,
and that subclasses and overrides still behave as on asyncio."""
import asyncio
import dis
import sys

import pytest

import pyasync
from pyasync import _core
from pyasync.kernel import KernelEventLoop


def call_soon_twice(loop):
    loop.call_soon(int)


# What 200 calls of call_soon_twice() leave in its adaptive bytecode: the
# attribute load cached, the call a direct call of the C function.
SPECIALIZED = {
    (3, 11): {'LOAD_METHOD_WITH_DICT',
              'PRECALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS'},
    (3, 12): {'LOAD_ATTR_METHOD_LAZY_DICT',
              'CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS'},
    (3, 13): {'LOAD_ATTR_METHOD_LAZY_DICT',
              'CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS'},
    (3, 14): {'LOAD_ATTR_METHOD_LAZY_DICT',
              'CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS'},
    (3, 15): {'LOAD_ATTR_METHOD_LAZY_DICT',
              'CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS'},
}


@pytest.mark.skipif(sys.version_info[:2] not in SPECIALIZED,
                    reason='the specialized instruction names are known for '
                           '3.11-3.15 only')
@pytest.mark.parametrize('factory', [pyasync.new_event_loop, KernelEventLoop])
def test_call_soon_from_python_is_specialized(factory):
    loop = factory()
    try:
        for _ in range(200):
            call_soon_twice(loop)
        names = {i.opname for i in
                 dis.get_instructions(call_soon_twice, adaptive=True)}
        assert SPECIALIZED[sys.version_info[:2]] <= names
        assert loop._ready_count == 200
    finally:
        loop.close()


def test_each_loop_class_owns_its_c_method_descriptors():
    class Mine(pyasync.EventLoop):
        pass

    for cls in (pyasync.EventLoop, KernelEventLoop, Mine):
        descr = cls.__dict__['call_soon']
        assert type(descr) is type(_core.Loop.__dict__['call_soon'])
        assert descr.__objclass__ is cls
        assert descr.__name__ == 'call_soon'
        assert cls.time.__doc__ == _core.Loop.time.__doc__
    loop, other = Mine(), pyasync.new_event_loop()
    try:
        assert loop.call_soon(int).cancelled() is False
        # Unbound through the class, and refused for a foreign instance as
        # any method descriptor does.
        pyasync.EventLoop.call_soon(loop, int)
        with pytest.raises(TypeError, match="'call_soon'.*'Mine'"):
            Mine.call_soon(other, int)
    finally:
        loop.close()
        other.close()


def test_overrides_in_subclasses_are_kept_and_used():
    class Tracing(pyasync.EventLoop):
        def call_soon(self, callback, *args, context=None):
            self.seen.append(callback)
            return super().call_soon(callback, *args, context=context)

        def create_task(self, coro, **kwargs):
            self.tasks += 1
            return super().create_task(coro, **kwargs)

    class Deeper(Tracing):
        pass

    for cls in (Tracing, Deeper):
        assert 'call_soon' not in {k for k, v in cls.__dict__.items()
                                   if type(v).__name__ == 'method_descriptor'}
        loop = cls()
        loop.seen, loop.tasks = [], 0

        async def main():
            await asyncio.create_task(asyncio.sleep(0))
            asyncio.get_running_loop().call_soon(print, 'unused')

        try:
            loop.run_until_complete(main())
            assert print in loop.seen
            assert loop.tasks >= 2   # run_until_complete's and create_task's
        finally:
            loop.close()


def test_plain_subclass_keeps_the_c_fast_paths():
    # create_task/create_future of a subclass that overrides neither are
    # still the C ones (loop_type_is_plain in csrc/core/loop.c): the task made
    # by asyncio.create_task() is pyasync's.
    class Plain(pyasync.EventLoop):
        pass

    loop = Plain()

    async def main():
        task = asyncio.create_task(asyncio.sleep(0))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        await task
        return type(task), type(fut)

    try:
        assert loop.run_until_complete(main()) == (pyasync.Task,
                                                    pyasync.Future)
    finally:
        loop.close()


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='3.11 specializes loop.method only once the '
                           'instance dict exists, so the slots are 3.12+')
def test_loop_attributes_live_in_slots():
    loop = pyasync.new_event_loop()
    try:
        assert vars(loop) == {}
        loop.set_exception_handler(None)
        loop.set_debug(False)
        assert loop.get_exception_handler() is None
        assert vars(loop) == {}
        loop.my_own = 1    # still an ordinary object for its users
        assert vars(loop) == {'my_own': 1}
    finally:
        loop.close()
