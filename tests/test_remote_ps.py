"""`python -m pyasync ps PID` / `pstree PID` (3.14+) against asyncio's own
`python -m asyncio ps` / `pstree` on the same program run on asyncio: the
same task table and tree, up to ids, thread ids and order, and the frames
asyncio's Python primitives have where pyasync's C ones have none."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(sys, "remote_exec"),
                                reason="sys.remote_exec() is new in 3.14")

PROGRAM = textwrap.dedent("""
    import sys, asyncio
    aio = __import__(sys.argv[1])

    async def leaf(ev):
        await ev.wait()

    async def worker(ev):
        await aio.gather(leaf(ev), leaf(ev))

    async def main():
        ev = aio.Event()
        async with aio.TaskGroup() as tg:
            tg.create_task(worker(ev), name='worker-1')
            tg.create_task(aio.sleep(3600), name='sleeper')
            await aio.sleep(0)
            print('ready', flush=True)
            await ev.wait()      # idle from here on: nothing wakes the loop

    aio.run(main())
""")


def _inspect(tmp_path, impl, tool):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    prog = subprocess.Popen([sys.executable, str(script), impl],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert prog.stdout.readline() == "ready\n"
        out = {}
        for command in ("ps", "pstree"):
            res = subprocess.run([sys.executable, "-m", tool, command,
                                  str(prog.pid)], capture_output=True,
                                 text=True, env=env, timeout=60)
            assert res.returncode == 0, res.stdout + res.stderr
            out[command] = res.stdout
        return out
    finally:
        prog.kill()
        prog.wait()


def _table(text):
    """The ps table's rows, ids and thread ids replaced, sorted."""
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["tid", "task", "id"]
    rows = []
    for line in lines[2:]:
        line = re.sub(r"0x[0-9a-f]+", "ID", line)
        rows.append(" ".join(line.split()[1:]))     # without the tid
    return sorted(rows)


# asyncio's primitives are Python code with a file and line; pyasync's
# are C code, named alone.
_ASYNCIO_FRAME = re.compile(r" \S*/asyncio/\w+\.py:\d+$")


def _tree(text):
    lines = []
    for line in text.splitlines():
        line = _ASYNCIO_FRAME.sub("", line.replace("├", "└"))
        lines.append(line.replace("│", " "))
    return sorted(lines)


def test_ps_and_pstree_show_what_asyncio_shows(tmp_path):
    ours = _inspect(tmp_path, "pyasync", "pyasync")
    theirs = _inspect(tmp_path, "asyncio", "asyncio")
    assert _table(ours["ps"]) == _table(theirs["ps"])
    assert len(_table(ours["ps"])) == 5
    assert _tree(ours["pstree"]) == _tree(theirs["pstree"])
    assert "(T) worker-1" in ours["pstree"]


def test_asyncio_tool_sees_no_pyasync_task(tmp_path):
    # Why pyasync has its own tool (pyasync/remote.py): asyncio's reads
    # _asyncio's task lists, where pyasync's tasks are not.
    theirs = _inspect(tmp_path, "pyasync", "asyncio")
    assert len(theirs["ps"].splitlines()) == 2      # the header only


def test_no_answer_is_reported_not_awaited_forever():
    # A process running no pyasync loop never reaches a safe point here.
    sleeper = subprocess.Popen([sys.executable, "-c",
                                "import time; time.sleep(60)"])
    try:
        res = subprocess.run([sys.executable, "-m", "pyasync", "ps",
                              str(sleeper.pid), "--timeout", "0.5"],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ,
                                      PYTHONPATH=os.pathsep.join(sys.path)))
        assert res.returncode == 1
        assert "did not answer within 0.5 s" in res.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
