"""VirtualClock: a loop clock that jumps over idle time.

With a virtual clock the loop's time() stands still while callbacks run
and, whenever the loop would block waiting for timers only (nothing
ready, no I/O handle or request active, no executor job pending), moves
straight to the next deadline.  sleep(3600) returns at once, timeouts fire
at once, and the order of callbacks is the one asyncio's real clock gives
(timers due together run in scheduling order).  When the loop waits for
real work (a socket, a subprocess, a thread) it waits for real, and the
virtual clock moves as much as the wait took.

    pyasync.run(main(), clock=pyasync.VirtualClock())
    loop = pyasync.new_event_loop(clock=pyasync.VirtualClock(start=0))

The loop side is C (csrc/core/loop.c: the clock reads, the jump in
loop_prepare_poll); this is its face.
"""
import time

__all__ = ('VirtualClock',)


class VirtualClock:
    """A clock for one pyasync loop: time moves only when the loop idles.

    start: the clock's first reading in seconds (default: time.monotonic()
    when the loop takes it, so times look like a real loop's).
    """

    def __init__(self, start=None):
        if start is not None:
            start = float(start)
            if not start >= 0 or start != start or start == float('inf'):
                raise ValueError(
                    "the virtual clock's start must be a finite number >= 0")
        self._start = start
        self._loop = None

    def _attach(self, loop):
        if self._loop is not None:
            raise RuntimeError("a VirtualClock drives one loop only")
        virtual = getattr(loop, '_clock_is_virtual', None)
        if virtual is None:
            raise TypeError("a VirtualClock needs a pyasync event loop, "
                            "got %r" % (loop,))
        if virtual:
            raise RuntimeError("the loop has a virtual clock already")
        start = time.monotonic() if self._start is None else self._start
        loop._use_virtual_clock(start)
        self._loop = loop

    def time(self):
        """The clock's reading: its loop's time()."""
        if self._loop is None:
            return time.monotonic() if self._start is None else self._start
        return self._loop.time()

    def jump(self, seconds):
        """Move the clock forward by seconds (>= 0); timers that become due
        run in the loop's next iteration."""
        if self._loop is None:
            raise RuntimeError("the VirtualClock is not attached to a loop")
        self._loop._advance_virtual_clock(seconds)

    def __repr__(self):
        state = ('unattached' if self._loop is None
                 else 'time=%.6f' % self._loop.time())
        return '<VirtualClock %s>' % state
