"""The README's commands and examples stay true.

The Python examples run as written, on pyasync and (with pyasync's lines
swapped for asyncio's) on stdlib asyncio, and print the same; the bench
command runs on two cases; every script, document and image the README
names exists.  The long commands are run elsewhere: scripts/test.sh and
scripts/build_wheels.sh by .ci/run, the notebook of scripts/demo.sh by
tests/test_notebook.py (the README says so, and this file checks that it
does).
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    README = f.read()


def code_blocks(lang):
    """The README's fenced blocks of lang, dedented, in order."""
    blocks = []
    for m in re.finditer(r"^( *)```" + lang + r"\n(.*?)^\1```", README,
                         re.S | re.M):
        indent = len(m.group(1))
        blocks.append("".join(line[indent:] + "\n"
                              for line in m.group(2).splitlines()))
    return blocks


PYTHON = code_blocks("python")
SHELL = code_blocks("sh")


def run(src, timeout=60):
    proc = subprocess.run([sys.executable, "-c", src], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    return proc.returncode, proc.stdout, proc.stderr


def block(startswith):
    found = [b for b in PYTHON if b.startswith(startswith)]
    assert len(found) == 1, f"one README example starting {startswith!r}"
    return found[0]


def test_the_readme_has_its_examples_and_two_commands():
    assert len(PYTHON) >= 5
    assert any("scripts/demo.sh" in b and "scripts/test.sh" in b
               for b in SHELL)
    # .ci/run calls the README's test command.
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert "bash scripts/test.sh" in f.read()


def test_first_example_prints_as_asyncio_does():
    example = block("import pyasync as asyncio")
    got = run(example)
    expected = run(example.replace("import pyasync as asyncio",
                                   "import asyncio"))
    assert expected == (0, "hello\nworld\n", "")
    assert got == expected


def test_install_example_runs_unmodified_asyncio_code_on_pyasync():
    defs = block("import pyasync as asyncio").rsplit("asyncio.run(", 1)[0]
    defs = defs.replace("import pyasync as asyncio", "import asyncio")
    example = block("import asyncio, pyasync")
    probe = ("\nloop_type = []\n_orig = main\n"
             "async def main():\n"
             "    loop_type.append(type(asyncio.get_running_loop()).__module__.split('.')[0])\n"
             "    await _orig()\n")
    src = defs + probe + example + "print(loop_type)\n"
    rc, out, err = run(src)
    assert (rc, out) == (0, "hello\nworld\n['pyasync']\n")
    if sys.version_info >= (3, 14):
        # What the README says: install() works and says it is deprecated
        # with asyncio's policies; nothing else warns.
        assert err.count("DeprecationWarning") == 1, err
        assert "pyasync.install() is deprecated in favor of pyasync.run()" in err
    else:
        assert err == ""


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="asyncio.run(loop_factory=) is 3.12's")
def test_loop_factory_example():
    defs = block("import pyasync as asyncio").rsplit("asyncio.run(", 1)[0]
    src = ("import asyncio as _stdlib\n" + defs
           + block("asyncio.run(main(), loop_factory").replace(
               "asyncio.run(", "_stdlib.run(", 1))
    assert "pyasync.new_event_loop" in src
    assert run("import pyasync\n" + src) == (0, "hello\nworld\n", "")


def test_free_threading_example_runs_a_loop_per_thread():
    example = block("import threading, pyasync")
    src = example + ("\nimport sys\n"
                     "print(len(threads), getattr(sys, '_is_gil_enabled',"
                     " lambda: True)())\n")
    # Without PYTHON_GIL (CI sets it for the suite): pyasync's import
    # alone decides, and on a free-threaded build the GIL stays off.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    proc = subprocess.run([sys.executable, "-c", src], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env)
    free = bool(__import__("sysconfig").get_config_var("Py_GIL_DISABLED"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, f"4 {not free}\n", "")


def test_diagnostics_example_explains_the_deadlock_then_skips_the_hour():
    example = block("import pyasync\n")
    first, second = example.split("async def slow():")
    rc, out, err = run(first, timeout=30)
    assert rc == 1
    assert re.search(r"DeadlockError: Task 'Task-1' would wait forever for "
                     r"<pyasync\.Lock .*>, which it holds itself "
                     r"\(acquired at .* in main\)", err), err
    # The hour-long sleep on the virtual clock: it returns (a hang would hit
    # the timeout) and the loop's clock moved by the hour.
    src = ("import pyasync\nasync def slow():" + second.replace(
        "pyasync.run(slow(), clock=pyasync.VirtualClock())",
        "clock = pyasync.VirtualClock()\n"
        "t = pyasync.run(slow(), clock=clock)\n"
        "print(clock.time() >= 3600)")
        .replace("await pyasync.sleep(3600)",
                 "await pyasync.sleep(3600)\n    return None"))
    assert run(src, timeout=30) == (0, "True\n", "")


def test_every_named_path_exists():
    named = set(re.findall(r"\b((?:scripts|docs|bench|notebooks|tests|csrc)"
                           r"/[\w./-]+\.(?:sh|py|md|png|ipynb|c))\b", README))
    named |= set(re.findall(r"\]\(([\w./-]+)\)", README))
    named = {p for p in named if "://" not in p}
    assert len(named) > 15
    missing = sorted(p for p in named if not os.path.exists(os.path.join(ROOT, p)))
    assert missing == []
    for script in ("scripts/demo.sh", "scripts/test.sh",
                   "scripts/build_wheels.sh", "scripts/sanitize.sh"):
        assert os.access(os.path.join(ROOT, script), os.X_OK), script


def test_demo_notebook_is_what_the_notebook_test_runs():
    with open(os.path.join(ROOT, "scripts", "demo.sh")) as f:
        demo = f.read()
    with open(os.path.join(ROOT, "tests", "test_notebook.py")) as f:
        notebook_test = f.read()
    for name in ("run_notebook.py", "asyncio.ipynb"):
        assert name in demo and name in notebook_test


def test_bench_command_runs():
    cmd = [b for b in SHELL if "-m bench --quick" in b]
    assert cmd, "the README shows python -m bench --quick"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--reps", "1",
         "--cases", "call_soon,sleep0_switch", "--no-write"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith(("| call_soon", "| sleep0_switch"))]
    assert len(rows) == 2, proc.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        # Measured times for asyncio and pyasync (and uvloop when the bench
        # extra is installed), then pyasync's speed-up against each.
        times = [c for c in cells if re.match(r"[\d.]+ [nu]?s \(", c)]
        ratios = [c for c in cells if re.fullmatch(r"[\d.]+x", c)]
        assert len(times) >= 2 and len(ratios) == len(times) - 1, row
