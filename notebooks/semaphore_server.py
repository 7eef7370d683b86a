"""A local aiohttp server for the notebook's Semaphore cell (no internet).

It counts requests in flight, so a test can check that the client's
Semaphore(10) never lets more than 10 through at once.  Each request takes
a little while so that requests overlap.
"""
from aiohttp import web


class LocalServer:
    def __init__(self, delay=0.01):
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.served = 0
        self.url = None
        self._runner = None

    async def _handle(self, request):
        import asyncio
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            self.served += 1
            return web.Response(text="example")
        finally:
            self.in_flight -= 1

    async def __aenter__(self):
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc):
        await self._runner.cleanup()
