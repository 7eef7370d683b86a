"""Placeholder until the C loop lands (branch `loop`)."""
import asyncio


class EventLoop(asyncio.SelectorEventLoop):
    pass
