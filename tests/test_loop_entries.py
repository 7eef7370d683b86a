"""The C ready-queue path future.c and task.c use (pyasync_call_soon, no
Handle), reached through the private Loop._call_soon_entry.  Compared with
asyncio's call_soon(callback, arg), which is what it stands for."""
import asyncio
import sys
import contextvars
import re

var = contextvars.ContextVar('entries_var', default='unset')


def _call_soon_entry(loop, callback, arg, context=None):
    if hasattr(loop, '_call_soon_entry'):
        loop._call_soon_entry(callback, arg, context=context)
    else:
        loop.call_soon(callback, arg, context=context)


def test_entries_order_with_handles(differential):
    def scenario(loop):
        trace = []
        loop.call_soon(trace.append, 'handle 1')
        _call_soon_entry(loop, trace.append, 'entry 1')
        loop.call_soon(trace.append, 'handle 2')
        _call_soon_entry(loop, trace.append, 'entry 2')
        loop.call_soon(loop.stop)
        loop.run_forever()
        return trace
    differential(scenario)


def test_entries_context(differential):
    def scenario(loop):
        trace = []
        ctx = contextvars.copy_context()
        ctx.run(var.set, 'ctx')
        var.set('at scheduling')
        _call_soon_entry(loop, lambda tag: trace.append((tag, var.get())),
                         'copied')
        _call_soon_entry(loop, lambda tag: trace.append((tag, var.get())),
                         'explicit', context=ctx)
        var.set('later')
        loop.call_soon(loop.stop)
        loop.run_forever()
        var.set('unset')
        return trace
    assert differential(scenario) == [('copied', 'at scheduling'),
                                      ('explicit', 'ctx')]


def test_entry_failure_reported_like_a_handle(differential):
    def scenario(loop):
        reports = []

        def handler(lp, context):
            reports.append((sorted(context), context['message'],
                            re.sub(r'0x[0-9a-f]+', 'ADDR',
                                   repr(context['handle'])),
                            repr(context['exception'])))

        def failing(arg):
            raise KeyError(arg)

        loop.set_exception_handler(handler)
        _call_soon_entry(loop, failing, 'the arg')
        loop.call_soon(loop.stop)
        loop.run_forever()
        return reports
    reports = differential(scenario)
    # 3.13 shows a callback's arguments only in debug mode.
    shown = "failing()" if sys.version_info >= (3, 13) else "failing('the arg')"
    assert shown in reports[0][1]


def test_entry_keyboard_interrupt_propagates(differential):
    def scenario(loop):
        def fatal(arg):
            raise KeyboardInterrupt(arg)
        _call_soon_entry(loop, fatal, 1)
        try:
            loop.run_forever()
        except KeyboardInterrupt as e:
            return e.args
    assert differential(scenario) == (1,)


def test_entry_on_closed_loop(differential):
    def scenario(loop):
        loop.close()
        try:
            _call_soon_entry(loop, print, 1)
        except RuntimeError as e:
            return str(e)
    assert differential(scenario) == 'Event loop is closed'
