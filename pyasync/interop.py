"""Third-party libraries that check for asyncio's own future types.

pyasync's Future and Task are not subclasses of asyncio.Future (see
docs/is_future.md); libraries that test `isinstance(x, asyncio.Future)`
through a hook of their own are taught pyasync's types here.
"""


def allow_tornado():
    """Make tornado's is_future() accept pyasync's Future and Task.

    tornado.concurrent.is_future reads the module global FUTURES at each
    call (gen.convert_yielded, gen.multi, IOLoop.add_future and
    IOLoop._run_callback all go through it), so extending the tuple is
    enough.  Tornado's other `isinstance(x, asyncio.Future)` tests pick a
    thread-safe fallback path (IOLoop.add_future) for other futures, which
    is correct for pyasync's too.  Returns True if tornado is importable.
    """
    try:
        import tornado.concurrent as tc
    except ImportError:
        return False
    from .tasks import Future, Task
    extra = tuple(t for t in (Future, Task) if t not in tc.FUTURES)
    if extra:
        tc.FUTURES = tc.FUTURES + extra
    return True
