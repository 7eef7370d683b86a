"""Real uvicorn (unmodified) serving an ASGI app on pyasync's loop, compared
with the same run on asyncio's.

uvicorn takes the loop as a factory: `Config(app, loop=...)` holds
"asyncio", "uvloop", "auto" or an import string of a callable that returns
a new loop, such as "pyasync:new_event_loop" (the CLI's `--loop` takes the
same), and `Server.run()` hands it to `asyncio.Runner(loop_factory=...)`.
Each scenario runs the server with `Server.run()` in a thread with
`loop="asyncio"` or `loop="pyasync:new_event_loop"`, and its clients in
the main thread on a loop of the same kind (httpx's AsyncClient, raw
asyncio streams).  What the app saw (its ASGI events) and what the clients
saw (statuses, bodies, the headers that do not hold a date) must be equal;
on the pyasync side the app also checks that it really runs on pyasync's
loop.  The last test runs the documented CLI form in a subprocess."""
import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pyasync
from sigwait import send_when_polling

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

LOOPS = {"asyncio": ("asyncio", asyncio.new_event_loop),
         "pyasync": ("pyasync:new_event_loop", pyasync.new_event_loop)}


# ---- the app -------------------------------------------------------------

def make_app(rec):
    """An ASGI app that appends what it observes to rec (a list of tuples;
    concurrent requests append in any order, so compare sorted)."""

    async def read_body(receive):
        body = b""
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return body, msg["type"]
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                return body, None

    async def respond(send, status, body, ctype=b"text/plain"):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype),
                                (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send):
        loop = asyncio.get_running_loop()
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                rec.append(("lifespan", msg["type"]))
                if msg["type"] == "lifespan.startup":
                    rec.append(("loop", type(loop).__module__.split(".")[0]))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/scope":
            body, _ = await read_body(receive)
            info = {k: scope[k] for k in ("method", "path", "http_version",
                                          "scheme", "root_path")}
            info["query"] = scope["query_string"].decode()
            info["client_host"] = scope["client"][0]
            info["headers"] = sorted(
                [k.decode(), v.decode()] for k, v in scope["headers"]
                if k != b"host")     # the host header holds the port
            info["body"] = body.decode()
            await respond(send, 200, json.dumps(info).encode(),
                          b"application/json")
        elif path == "/echo":
            body, _ = await read_body(receive)
            rec.append(("echo", len(body), hashlib.sha1(body).hexdigest()))
            await respond(send, 200, body[::-1])
        elif path == "/stream":
            n = int(scope["query_string"].decode().partition("=")[2])
            await read_body(receive)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            for i in range(n):
                await send({"type": "http.response.body",
                            "body": b"chunk %d\n" % i, "more_body": True})
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b""})
            rec.append(("stream", n))
        elif path == "/boom":
            await read_body(receive)
            rec.append(("boom",))
            raise RuntimeError("boom")
        elif path == "/hang-up":
            # The client sends a part of a body it declared longer, waits
            # for the response head, then hangs up: the app must see
            # http.disconnect on its next receive().
            got = 0
            while got < 1000:
                msg = await receive()
                got += len(msg.get("body", b""))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"head",
                        "more_body": True})
            msg = await receive()
            try:
                await send({"type": "http.response.body", "body": b"late",
                            "more_body": True})
                late = "sent"
            except Exception as exc:   # uvicorn's h11 drops it silently
                late = type(exc).__name__
            rec.append(("hang-up", got, msg["type"], late))
        elif path == "/poll":
            # A long poll: reads the whole request, starts a streamed
            # response, then waits for the client to go away.
            body, _ = await read_body(receive)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"waiting\n",
                        "more_body": True})
            msg = await receive()
            rec.append(("poll", body.decode(), msg["type"]))
        elif path == "/hello":
            await read_body(receive)
            await respond(send, 200, b"Hello, World!")
        else:
            await read_body(receive)
            await respond(send, 404, b"not found")
    return app


# ---- running a scenario ---------------------------------------------------

def serve_and_run(impl, clients, **config):
    """Serve make_app() with uvicorn on a `impl` loop in a thread; run
    `await clients(port)` on a loop of the same kind in this thread.
    Returns (sorted app record, clients' result)."""
    loop_name, factory = LOOPS[impl]
    rec = []
    cfg = uvicorn.Config(make_app(rec), host="127.0.0.1", port=0,
                         loop=loop_name, lifespan="on", log_level="critical",
                         http="h11", ws="none", **config)
    server = uvicorn.Server(cfg)
    failure = []

    def run_server():
        try:
            server.run()
        except BaseException as exc:   # pragma: no cover - reported below
            failure.append(exc)
    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert not failure, failure
        assert thread.is_alive() and time.monotonic() < deadline, \
            "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            if impl == "pyasync":
                assert isinstance(runner.get_loop(), pyasync.EventLoop)
            result = runner.run(asyncio.wait_for(clients(port), 60))
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive(), "uvicorn did not shut down"
    assert not failure, failure
    want = "pyasync" if impl == "pyasync" else "asyncio"
    assert ("loop", want) in rec, rec
    rec.remove(("loop", want))
    return sorted(rec, key=repr), result


def assert_same(clients, **config):
    ref = serve_and_run("asyncio", clients, **config)
    ours = serve_and_run("pyasync", clients, **config)
    assert ref[0] and ref[1], "scenario recorded nothing"
    assert ours == ref
    return ours


def public_headers(resp):
    return {k: v for k, v in resp.headers.items()
            if k in ("content-type", "content-length", "transfer-encoding")}


# ---- httpx ----------------------------------------------------------------

def test_httpx_requests():
    async def clients(port):
        out = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     timeout=30) as client:
            r = await client.get("/scope", params={"a": "1", "b": "two"},
                                 headers={"X-Test": "yes"})
            out.append((r.status_code, public_headers(r), r.json()))

            async def echo(n):
                payload = hashlib.sha256(b"%d" % n).digest() * (n * 997 % 9000)
                r = await client.post("/echo", content=payload)
                return r.status_code, r.content == payload[::-1], len(r.content)
            out.append(await asyncio.gather(*(echo(n) for n in range(40))))

            async def chunks():     # a chunked upload, 1 MiB in all
                for i in range(16):
                    yield bytes([i]) * 65536
                    await asyncio.sleep(0)
            r = await client.post("/echo", content=chunks())
            out.append(("chunked", r.status_code, len(r.content),
                        hashlib.sha1(r.content).hexdigest()))

            async with client.stream("GET", "/stream?n=50") as r:
                got = b"".join([c async for c in r.aiter_bytes()])
                out.append(("stream", r.status_code, public_headers(r),
                            got.count(b"\n"), got[-9:]))
            r = await client.get("/boom")
            out.append(("boom", r.status_code, r.text))
            r = await client.get("/nowhere")
            out.append(("404", r.status_code, r.text))
        return out
    assert_same(clients)


# ---- raw connections ------------------------------------------------------

async def raw_request(reader, writer, path, body=b"", close=False):
    writer.write(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n"
                 % (path.encode(), len(body),
                    b"Connection: close\r\n" if close else b"") + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


def test_raw_concurrent_load():
    """40 keep-alive connections at once, 15 requests each."""
    async def clients(port):
        async def conn(c):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            got = []
            for i in range(15):
                body = b"%d-%d|" % (c, i) * (i * 37 % 200)
                status, reply = await raw_request(reader, writer, "/echo", body)
                got.append((status, reply == body[::-1]))
            writer.close()
            await writer.wait_closed()
            return got
        results = await asyncio.gather(*(conn(c) for c in range(40)))
        return [all(ok for _, ok in r) and {s for s, _ in r} == {200}
                for r in results]
    rec, result = assert_same(clients)
    assert result == [True] * 40
    assert len(rec) == 2 + 40 * 15


def test_client_disconnects_mid_request():
    """Two hang-ups: one in the middle of a request body it declared
    longer, one during a long-polled streamed response.  The app must see
    http.disconnect from receive() in both, on both loops."""
    async def clients(port):
        out = []
        # Mid-body: declares 100000 bytes, sends 1000, reads the head, goes.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hang-up HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        out.append(("hang-up head", head.split(b"\r\n")[0]))
        writer.close()
        await writer.wait_closed()
        # Long poll: several at once, each hangs up after the first chunk.
        async def poll(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = b"poller %d" % i
            writer.write(b"POST /poll HTTP/1.1\r\nHost: t\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            first = await reader.readuntil(b"waiting\n")
            writer.close()
            await writer.wait_closed()
            return head.split(b"\r\n")[0], first.endswith(b"waiting\n")
        out.append(await asyncio.gather(*(poll(i) for i in range(10))))
        # The server still serves.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append(await raw_request(reader, writer, "/hello", close=True))
        writer.close()
        # Give the app the moment it needs to see the last hang-ups.
        # (uvicorn's shutdown waits for the app's tasks anyway).
        await asyncio.sleep(0.2)
        return out
    rec, _ = assert_same(clients)
    assert ("hang-up", 1000, "http.disconnect", "sent") in rec
    assert sum(1 for r in rec if r[0] == "poll"
               and r[2] == "http.disconnect") == 10


# ---- the CLI --------------------------------------------------------------

CLI_APP = textwrap.dedent('''
    import asyncio, sys

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                print("app:", msg["type"], flush=True)
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        loop = asyncio.get_running_loop()
        body = ("%s.%s %s" % (type(loop).__module__, type(loop).__qualname__,
                              type(asyncio.current_task()).__module__)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
''')


def run_cli(tmp_path, loop):
    (tmp_path / "cliapp.py").write_text(CLI_APP)
    exe = os.path.join(os.path.dirname(sys.executable), "uvicorn")
    cmd = ([exe] if os.path.exists(exe) else [sys.executable, "-m", "uvicorn"])
    proc = subprocess.Popen(
        cmd + ["cliapp:app", "--loop", loop, "--host", "127.0.0.1",
               "--port", "0", "--app-dir", str(tmp_path), "--http", "h11"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Uvicorn running on" in line:
                port = int(line.split("http://127.0.0.1:")[1].split()[0])
        assert port, "".join(lines)
        reply = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
        send_when_polling(proc, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += rest.splitlines(keepends=True)
    out = [l.split(":", 1)[1].strip() if l.startswith("INFO:") else l.strip()
           for l in lines]
    # The ports and the pid change from run to run.
    out = [re.sub(r"127\.0\.0\.1:\d+", "<addr>", l.split(" [")[0]
                  if "process [" in l else l) for l in out]
    return reply, out, proc.returncode


def test_cli_loop_import_string(tmp_path):
    """`uvicorn app:app --loop pyasync:new_event_loop`, stopped with Ctrl-C,
    against the same with `--loop asyncio`."""
    ref_reply, ref_out, ref_rc = run_cli(tmp_path, "asyncio")
    reply, out, rc = run_cli(tmp_path, "pyasync:new_event_loop")
    assert ref_reply == "asyncio.unix_events._UnixSelectorEventLoop _asyncio"
    assert reply == "pyasync.loop.EventLoop pyasync._core", reply
    assert (out, rc) == (ref_out, ref_rc)
    assert "app: lifespan.shutdown" in out
