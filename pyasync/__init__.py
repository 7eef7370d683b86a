"""pyasync: asyncio in C on libuv."""
from . import _core
