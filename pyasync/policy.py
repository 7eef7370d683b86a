"""Placeholder until the C loop lands (branch `loop`)."""
import asyncio

from .loop import EventLoop


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = EventLoop


def install():
    asyncio.set_event_loop_policy(EventLoopPolicy())
