"""Callback order: call_soon, call_later, call_at, cancellation, stop.

Each scenario runs on asyncio's loop and on pyasync's; the traces must be
equal."""
import asyncio

from conftest import run_both


def test_call_soon_fifo_and_iterations(differential):
    def scenario(loop):
        trace = []
        iteration = [0]

        def tick():
            iteration[0] += 1
            if iteration[0] < 4:
                loop.call_soon(tick)

        def cb(name, *rest):
            trace.append((name, rest, iteration[0]))
            if name == 'a':
                # Scheduled now, runs in the next iteration.
                loop.call_soon(cb, 'nested')

        loop.call_soon(tick)
        loop.call_soon(cb, 'a', 1, 2)
        loop.call_soon(cb, 'b')
        loop.call_soon(cb, 'c', None)
        loop.call_soon(loop.call_soon, loop.stop)
        loop.run_forever()
        return trace
    trace = differential(scenario)
    assert [t[0] for t in trace] == ['a', 'b', 'c', 'nested']


def test_call_soon_returns_handle_and_cancel(differential):
    def scenario(loop):
        trace = []
        handles = [loop.call_soon(trace.append, i) for i in range(6)]
        handles[1].cancel()
        handles[4].cancel()
        # A callback cancelling a later one of the same iteration.
        loop.call_soon(handles[5].cancel)
        loop.call_soon(loop.stop)
        handles[5] = loop.call_soon(trace.append, 'late')
        loop.call_soon(handles[5].cancel)
        loop.run_forever()
        return trace, [h.cancelled() for h in handles]
    differential(scenario)


def test_timers_order_equal_deadlines_and_cancel():
    # asyncio documents the order of equal deadlines as undefined (its heap
    # is not stable); pyasync fires them in scheduling order.  Everything
    # else must match asyncio exactly.
    def scenario(loop):
        trace = []
        base = loop.time() + 0.02
        hs = []
        for i in range(8):
            hs.append(loop.call_at(base, trace.append, ('same', i)))
        loop.call_at(base + 0.01, trace.append, 'later')
        loop.call_at(base - 0.01, trace.append, 'earlier')
        hs[3].cancel()
        hs[6].cancel()
        loop.call_later(0.001, trace.append, 'call_later')
        loop.call_soon(trace.append, 'soon')
        loop.call_at(base + 0.02, loop.stop)
        loop.run_forever()
        return trace
    expected, got = run_both(scenario)
    same = [('same', i) for i in (0, 1, 2, 4, 5, 7)]
    assert got == ['soon', 'call_later', 'earlier'] + same + ['later']
    assert sorted(expected[3:9]) == same
    assert expected[:3] + expected[9:] == got[:3] + got[9:]


def test_many_timers_fire_in_deadline_order(differential):
    # Distinct deadlines, scheduled out of order, many of them cancelled
    # (enough to trigger the heap compaction).
    def scenario(loop):
        trace = []
        now = loop.time()
        hs = []
        for i in range(300):
            d = ((i * 37) % 300) / 10000
            hs.append(loop.call_at(now + d, trace.append, i))
        for i, h in enumerate(hs):
            if i % 3:
                h.cancel()
        loop.call_at(now + 0.05, loop.stop)
        loop.run_forever()
        return trace
    trace = differential(scenario)
    assert len(trace) == 100


def test_timer_compaction_drops_cancelled():
    import pyasync
    loop = pyasync.new_event_loop()
    try:
        hs = [loop.call_later(10 + i, lambda: None) for i in range(200)]
        for h in hs[:150]:
            h.cancel()
        assert loop._scheduled_count == 200
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert loop._scheduled_count == 50
        assert not any(h._scheduled for h in hs[:150])
        assert all(h._scheduled for h in hs[150:])
    finally:
        loop.close()


def test_timer_handle_when_and_ordering(differential):
    def scenario(loop):
        h1 = loop.call_at(10, print)
        h2 = loop.call_at(10.5, print)
        h3 = loop.call_later(1000, print)
        out = [h1.when(), type(h1.when()).__name__, h2.when(),
               h1 < h2, h1 <= h2, h2 > h1, h1 == h1, h1 != h2,
               hash(h1) == hash(10), h3.when() > loop.time()]
        for h in (h1, h2, h3):
            h.cancel()
        return out
    differential(scenario)


def test_stop_finishes_iteration(differential):
    def scenario(loop):
        trace = []

        def stopper():
            trace.append('stop')
            loop.stop()
            loop.call_soon(trace.append, 'next-iteration')

        loop.call_soon(trace.append, 1)
        loop.call_soon(stopper)
        loop.call_soon(trace.append, 2)
        loop.run_forever()
        trace.append('returned')
        loop.call_soon(loop.stop)
        loop.run_forever()
        trace.append('returned again')
        return trace
    differential(scenario)


def test_stop_before_run_forever_runs_one_iteration(differential):
    def scenario(loop):
        trace = []

        def cb(n):
            trace.append(n)
            loop.call_soon(cb, n + 1)

        loop.call_soon(cb, 0)
        loop.stop()
        loop.run_forever()
        trace.append('|')
        loop.stop()
        loop.run_forever()
        return trace
    differential(scenario)


def test_stop_then_timer_due_same_iteration(differential):
    def scenario(loop):
        trace = []
        loop.call_later(0.01, trace.append, 'timer')
        loop.call_later(0.01, loop.stop)
        loop.call_later(0.01, trace.append, 'timer2')
        loop.run_forever()
        return trace
    differential(scenario)


def test_is_running_inside_and_outside(differential):
    def scenario(loop):
        seen = []
        loop.call_soon(lambda: seen.append(
            (loop.is_running(), asyncio.get_running_loop() is loop)))
        loop.call_soon(loop.stop)
        loop.run_forever()
        seen.append(loop.is_running())
        return seen
    assert differential(scenario) == [(True, True), False]


def test_odd_delays(differential):
    def scenario(loop):
        trace = []
        loop.call_later(-5, trace.append, 'negative')
        loop.call_later(0, trace.append, 'zero')
        loop.call_later(float('inf'), trace.append, 'never')
        h = loop.call_at(float('inf'), trace.append, 'never either')
        loop.call_later(1e-9, trace.append, 'tiny')
        loop.call_later(0.002, loop.stop)
        loop.run_forever()
        return trace, h.when()
    trace, when = differential(scenario)
    assert sorted(trace) == ['negative', 'tiny', 'zero']


def test_int_when_kept_exactly(differential):
    def scenario(loop):
        h = loop.call_at(10**6, print)
        out = (h.when(), type(h.when()).__name__, repr(h)[:25])
        h.cancel()
        return out
    assert differential(scenario)[0] == 10**6


def test_cancelled_timer_count_bookkeeping():
    import pyasync
    loop = pyasync.new_event_loop()
    try:
        h1 = loop.call_later(0.001, print)
        h2 = loop.call_later(100, print)
        h1.cancel()
        h2.cancel()
        h2.cancel()
        assert loop._timer_cancelled_count == 2
        # Both reach the top of the heap and are swept.
        loop.run_until_complete(asyncio.sleep(0.005))
        assert loop._timer_cancelled_count == 0
        assert loop._scheduled_count == 0
        # Cancelling an unscheduled timer does not count.
        h1._scheduled = False
        loop.call_later(1, print).cancel()
        assert loop._timer_cancelled_count == 1
    finally:
        loop.close()
