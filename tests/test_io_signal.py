"""add_signal_handler/remove_signal_handler on uv_signal."""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import pyasync
from sigwait import send_when_polling


def test_sigusr1_reaches_handler(differential):
    def scenario(loop):
        trace = []

        def handler(*args):
            trace.append(('handler', args))
            loop.stop()
        loop.add_signal_handler(signal.SIGUSR1, handler, 'a', 1)
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        loop.run_forever()
        trace.append(('removed', loop.remove_signal_handler(signal.SIGUSR1)))
        trace.append(('again', loop.remove_signal_handler(signal.SIGUSR1)))
        trace.append(('restored',
                      signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL))
        return trace
    differential(scenario)


def test_signal_while_sleeping_in_c(differential):
    def scenario(loop):
        trace = []
        loop.add_signal_handler(signal.SIGUSR2, lambda: (trace.append('sig'),
                                                         loop.stop()))
        threading.Timer(0.05, os.kill,
                        (os.getpid(), signal.SIGUSR2)).start()
        loop.call_later(5, loop.stop)
        loop.run_forever()
        loop.remove_signal_handler(signal.SIGUSR2)
        return trace
    assert differential(scenario) == ['sig']


def test_replace_handler(differential):
    def scenario(loop):
        trace = []
        loop.add_signal_handler(signal.SIGUSR1, trace.append, 1)
        loop.add_signal_handler(signal.SIGUSR1, trace.append, 2)
        os.kill(os.getpid(), signal.SIGUSR1)
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        loop.remove_signal_handler(signal.SIGUSR1)
        return trace
    assert differential(scenario) == [2]


def test_sigint_handler_gets_ctrl_c(differential):
    def scenario(loop):
        trace = []
        loop.add_signal_handler(signal.SIGINT, lambda: (trace.append('int'),
                                                        loop.stop()))
        threading.Timer(0.05, os.kill,
                        (os.getpid(), signal.SIGINT)).start()
        loop.call_later(5, loop.stop)
        loop.run_forever()
        loop.remove_signal_handler(signal.SIGINT)
        return trace
    assert differential(scenario) == ['int']


def test_sigint_handler_removed_restores_default_int_handler(differential):
    def scenario(loop):
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        r = loop.remove_signal_handler(signal.SIGINT)
        return [r, signal.getsignal(signal.SIGINT) is
                signal.default_int_handler]
    assert differential(scenario) == [True, True]


def test_errors(differential):
    def scenario(loop):
        trace = []

        async def coro():
            pass

        def attempt(f, *args):
            try:
                f(*args)
                trace.append('ok')
            except Exception as e:
                trace.append((type(e).__name__, str(e)))
        c = coro()
        attempt(loop.add_signal_handler, signal.SIGUSR1, c)
        c.close()
        attempt(loop.add_signal_handler, signal.SIGUSR1, coro)
        attempt(loop.add_signal_handler, 'x', lambda: None)
        attempt(loop.add_signal_handler, 0, lambda: None)
        attempt(loop.add_signal_handler, 1000, lambda: None)
        attempt(loop.add_signal_handler, signal.SIGKILL, lambda: None)
        attempt(loop.add_signal_handler, signal.SIGSTOP, lambda: None)
        attempt(loop.remove_signal_handler, 'x')
        attempt(loop.remove_signal_handler, 1000)
        attempt(loop.remove_signal_handler, signal.SIGKILL)
        trace.append(loop._signal_handlers)
        loop.close()
        attempt(loop.add_signal_handler, signal.SIGUSR1, lambda: None)
        return trace
    differential(scenario)


def test_not_main_thread(differential):
    def scenario(loop):
        out = []

        def run():
            try:
                loop.add_signal_handler(signal.SIGUSR1, lambda: None)
            except RuntimeError as e:
                out.append(str(e))
        t = threading.Thread(target=run)
        t.start()
        t.join()
        return out
    differential(scenario)


def test_cancelled_handle_removes_handler():
    loop = pyasync.new_event_loop()
    seen = []
    loop.add_signal_handler(signal.SIGUSR1, seen.append, 1)
    loop._signal_handlers[signal.SIGUSR1].cancel()
    os.kill(os.getpid(), signal.SIGUSR1)
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert seen == []
    assert signal.SIGUSR1 not in loop._signal_handlers
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    loop.close()


def test_close_removes_handlers():
    loop = pyasync.new_event_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    assert loop._signal_handlers == {}


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import {module} as aio

    async def main():
        loop = aio.get_running_loop()
        fut = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, fut.set_result, 'term')
        print("ready", flush=True)
        print(await fut, flush=True)
        loop.remove_signal_handler(signal.SIGTERM)
        print("ready2", flush=True)
        await aio.sleep(30)

    try:
        aio.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
""")


@pytest.mark.parametrize('module', ['asyncio', 'pyasync'])
def test_handler_then_ctrl_c_in_subprocess(module):
    proc = subprocess.Popen([sys.executable, '-c',
                             SCRIPT.format(module=module)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == 'ready\n'
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == 'term\n'
    assert proc.stdout.readline() == 'ready2\n'
    send_when_polling(proc, signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert out.splitlines() == ['KeyboardInterrupt']


def test_signal_handler_runs_an_iteration_after_the_poll(differential):
    def scenario(loop):
        trace = []

        def kick():
            os.kill(os.getpid(), signal.SIGUSR1)
            loop.call_soon(trace.append, 'soon1')
            loop.call_soon(lambda: loop.call_soon(trace.append, 'soon3'))

        loop.add_signal_handler(signal.SIGUSR1, trace.append, 'sig')
        loop.call_soon(kick)
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        loop.remove_signal_handler(signal.SIGUSR1)
        return trace
    differential(scenario)
