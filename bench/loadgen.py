"""Load generator for the network cases: builds and runs bench/loadgen.c,
or its pure-Python twin below when there is no C compiler.

    python -m bench.loadgen HOST PORT CONNS OPS echo SIZE
    python -m bench.loadgen HOST PORT CONNS OPS http PATH

CONNS connections each send one request, wait for the whole reply and
repeat until OPS round trips are done in all; prints the seconds from the
first request to the last reply.  The Python twin is much slower than the
C one (it may become the bottleneck): install a C compiler for numbers
worth comparing.
"""
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "loadgen.c")
CACHE = os.path.join(HERE, "out")


def binary():
    """Path of the compiled C load generator (built on first use), or None."""
    target = os.path.join(CACHE, "loadgen")
    if (os.path.exists(target)
            and os.path.getmtime(target) >= os.path.getmtime(SOURCE)):
        return target
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    os.makedirs(CACHE, exist_ok=True)
    tmp = f"{target}.{os.getpid()}"
    built = subprocess.run([cc, "-O2", "-o", tmp, SOURCE], capture_output=True)
    if built.returncode != 0:
        return None
    os.replace(tmp, target)   # atomic: parallel workers never see half a file
    return target


def command(host, port, conns, ops, mode, arg):
    """argv that runs the load generator, C if possible."""
    args = [host, str(port), str(conns), str(ops), mode, str(arg)]
    # BENCH_LOADGEN=python forces the Python twin (to test it).
    exe = None if os.environ.get("BENCH_LOADGEN") == "python" else binary()
    if exe:
        return [exe] + args
    return [sys.executable, "-m", "bench.loadgen"] + args


def _reply_len(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    for line in bytes(buf[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return end + 4 + int(value)
    raise SystemExit("reply without Content-Length")


def main(argv):
    host, port, conns, ops, mode, arg = argv
    port, conns, ops = int(port), int(conns), int(ops)
    if mode == "echo":
        request = b"x" * int(arg)
    else:
        request = (f"GET {arg} HTTP/1.1\r\nHost: {host}\r\n"
                   "Connection: keep-alive\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    state = {}
    for _ in range(conns):
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        state[s] = [memoryview(request), bytearray(), 0]
    to_start, done = ops, 0
    t0 = time.perf_counter()
    for s, st in list(state.items())[:ops]:
        to_start -= 1
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while done < ops:
        for key, events in sel.select(10):
            s = key.fileobj
            st = state[s]
            if events & selectors.EVENT_WRITE and st[0]:
                st[0] = st[0][s.send(st[0]):]
                if not st[0]:
                    sel.modify(s, selectors.EVENT_READ)
            if not events & selectors.EVENT_READ:
                continue
            data = s.recv(262144)
            if not data:
                raise SystemExit("server closed the connection")
            st[1] += data
            want = len(request) if mode == "echo" else _reply_len(st[1])
            if not want or len(st[1]) < want:
                continue
            done += 1
            if to_start:
                to_start -= 1
                state[s] = [memoryview(request), bytearray(), 0]
                sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
            else:
                sel.unregister(s)
                s.close()
    print(f"{time.perf_counter() - t0:.9f}")


if __name__ == "__main__":
    main(sys.argv[1:])
