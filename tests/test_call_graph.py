"""pyasync.capture_call_graph / format_call_graph / print_call_graph (asyncio
3.14's graph API on 3.11-3.13), format_tasks / print_tasks and the SIGUSR1
task dump.

3.11-3.13 have no asyncio counterpart, so:
- CallStack* port the shapes of CPython 3.14's Lib/test/test_asyncio/
  test_graph.py (each graph walked to [kind, call stack, awaited by]),
  with pyasync's differences written next to them: sleep, wait, wait_for
  are C coroutines without frames, so 3.14's 'a _wait', 'a wait' entries
  are absent; TaskGroup has no _aexit before 3.13.
- Differential: the same scenario on asyncio's loop and tasks and on
  pyasync's gives the same graph once frames of asyncio's own package (its
  Python combinators) are dropped.
- The printed format is compared exactly, with ids and line numbers taken
  from this file the way 3.14's tests name their lines.
"""
import asyncio
import gc
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import pyasync
from pyasync import graph as pgraph

ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
TG_AEXIT = (['a _aexit', 'a __aexit__'] if hasattr(asyncio.TaskGroup, '_aexit')
            else ['a __aexit__'])


def _entry(frame):
    flags = frame.f_code.co_flags
    import inspect
    if flags & inspect.CO_COROUTINE:
        return f"a {frame.f_code.co_name}"
    if flags & inspect.CO_ASYNC_GENERATOR:
        return f"ag {frame.f_code.co_name}"
    if flags & inspect.CO_GENERATOR:
        return f"g {frame.f_code.co_name}"
    return f"s {frame.f_code.co_name}"


def walk(s, drop_asyncio=False):
    """3.14 test_graph's shape: [task or future, call stack, awaited by]."""
    if pgraph._is_task(s.future):
        n = s.future.get_name()
        head = f"T<{n}>" if '-' not in n else 'T<anon>'
    else:
        head = 'F'
    stack = [_entry(e.frame) for e in s.call_stack
             if not (drop_asyncio and
                     e.frame.f_code.co_filename.startswith(ASYNCIO_DIR))]
    return [head, stack,
            sorted([walk(ab, drop_asyncio) for ab in s.awaited_by],
                   key=lambda entry: entry[0])]


def capture_test_stack(*, fut=None, depth=1, limit=None):
    buf = io.StringIO()
    pyasync.print_call_graph(fut, file=buf, depth=depth + 1, limit=limit)
    stack = pyasync.capture_call_graph(fut, depth=depth, limit=limit)
    return walk(stack), buf.getvalue(), stack


def run(coro_fn, mod=pyasync):
    """Run coro_fn() as the main task on mod's loop (pyasync or asyncio)."""
    if mod is pyasync:
        return pyasync.run(coro_fn())
    return asyncio.run(coro_fn())


# ---- 3.14 test_graph.py shapes ------------------------------------------

def test_stack_tgroup():
    stack_for_c5 = None

    def c5():
        nonlocal stack_for_c5
        stack_for_c5 = capture_test_stack(depth=2)

    async def c4():
        await pyasync.sleep(0)
        c5()

    async def c3():
        await c4()

    async def c2():
        await c3()

    async def c1(task):
        await task

    async def main():
        async with pyasync.TaskGroup() as tg:
            task = tg.create_task(c2(), name="c2_root")
            tg.create_task(c1(task), name="sub_main_1")
            tg.create_task(c1(task), name="sub_main_2")

    async def scenario():
        await main()

    run(scenario)
    parent = ['T<anon>', TG_AEXIT + ['a main', 'a scenario'], []]
    assert stack_for_c5[0] == [
        'T<c2_root>',
        ['s c5', 'a c4', 'a c3', 'a c2'],
        [parent,
         ['T<sub_main_1>', ['a c1'], [parent]],
         ['T<sub_main_2>', ['a c1'], [parent]]],
    ]
    assert ' async test_stack_tgroup.<locals>.scenario()' in stack_for_c5[1]
    assert stack_for_c5[1].startswith("* Task(name='c2_root', id=0x")


def test_stack_async_gen():
    result = None

    async def gen_nested_call():
        nonlocal result
        result = capture_test_stack()

    async def gen():
        for num in range(2):
            yield num
            if num == 1:
                await gen_nested_call()

    async def main():
        async for _ in gen():
            pass

    run(main)
    assert result[0] == ['T<anon>',
                         ['s capture_test_stack', 'a gen_nested_call',
                          'ag gen', 'a main'],
                         []]
    assert ('async generator test_stack_async_gen.<locals>.gen()'
            in result[1])


def test_stack_gather():
    result = None

    async def deep():
        await pyasync.sleep(0)
        nonlocal result
        result = capture_test_stack()

    async def c1():
        await pyasync.sleep(0)
        await deep()

    async def c2():
        await pyasync.sleep(0)

    async def main():
        await pyasync.gather(c1(), c2())

    run(main)
    assert result[0] == ['T<anon>', ['s capture_test_stack', 'a deep', 'a c1'],
                         [['T<anon>', ['a main'], []]]]


def test_stack_shield():
    result = None

    async def deep():
        await pyasync.sleep(0)
        nonlocal result
        result = capture_test_stack()

    async def c1():
        await pyasync.sleep(0)
        await deep()

    async def main():
        await pyasync.shield(c1())

    run(main)
    assert result[0] == ['T<anon>', ['s capture_test_stack', 'a deep', 'a c1'],
                         [['T<anon>', ['a main'], []]]]


def test_stack_timeout():
    result = None

    async def inner():
        await pyasync.sleep(0)
        nonlocal result
        result = capture_test_stack()

    async def c1():
        async with pyasync.timeout(1):
            await pyasync.sleep(0)
            await inner()

    async def main():
        await pyasync.shield(c1())

    run(main)
    assert result[0] == ['T<anon>', ['s capture_test_stack', 'a inner', 'a c1'],
                         [['T<anon>', ['a main'], []]]]


def test_stack_wait():
    result = None

    async def inner():
        await pyasync.sleep(0)
        nonlocal result
        result = capture_test_stack()

    async def c1():
        async with pyasync.timeout(1):
            await pyasync.sleep(0)
            await inner()

    async def c2():
        for _ in range(3):
            await pyasync.sleep(0)

    async def main(t1, t2):
        while True:
            _, pending = await pyasync.wait([t1, t2])
            if not pending:
                break

    async def scenario():
        t1 = pyasync.create_task(c1())
        t2 = pyasync.create_task(c2())
        try:
            await main(t1, t2)
        finally:
            await t1
            await t2

    run(scenario)
    # 3.14: ['a _wait', 'a wait', 'a main', ...]; pyasync's wait() is C.
    assert result[0] == ['T<anon>', ['s capture_test_stack', 'a inner', 'a c1'],
                         [['T<anon>', ['a main', 'a scenario'], []]]]


def test_stack_task():
    result = None

    async def inner():
        await pyasync.sleep(0)
        nonlocal result
        result = capture_test_stack()

    async def c1():
        await inner()

    async def c2():
        await pyasync.create_task(c1(), name='there there')

    async def main():
        await c2()

    run(main)
    assert result[0] == ['T<there there>',
                         ['s capture_test_stack', 'a inner', 'a c1'],
                         [['T<anon>', ['a c2', 'a main'], []]]]


def test_stack_future():
    result = None

    async def a2(fut):
        await fut

    async def a1(fut):
        await a2(fut)

    async def b1(fut):
        await fut

    async def main():
        nonlocal result
        fut = pyasync.Future()
        async with pyasync.TaskGroup() as g:
            g.create_task(a1(fut), name="task A")
            g.create_task(b1(fut), name='task B')
            for _ in range(5):
                await pyasync.sleep(0)
            result = capture_test_stack(fut=fut)
            fut.set_result(None)

    run(main)
    assert result[0] == ['F', [], [
        ['T<task A>', ['a a2', 'a a1'], [['T<anon>', ['a main'], []]]],
        ['T<task B>', ['a b1'], [['T<anon>', ['a main'], []]]],
    ]]
    assert result[1].startswith('* Future(id=')


# ---- the printed format, exactly ------------------------------------------

def _line(marker):
    """The line number in this file of the line ending with `# <marker>`."""
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if text.rstrip().endswith('# ' + marker):
                return n
    raise AssertionError(marker)


async def _fmt_leaf(fut):
    await fut  # fmt-leaf


async def _fmt_mid(fut):
    await _fmt_leaf(fut)  # fmt-mid


def test_format_exact():
    out = {}

    async def main():
        fut = pyasync.get_running_loop().create_future()
        t = pyasync.create_task(_fmt_mid(fut), name='leafy')
        await pyasync.sleep(0)
        out['text'] = pyasync.format_call_graph(fut)
        out['ids'] = (id(fut), id(t), id(pyasync.current_task()))
        out['printed'] = io.StringIO()
        pyasync.print_call_graph(t, file=out['printed'])
        fut.set_result(None)
        await t

    run(main)
    fid, tid, _ = out['ids']
    f = repr(__file__)
    assert out['text'] == '\n'.join([
        f'* Future(id={fid:#x})',
        '  + Awaited by:',
        f"    * Task(name='leafy', id={tid:#x})",
        '      + Call stack:',
        f"      |   File {f}, line {_line('fmt-leaf')}, in async _fmt_leaf()",
        f"      |   File {f}, line {_line('fmt-mid')}, in async _fmt_mid()",
    ])
    assert out['printed'].getvalue() == '\n'.join([
        f"* Task(name='leafy', id={tid:#x})",
        '  + Call stack:',
        f"  |   File {f}, line {_line('fmt-leaf')}, in async _fmt_leaf()",
        f"  |   File {f}, line {_line('fmt-mid')}, in async _fmt_mid()",
    ]) + '\n'


def test_format_current_task_and_print_depth():
    out = {}

    def sync_helper():
        out['fmt'] = pyasync.format_call_graph()  # fmt-sync
        buf = io.StringIO()
        pyasync.print_call_graph(file=buf, depth=2)  # fmt-print
        out['print'] = buf.getvalue()

    async def main():
        out['tid'] = id(pyasync.current_task())
        out['name'] = pyasync.current_task().get_name()
        sync_helper()  # fmt-main

    run(main)
    f = repr(__file__)
    main_line = (f"  |   File {f}, line {_line('fmt-main')}, in async "
                 f"test_format_current_task_and_print_depth.<locals>.main()")
    assert out['fmt'] == '\n'.join([
        f"* Task(name={out['name']!r}, id={out['tid']:#x})",
        '  + Call stack:',
        f"  |   File {f}, line {_line('fmt-sync')}, in "
        f"test_format_current_task_and_print_depth.<locals>.sync_helper()",
        main_line,
    ])
    # As in 3.14, print_call_graph(depth=n) is format_call_graph(depth=n)
    # called from print_call_graph: depth=2 starts at its caller.
    assert out['print'].splitlines()[2].endswith(
        f"line {_line('fmt-print')}, in "
        f"test_format_current_task_and_print_depth.<locals>.sync_helper()")
    assert out['print'].splitlines()[3] == main_line


# ---- depth and limit ------------------------------------------------------

def test_depth_and_limit_current_task():
    got = {}

    async def c3():
        got['d1'] = walk(pyasync.capture_call_graph())
        got['d2'] = walk(pyasync.capture_call_graph(depth=2))
        got['l1'] = walk(pyasync.capture_call_graph(limit=1))
        got['lm1'] = walk(pyasync.capture_call_graph(limit=-1))
        got['l0'] = pyasync.capture_call_graph(limit=0)

    async def c2():
        await c3()

    async def c1():
        await c2()

    run(c1)
    assert got['d1'][1] == ['a c3', 'a c2', 'a c1']
    assert got['d2'][1] == ['a c2', 'a c1']
    # 3.14: a positive limit keeps the outermost entries, a negative one
    # the innermost, 0 captures no stack.
    assert got['l1'][1] == ['a c1']
    assert got['lm1'][1] == ['a c3']
    assert got['l0'].call_stack == ()


def test_limit_applies_to_awaited_by():
    got = {}

    async def leaf(fut):
        await fut

    async def mid(fut):
        await leaf(fut)

    async def top(fut):
        await mid(fut)

    async def main():
        fut = pyasync.get_running_loop().create_future()
        t = pyasync.create_task(top(fut), name='top')
        await pyasync.sleep(0)
        for limit in (None, 1, -1, 2, 0):
            got[limit] = walk(pyasync.capture_call_graph(fut, limit=limit))
        fut.set_result(None)
        await t

    run(main)
    stacks = {k: v[2][0][1] for k, v in got.items()}
    assert stacks[None] == ['a leaf', 'a mid', 'a top']
    assert stacks[1] == ['a top']
    assert stacks[-1] == ['a leaf']
    assert stacks[2] == ['a mid', 'a top']
    assert stacks[0] == []
    assert all(v[2][0][0] == 'T<top>' for v in got.values())


# ---- edge cases ------------------------------------------------------------

def test_errors_and_no_current_task():
    with pytest.raises(RuntimeError, match='outside of a running event loop'):
        pyasync.capture_call_graph()
    with pytest.raises(TypeError, match='compatible with asyncio.Future'):
        pyasync.capture_call_graph(object())
    loop = pyasync.new_event_loop()
    try:
        fut = loop.create_future()
        g = pyasync.capture_call_graph(fut)    # no loop running: fine
        assert (g.future, g.call_stack, g.awaited_by) == (fut, (), ())
        out = []

        def cb():
            out.append(pyasync.capture_call_graph())
            out.append(pyasync.format_call_graph())
            loop.stop()
        loop.call_soon(cb)
        loop.run_forever()
        assert out == [None, '']
    finally:
        loop.close()


def test_dataclasses_are_frozen_with_slots():
    import dataclasses
    assert [f.name for f in dataclasses.fields(pyasync.FutureCallGraph)] == [
        'future', 'call_stack', 'awaited_by']
    assert [f.name for f in dataclasses.fields(
        pyasync.FrameCallGraphEntry)] == ['frame']
    e = pyasync.FrameCallGraphEntry(sys._getframe())
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.frame = None
    assert not hasattr(e, '__dict__')
    assert 'capture_call_graph' in pyasync.__all__
    assert 'format_tasks' in pyasync.__all__


def test_future_add_discard_awaited_by():
    got = {}

    async def main():
        loop = pyasync.get_running_loop()
        fut, waiter = loop.create_future(), loop.create_future()
        pyasync.future_add_to_awaited_by(fut, waiter)
        pyasync.future_add_to_awaited_by(fut, waiter)       # once only
        pyasync.future_add_to_awaited_by(fut, object())     # ignored
        got['added'] = walk(pyasync.capture_call_graph(fut))
        pyasync.future_discard_from_awaited_by(fut, waiter)
        pyasync.future_discard_from_awaited_by(fut, waiter)  # no error
        got['discarded'] = walk(pyasync.capture_call_graph(fut))
        # A cycle of registrations is shown once, not followed forever.
        pyasync.future_add_to_awaited_by(fut, waiter)
        pyasync.future_add_to_awaited_by(waiter, fut)
        got['cycle'] = walk(pyasync.capture_call_graph(fut))
        pyasync.future_discard_from_awaited_by(fut, waiter)
        pyasync.future_discard_from_awaited_by(waiter, fut)

    run(main)
    assert got['added'] == ['F', [], [['F', [], []]]]
    assert got['discarded'] == ['F', [], []]
    assert got['cycle'] == ['F', [], [['F', [], []]]]
    assert len(pgraph._registered) == 0


def test_graph_wait_for_and_as_completed():
    got = {}

    async def child(fut):
        await fut

    async def via_wait_for(fut):
        await pyasync.wait_for(child(fut), 10)

    async def via_as_completed(fut):
        for f in pyasync.as_completed([child(fut)]):
            await f

    async def main():
        loop = pyasync.get_running_loop()
        fut = loop.create_future()
        t1 = pyasync.create_task(via_wait_for(fut), name='wf')
        t2 = pyasync.create_task(via_as_completed(fut), name='ac')
        for _ in range(3):
            await pyasync.sleep(0)
        got['fut'] = walk(pyasync.capture_call_graph(fut))
        fut.set_result(None)
        await pyasync.gather(t1, t2)

    run(main)
    kind, stack, awaited = got['fut']
    assert (kind, stack) == ('F', [])
    # Each child is awaited by the task in wait_for() / as_completed().
    by = {tuple(e[1]): e[2] for e in awaited}
    if sys.version_info >= (3, 12):
        # 3.12's wait_for awaits a coroutine inline in the caller's task.
        assert ['T<wf>', ['a child', 'a wait_for', 'a via_wait_for'],
                []] in awaited
    else:
        assert by[('a child',)] in ([['T<wf>', ['a via_wait_for'], []]],
                                    [['T<ac>', ['a via_as_completed'], []]])
    assert any(e[2] == [['T<ac>', ['a via_as_completed'], []]]
               for e in awaited)


# ---- differential: asyncio's loop and tasks vs pyasync's ------------------

def _shapes(mod):
    """Graphs of a few combinator scenarios, run on mod's loop and tasks."""
    got = {}

    async def leaf(fut):
        await fut

    async def gatherer(fut):
        await mod.gather(leaf(fut), leaf(fut))

    async def shielder(fut):
        await mod.shield(leaf(fut))

    async def waiter(fut):
        t = mod.ensure_future(leaf(fut))
        await mod.wait([t])

    async def awaiter(fut):
        await mod.create_task(leaf(fut), name='inner')

    async def grouped(fut):
        async with mod.TaskGroup() as tg:
            tg.create_task(leaf(fut), name='g1')

    async def main():
        loop = mod.get_running_loop()
        fut = loop.create_future()
        tasks = [mod.create_task(c(fut), name=c.__name__)
                 for c in (gatherer, shielder, waiter, awaiter, grouped)]
        for _ in range(5):
            await mod.sleep(0)
        got['fut'] = walk(pgraph.capture_call_graph(fut), drop_asyncio=True)
        got['text'] = re.sub(r'0x[0-9a-f]+|Task-\d+', 'ID', re.sub(
            r"^[ |]*File '" + re.escape(ASYNCIO_DIR) + r"[^']*', line \d+, in "
            r"[^\n]*\n", '', pgraph.format_call_graph(fut) + '\n',
            flags=re.M))
        fut.set_result(None)
        await mod.gather(*tasks)

    run(main, mod)
    return got


def test_differential_combinators_against_asyncio_tasks():
    expected = _shapes(asyncio)
    got = _shapes(pyasync)
    assert got['fut'] == expected['fut']
    assert got['text'] == expected['text']
    names = sorted(e[2][0][0] for e in got['fut'][2])
    # Two gather children, shield's inner, wait's task, the awaited task,
    # the TaskGroup's task: each leaf awaited by the task that made it.
    assert names == ['T<awaiter>', 'T<gatherer>', 'T<gatherer>',
                     'T<grouped>', 'T<shielder>', 'T<waiter>']


# ---- format_tasks / print_tasks -------------------------------------------

def _tree_program():
    out = {}

    async def sleeper():
        await pyasync.sleep(30)

    async def holder(lock):
        async with lock:
            await pyasync.sleep(30)

    async def lock_waiter(lock):
        async with lock:
            pass

    async def fut_waiter(fut):
        await fut

    async def parent(fut):
        await pyasync.gather(sleeper(), fut_waiter(fut))

    async def stream_reader(sock):
        reader, writer = await pyasync.open_connection(sock=sock)
        try:
            await reader.read(10)
        finally:
            writer.close()

    async def main():
        import socket
        loop = pyasync.get_running_loop()
        lock, ev = pyasync.Lock(), pyasync.Event()
        q, full = pyasync.Queue(), pyasync.Queue(maxsize=1)
        full.put_nowait(0)
        fut = loop.create_future()
        a, b = socket.socketpair()
        tasks = [
            pyasync.create_task(holder(lock), name='holder'),
            pyasync.create_task(lock_waiter(lock), name='lock-waiter'),
            pyasync.create_task(ev.wait(), name='event'),
            pyasync.create_task(q.get(), name='getter'),
            pyasync.create_task(full.put(1), name='putter'),
            pyasync.create_task(parent(fut), name='parent'),
            pyasync.create_task(stream_reader(a), name='reader'),
        ]
        for _ in range(5):
            await pyasync.sleep(0)
        await pyasync.sleep(0.01)
        out['text'] = pyasync.format_tasks()
        buf = io.StringIO()
        pyasync.print_tasks(file=buf)
        out['printed'] = buf.getvalue()
        out['fd'] = a.fileno()
        out['main'] = pyasync.current_task().get_name()
        for t in tasks:
            t.cancel()
        fut.cancel()
        await pyasync.gather(*tasks, return_exceptions=True)
        b.close()

    pyasync.run(main())
    return out


def _block(text, title):
    """The lines of the task titled `title` (up to the next title at its
    level or above)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if f"Task(name={title!r}," in line and line.lstrip().startswith('*'):
            indent = len(line) - len(line.lstrip())
            block = [line]
            for nxt in lines[i + 1:]:
                if (nxt.lstrip().startswith('*')
                        and len(nxt) - len(nxt.lstrip()) <= indent):
                    break
                block.append(nxt)
            return block
    raise AssertionError(f'{title} not in:\n{text}')


def test_format_tasks_tree():
    out = _tree_program()
    text = out['text']
    def same(t):   # the main task's line moved on between the two calls
        t = re.sub(r'\d+\.\d+ s left', 'T s left', t)
        return re.sub(r'line \d+, in async _tree_program.<locals>.main',
                      'main', t)
    assert same(out['printed']) == same(text) + '\n'
    assert text.splitlines()[0].startswith('10 tasks on EventLoop at 0x')
    # The main task runs the dump.
    main = _block(text, out['main'])
    assert main[-1].endswith('waiting on: nothing: running now (the current '
                             'task)')
    holder = _block(text, 'holder')
    m = re.search(r'waiting on: sleep\(30\), (\d+\.\d+) s left', holder[-1])
    assert m and 29.0 < float(m.group(1)) <= 30.0, holder
    assert any('in async _tree_program.<locals>.holder()' in l
               for l in holder)
    waiter = _block(text, 'lock-waiter')
    assert re.search(r"waiting on: Lock.acquire\(\) \(async with\) on "
                     r"<pyasync.Lock object at 0x[0-9a-f]+ \[locked, "
                     r"waiters:1\]>, held by Task\(name='holder'",
                     waiter[-1]), waiter
    assert 'Event.wait() on <pyasync.Event' in _block(text, 'event')[-1]
    assert re.search(r'Queue.get\(\) on <Queue at 0x[0-9a-f]+ maxsize=0 '
                     r'_getters\[1\]>', _block(text, 'getter')[-1])
    assert re.search(r'Queue.put\(\) on <Queue at 0x[0-9a-f]+ maxsize=1 _queue=\[0\] '
                     r'_putters\[1\] tasks=1>', _block(text, 'putter')[-1])
    parent = _block(text, 'parent')
    # gather's children are printed under the task that awaits the gather.
    assert 'waiting on: gather() of 2 (0 done)' in parent[2]
    children = [l.strip() for l in parent if l.startswith('    * Task(')]
    assert len(children) == 2, parent
    assert any('sleep(30)' in l for l in parent[3:])
    assert any(re.search(r'waiting on: future Future\(id=0x', l)
               for l in parent[3:])
    reader = _block(text, 'reader')
    assert re.search(rf'waiting on: stream read on fd {out["fd"]} ', reader[-1]), reader
    # Every task appears once as a full entry.
    assert text.count('* Task(') == 10


def test_format_tasks_other_primitives():
    out = {}

    async def cond_wait(c):
        async with c:
            await c.wait()

    async def main():
        c, s, b = pyasync.Condition(), pyasync.Semaphore(0), pyasync.Barrier(2)
        ts = [pyasync.create_task(cond_wait(c), name='cond'),
              pyasync.create_task(s.acquire(), name='sem'),
              pyasync.create_task(b.wait(), name='bar')]
        await pyasync.sleep(0.01)
        out['text'] = pyasync.format_tasks()
        for t in ts:
            t.cancel()
        await pyasync.gather(*ts, return_exceptions=True)

    run(main)
    text = out['text']
    assert re.search(r'waiting on: Condition.wait\(\) on <pyasync.Condition '
                     r'object at 0x[0-9a-f]+ \[unlocked, waiters:1\]>',
                     _block(text, 'cond')[-1])
    assert 'waiting on: Semaphore.acquire() on <pyasync.Semaphore' in (
        _block(text, 'sem')[-1])
    # The barrier, not the Condition it waits on inside.
    bar = _block(text, 'bar')
    assert 'waiting on: Barrier.wait() on <pyasync.Barrier' in bar[-1], bar
    assert any('Condition.wait() (C coroutine)' in l for l in bar)


def test_format_tasks_task_awaited_by_several():
    out = {}

    async def c1(task):
        await task

    async def main():
        fut = pyasync.get_running_loop().create_future()
        async with pyasync.TaskGroup() as tg:
            root = tg.create_task(c1(fut), name='root')
            tg.create_task(c1(root), name='w1')
            tg.create_task(c1(root), name='w2')
            await pyasync.sleep(0)
            await pyasync.sleep(0)
            out['text'] = pyasync.format_tasks()
            fut.set_result(None)

    run(main)
    lines = out['text'].splitlines()
    titles = [l for l in lines if '* Task(' in l]
    # root is awaited by the main task (its TaskGroup), w1 and w2: printed
    # in full under the first, named under the others.
    assert len(titles) == 6, out['text']
    assert sum('(shown above)' in l for l in titles) == 2
    assert titles[0].startswith("* Task(name='Task-")
    names = [re.match(r" *\* Task\(name='([^']+)'", l).group(1)
             for l in titles]
    assert names[1:] == ['root', 'w1', 'root', 'w2', 'root']
    assert [len(l) - len(l.lstrip()) for l in titles] == [0, 4, 4, 8, 4, 8]
    assert [('(shown above)' in l) for l in titles] == [
        False, False, False, True, False, True]


def test_format_tasks_not_running_loop():
    loop = pyasync.new_event_loop()
    try:
        async def idle():
            await pyasync.sleep(10)
        t = loop.create_task(idle(), name='idle')
        loop.run_until_complete(pyasync.sleep(0))
        text = pyasync.format_tasks(loop)
        assert text.splitlines()[0] == (
            f'1 task on EventLoop at {id(loop):#x}:')
        assert "* Task(name='idle'" in text
        assert 'waiting on: sleep(10), ' in text
        t.cancel()
        loop.run_until_complete(pyasync.gather(t, return_exceptions=True))
        assert pyasync.format_tasks(loop) == (
            f'0 tasks on EventLoop at {id(loop):#x}:')
    finally:
        loop.close()


def test_hot_path_untouched_no_registration():
    # awaited-by is derived lazily: awaiting records nothing anywhere.
    async def main():
        t = pyasync.create_task(pyasync.sleep(0.01))
        await t
        assert len(pgraph._registered) == 0
        if sys.version_info >= (3, 14):
            # 3.14's record, kept as asyncio's is: gone once t is done.
            assert t._asyncio_awaited_by is None
        else:
            assert not hasattr(t, '_asyncio_awaited_by')
    run(main)


# ---- the signal dump --------------------------------------------------------

def test_install_refuses_without_debug_and_with_handler():
    loop = pyasync.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match='debug mode only'):
            pyasync.install_task_dump_signal(loop)
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        loop.set_debug(True)
        previous = signal.signal(signal.SIGUSR1, lambda *a: None)
        try:
            with pytest.raises(RuntimeError, match='already has a handler'):
                pyasync.install_task_dump_signal(loop)
        finally:
            signal.signal(signal.SIGUSR1, previous)
        assert pyasync.install_task_dump_signal(loop) is True
        # Once ours is installed, a second call refuses as well.
        with pytest.raises(RuntimeError, match='already has a handler'):
            pyasync.install_task_dump_signal(loop)
        assert loop.remove_signal_handler(signal.SIGUSR1)
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    finally:
        loop.close()


def test_never_installed_automatically():
    async def main():
        return signal.getsignal(signal.SIGUSR1)
    assert pyasync.run(main(), debug=True) == signal.SIG_DFL
    assert pyasync.run(main()) == signal.SIG_DFL


DUMP_SCRIPT = textwrap.dedent("""
    import sys
    import pyasync

    async def worker():
        await pyasync.sleep(60)

    async def main():
        loop = pyasync.get_running_loop()
        print(pyasync.install_task_dump_signal(), flush=True)
        w = pyasync.create_task(worker(), name='worker')
        await pyasync.sleep(0)
        print('ready', flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        w.cancel()
        print('done', line.strip(), flush=True)

    pyasync.run(main(), debug=True)
""")


def test_sigusr1_dump_in_subprocess():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(pyasync.__file__)))
    proc = subprocess.Popen([sys.executable, '-c', DUMP_SCRIPT],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout.readline() == 'True\n'
        assert proc.stdout.readline() == 'ready\n'
        proc.send_signal(signal.SIGUSR1)
        dump = []
        while True:
            line = proc.stderr.readline()
            assert line, dump
            dump.append(line)
            if 'waiting on: sleep(60)' in line:
                break
        proc.stdin.write('go\n')
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
    text = ''.join(dump)
    assert re.search(r'^2 tasks on EventLoop at 0x', text, re.M), text
    assert "* Task(name='Task-1'" in text
    assert "* Task(name='worker'" in text
    assert 'in async main()' in text and 'in async worker()' in text
    assert 'waiting on: future' in text     # main, in run_in_executor
    assert out == 'done go\n'
    assert proc.returncode == 0, err
