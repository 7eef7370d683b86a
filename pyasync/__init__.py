"""pyasync: asyncio in C on libuv."""
from . import _core
from .loop import EventLoop
from .policy import EventLoopPolicy, install, new_event_loop
