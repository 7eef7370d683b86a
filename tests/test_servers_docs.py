"""The recipes of docs/servers.md, run as written: hypercorn (programmatic
and its command line under pyasync.install()), aiohttp's
`web.run_app(app, loop=pyasync.new_event_loop())`, and the bench case
uvicorn_hello at a small size.  (uvicorn's `--loop pyasync:new_event_loop`
is tested in tests/test_uvicorn_real.py.)  Each server reports the loop
and task types it runs on, and the recipe must give pyasync's."""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import pyasync
from sigwait import send_when_polling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ASGI_APP = textwrap.dedent('''
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        loop = asyncio.get_running_loop()
        body = ("%s.%s" % (type(loop).__module__,
                           type(loop).__qualname__)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
''')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path="/", deadline=20):
    """GET with a plain socket, retrying while the server starts."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close"
                          b"\r\n\r\n" % path.encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            return head.split(b"\r\n")[0].decode(), body.decode()
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_hypercorn_serve():
    """pyasync.run(serve(app, config)) and asyncio.Runner(loop_factory=
    pyasync.new_event_loop) serving, driven by httpx on the same loop."""
    pytest.importorskip("hypercorn")
    httpx = pytest.importorskip("httpx")
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    ns = {}
    exec(ASGI_APP, ns)

    def scenario():
        port = free_port()
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.loglevel = "WARNING"
        stop = asyncio.Event()

        async def main():
            server = asyncio.ensure_future(
                serve(ns["app"], config, shutdown_trigger=stop.wait))
            try:
                async with httpx.AsyncClient() as client:
                    for _ in range(200):
                        try:
                            r = await client.get(f"http://127.0.0.1:{port}/")
                            break
                        except httpx.ConnectError:
                            await asyncio.sleep(0.02)
                    return r.status_code, r.text
            finally:
                stop.set()
                await server
        return main

    assert pyasync.run(scenario()()) == (200, "pyasync.loop.EventLoop")
    with asyncio.Runner(loop_factory=pyasync.new_event_loop) as runner:
        assert runner.run(scenario()()) == (200, "pyasync.loop.EventLoop")


def run_server(argv, port, tmp_path):
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        reply = get(port)
        send_when_polling(proc, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return reply, out, proc.returncode


def test_hypercorn_cli_installed_policy(tmp_path):
    pytest.importorskip("hypercorn")
    (tmp_path / "app.py").write_text(ASGI_APP)
    port = free_port()
    launcher = ("import sys, pyasync; pyasync.install(); "
                "from hypercorn.__main__ import main; sys.exit(main())")
    reply, out, rc = run_server(
        [sys.executable, "-c", launcher, "--workers", "0",
         "--bind", f"127.0.0.1:{port}", "app:app"], port, tmp_path)
    assert reply == ("HTTP/1.1 200 ", "pyasync.loop.EventLoop"), out
    assert rc == 0, out


AIOHTTP_APP = textwrap.dedent('''
    import asyncio, socket, sys
    import pyasync
    from aiohttp import web

    async def hello(request):
        loop = asyncio.get_running_loop()
        return web.Response(text="%s.%s %s" % (
            type(loop).__module__, type(loop).__qualname__,
            type(asyncio.current_task()).__module__))

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]),
                loop=pyasync.new_event_loop(), print=None)
    print("run_app returned")
''')


def test_aiohttp_run_app_loop(tmp_path):
    pytest.importorskip("aiohttp")
    (tmp_path / "server.py").write_text(AIOHTTP_APP)
    port = free_port()
    reply, out, rc = run_server([sys.executable, "server.py", str(port)],
                                port, tmp_path)
    # On 3.12+ aiohttp makes its handler tasks itself with
    # asyncio.Task(coro, loop=loop, eager_start=True): stdlib Tasks on
    # pyasync's loop, by aiohttp's choice.
    task_module = "pyasync._core" if sys.version_info < (3, 12) else "_asyncio"
    assert reply == ("HTTP/1.1 200 OK",
                     "pyasync.loop.EventLoop " + task_module), out
    assert rc == 0 and "run_app returned" in out, out


def test_bench_uvicorn_hello_small():
    pytest.importorskip("uvicorn")
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", "pyasync", "uvicorn_hello",
         "300"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) > 0
