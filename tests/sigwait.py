"""Send a signal to a child once it is blocked in its event loop's poll.

A loop with no signal wakeup fd (asyncio after remove_signal_handler() took
the last handler away, or before any was added) loses a Ctrl-C that lands
between the interpreter's signal check and epoll_wait(): the C handler only
sets a flag, and the poll then sleeps its full timeout.  stdlib asyncio
loses about 3 in 100 such signals when they are sent right after the child
prints.  Tests of what happens *on* Ctrl-C wait until the child sleeps in
epoll_wait (its /proc wchan says so) so that they test that, not the race.
"""
import time


def wait_until_polling(pid, timeout=10.0):
    """Return True once pid sleeps in epoll_wait, False after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/wchan") as f:
                if "epoll" in f.read():
                    return True
        except OSError:          # no /proc (not Linux) or the child is gone
            return False
        time.sleep(0.005)
    return False


def send_when_polling(proc, sig):
    wait_until_polling(proc.pid)
    proc.send_signal(sig)
