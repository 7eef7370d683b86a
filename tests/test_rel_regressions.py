"""Regression tests for bugs found by the reliability work (fuzzing, the
bad-input table), one test per fix."""
import asyncio

import pytest

import pyasync


@pytest.mark.parametrize("lock", [1, "x", object(), pyasync.Event()])
def test_condition_rejects_a_lock_without_lock_methods(lock):
    """asyncio.Condition(lock) reads lock.locked/.acquire/.release at once;
    pyasync accepted anything and failed only at first use."""
    with pytest.raises(AttributeError) as expected:
        asyncio.Condition(lock)
    with pytest.raises(AttributeError) as got:
        pyasync.Condition(lock)
    assert str(got.value) == str(expected.value)


def test_condition_accepts_any_lock_like_object():
    class LockLike:
        def locked(self):
            return False

        async def acquire(self):
            return True

        def release(self):
            pass
    assert pyasync.Condition(LockLike()).locked() is False
