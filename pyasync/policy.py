"""The event loop policy that makes asyncio use pyasync loops.

asyncio 3.14 deprecates its policy system (removal planned for 3.16):
there, pyasync.run() and asyncio.run(main(), loop_factory=
pyasync.new_event_loop) are the ways to run on pyasync, and install()
still works but warns, as uvloop.install() does.  pyasync's own code
reaches the policy machinery through asyncio's non-warning internal
names, so no DeprecationWarning comes from pyasync itself.
"""
import asyncio
import asyncio.events as _aevents
import sys
import warnings

from .loop import EventLoop, new_event_loop

__all__ = ['EventLoopPolicy', 'install', 'new_event_loop']

if sys.version_info >= (3, 14):
    import asyncio.unix_events as _unix_events
    _DefaultPolicy = _unix_events._DefaultEventLoopPolicy
    _set_policy = _aevents._set_event_loop_policy
    _get_policy = _aevents._get_event_loop_policy
else:
    _DefaultPolicy = asyncio.DefaultEventLoopPolicy
    _set_policy = _aevents.set_event_loop_policy
    _get_policy = _aevents.get_event_loop_policy


class EventLoopPolicy(_DefaultPolicy):
    """asyncio's default policy, with pyasync loops."""

    _loop_factory = EventLoop


def install():
    """Make pyasync loops asyncio's loops from now on.

    Deprecated on Python 3.14+, with asyncio's policy system: use
    pyasync.run(main()) or asyncio.run(main(), loop_factory=
    pyasync.new_event_loop) there."""
    if sys.version_info >= (3, 14):
        warnings.warn(
            "pyasync.install() is deprecated in favor of pyasync.run() "
            "(or asyncio.run(main(), loop_factory=pyasync.new_event_loop)) "
            "starting with Python 3.14, where asyncio deprecates its event "
            "loop policies", DeprecationWarning, stacklevel=2)
    _set_policy(EventLoopPolicy())
