"""Ctrl-C during run(): the main task is cancelled, clean-up runs, and run()
raises KeyboardInterrupt, on asyncio and pyasync alike, even while the loop
sleeps in C."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from sigwait import send_when_polling

SCRIPT = textwrap.dedent("""
    import sys
    import {module} as aio

    async def main():
        try:
            print("ready", flush=True)
            await aio.sleep(30)
        except aio.CancelledError:
            print("main cancelled", flush=True)
            raise
        finally:
            print("cleanup", flush=True)

    try:
        aio.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
""")


def run_interrupted(module):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(module=module)],
                           stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    send_when_polling(proc, signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return proc.returncode, out.splitlines()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_cancels_main_task_then_raises_keyboard_interrupt():
    expected = run_interrupted("asyncio")
    assert expected == (0, ["main cancelled", "cleanup", "KeyboardInterrupt"])
    assert run_interrupted("pyasync") == expected
