"""The event loop policy that makes asyncio use pyasync loops."""
import asyncio

from .loop import EventLoop, new_event_loop

__all__ = ['EventLoopPolicy', 'install', 'new_event_loop']


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, with pyasync loops."""

    _loop_factory = EventLoop


def install():
    """Make pyasync loops asyncio's loops from now on."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
