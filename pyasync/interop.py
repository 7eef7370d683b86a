"""Third-party libraries that check for asyncio's own future types.

pyasync's Future and Task are subclasses of asyncio's C Future, so
`isinstance(x, asyncio.Future)` holds and libraries such as tornado and
anyio need no patching (docs/is_future.md).  allow_tornado() remains for
programs written against earlier pyasync versions.
"""


def allow_tornado():
    """Nothing left to do: tornado's is_future() accepts pyasync's futures
    as asyncio futures.  Returns True if tornado is importable (as it
    always did); tornado.concurrent.FUTURES is left as tornado made it."""
    try:
        import tornado.concurrent  # noqa: F401
    except ImportError:
        return False
    return True
