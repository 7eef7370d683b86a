"""A Jupyter kernel whose event loop is pyasync's.

    python -m pyasync.kernel -f CONNECTION_FILE   # what Jupyter runs
    python -m pyasync.kernel install [--user | --prefix P | --sys-prefix]
                                                  # the "Python 3 (pyasync)" kernelspec
                                                  # (default: into sys.prefix, the current env)

The kernel is ipykernel with pyasync's policy installed before ipykernel
creates its loops, so the kernel's main loop (the one top-level `await` in a
cell runs on, and the one `asyncio.get_running_loop()` returns in a cell) is a
pyasync EventLoop; unmodified `import asyncio` code then runs with pyasync as
the drop-in loop, and `import pyasync as asyncio` code uses pyasync's own
objects throughout.

Tornado (under ipykernel) recognises futures with
`isinstance(x, tornado.concurrent.FUTURES)`, i.e. concurrent.futures.Future
or asyncio.Future; pyasync's Future and Task are asyncio.Future subclasses,
so it takes them as they are (docs/is_future.md).
"""
import json
import os
import shutil
import sys
import tempfile
import threading

from .loop import EventLoop

KERNEL_NAME = "pyasync"
DISPLAY_NAME = "Python 3 (pyasync)"


class KernelEventLoop(EventLoop):
    """pyasync's loop, taking fd (un)registrations from other threads.

    pyasync refuses add_reader & co. from a foreign thread while the
    loop runs (libuv handles belong to the loop's thread).  asyncio's
    selector loop accepts them, and ipykernel 7 relies on that: at
    shutdown its shell-channel thread closes the ZMQStream that the
    main loop polls (SubshellManager.close -> ZMQStream.close ->
    remove_reader); refused, the socket stays open and zmq's
    Context.term() hangs for ever.  Here such calls are passed to the
    loop's thread with call_soon_threadsafe, which is the thread-safe
    form of what asyncio does.
    """

    def _foreign(self):
        return (self.is_running() and self._thread_id is not None
                and self._thread_id != threading.get_ident())

    def add_reader(self, fd, callback, *args):
        if self._foreign():
            return self.call_soon_threadsafe(super().add_reader, fd, callback, *args)
        return super().add_reader(fd, callback, *args)

    def add_writer(self, fd, callback, *args):
        if self._foreign():
            return self.call_soon_threadsafe(super().add_writer, fd, callback, *args)
        return super().add_writer(fd, callback, *args)

    def remove_reader(self, fd):
        if self._foreign():
            self.call_soon_threadsafe(super().remove_reader, fd)
            return True
        return super().remove_reader(fd)

    def remove_writer(self, fd):
        if self._foreign():
            self.call_soon_threadsafe(super().remove_writer, fd)
            return True
        return super().remove_writer(fd)


def install_kernel_policy():
    """pyasync's policy, making KernelEventLoop loops."""
    from .policy import EventLoopPolicy, _set_policy

    class KernelPolicy(EventLoopPolicy):
        _loop_factory = KernelEventLoop

    # ipykernel asks asyncio's policy for its loop (no warning from here
    # on 3.14, where policies are deprecated).
    _set_policy(KernelPolicy())


def service_loops_on_asyncio():
    """ipykernel's service threads (control, IOPub, shell channel) get
    asyncio's SelectorEventLoop, as ipykernel itself does on Windows.

    ipykernel creates those loops in the main thread
    (ipykernel.thread.make_selector_io_loop) and registers their ZMQ
    sockets from the main thread while the loops already run in their own
    threads.  asyncio's selector loops tolerate that; pyasync's loop
    refuses it (a libuv handle may only be touched from the loop's own
    thread).  Those loops only move ZMQ messages; user code runs on the
    main thread's loop, which stays pyasync's.
    """
    import asyncio
    from tornado.ioloop import IOLoop
    import ipykernel.iostream
    import ipykernel.thread

    def make_selector_io_loop():
        return IOLoop(make_current=False, asyncio_loop=asyncio.SelectorEventLoop())

    make_selector_io_loop.__doc__ = service_loops_on_asyncio.__doc__
    ipykernel.thread.make_selector_io_loop = make_selector_io_loop
    ipykernel.iostream.make_selector_io_loop = make_selector_io_loop


def kernel_spec():
    return {
        "argv": [sys.executable, "-m", "pyasync.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }


def install(user=False, prefix=None):
    """Install the kernelspec; returns the directory it went to."""
    from jupyter_client.kernelspec import KernelSpecManager
    if not user and prefix is None:
        prefix = sys.prefix
    with tempfile.TemporaryDirectory() as td:
        with open(os.path.join(td, "kernel.json"), "w") as f:
            json.dump(kernel_spec(), f, indent=1)
        try:  # ipykernel's logos, if present
            from ipykernel.kernelspec import RESOURCES
            for name in os.listdir(RESOURCES):
                if name.startswith("logo"):
                    shutil.copy(os.path.join(RESOURCES, name), td)
        except Exception:
            pass
        return KernelSpecManager().install_kernel_spec(
            td, KERNEL_NAME, user=user, prefix=prefix)


def _install_main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="python -m pyasync.kernel install")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--user", action="store_true", help="into the user's Jupyter dir")
    g.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels")
    g.add_argument("--sys-prefix", action="store_true",
                   help="into this environment (the default)")
    a = p.parse_args(argv)
    where = install(user=a.user, prefix=a.prefix)
    print(f"Installed kernelspec {KERNEL_NAME!r} ({DISPLAY_NAME}) in {where}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:
        return _install_main(argv[1:])
    if os.environ.get("PYASYNC_KERNEL_FAULTHANDLER"):  # debugging hangs
        import faulthandler
        import signal
        faulthandler.register(signal.SIGUSR1, all_threads=True,
                              file=open(os.environ["PYASYNC_KERNEL_FAULTHANDLER"], "w"))
    install_kernel_policy()
    service_loops_on_asyncio()
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(argv=argv)


if __name__ == "__main__":
    # run the imported module's main, so that the loop's class is
    # pyasync.kernel.KernelEventLoop and not __main__.KernelEventLoop
    from pyasync.kernel import main as _main
    _main()
