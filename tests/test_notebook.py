"""notebooks/asyncio.ipynb executed headless (nbclient) on three kernels:

- stdlib:   the standard python3 kernel (asyncio's loop) - the reference;
- dropin:   the pyasync kernel, cells unmodified (`import asyncio`): stdlib
            asyncio's objects on pyasync's loop;
- pyasync:  the pyasync kernel, cells with `import pyasync as asyncio` and
            `from pyasync import ...` (notebooks/run_notebook.py's
            to_pyasync_imports): every object is pyasync's.

The three executions run concurrently in subprocesses (each about 90 s).
Each code cell's outputs on dropin/pyasync must equal stdlib's after
normalising what legitimately differs between runs: addresses (0x...),
the order of a printed set of tasks (hash order, i.e. by address),
task numbers (Task-N), elapsed times (`Time: 2.0025...` to 1 decimal),
the cell file names (/tmp/ipykernel_PID/NNN.py), and for errors the
traceback frames (only ename and evalue are compared: the frames inside
asyncio vs pyasync necessarily differ).

Two cells are compared differently, by design:
- the first code cell prints the loop's type: asserted per kernel;
- the Semaphore/aiohttp cell: the order in which 100 requests finish
  depends on socket timing, so its lines are compared as a multiset.
"""
import collections
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the notebook extra")
pytest.importorskip("nbclient", reason="needs the notebook extra")
pytest.importorskip("ipykernel", reason="needs the notebook extra")

import asyncio
import pyasync

# the module fixture runs the three executions (about 140 s together); its
# time counts against the first test's limit
pytestmark = pytest.mark.timeout(900)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB = os.path.join(ROOT, "notebooks", "asyncio.ipynb")
RUN = os.path.join(ROOT, "notebooks", "run_notebook.py")

VARIANTS = {
    "stdlib": ["--kernel", "python3"],
    "dropin": ["--kernel", "pyasync"],
    "pyasync": ["--kernel", "pyasync", "--pyasync-imports"],
}
LOOP_TYPE = {
    "stdlib": "<class 'asyncio.unix_events._UnixSelectorEventLoop'>",
    "dropin": "<class 'pyasync.kernel.KernelEventLoop'>",
    "pyasync": "<class 'pyasync.kernel.KernelEventLoop'>",
}

_src = nbformat.read(NB, as_version=4)
CODE = [c.source for c in _src.cells if c.cell_type == "code"]
AIOHTTP_CELLS = [i for i, s in enumerate(CODE)
                 if "LocalServer" in s or "ClientSession" in s or "server.__aexit__" in s]
SEMAPHORE_CELL = next(i for i, s in enumerate(CODE) if "ClientSession" in s)

NO_TRANSPORTS = (pyasync.EventLoop.create_server
                 is asyncio.AbstractEventLoop.create_server)


def _install_kernel():
    subprocess.run([sys.executable, "-m", "pyasync.kernel", "install",
                    "--prefix", sys.prefix], check=True, capture_output=True)


def _run(variant, outdir):
    out = os.path.join(outdir, variant)
    p = subprocess.run([sys.executable, RUN, NB, "--out", out] + VARIANTS[variant],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{variant}: {p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    (path,) = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".ipynb")]
    nb = nbformat.read(path, as_version=4)
    return [c.outputs for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    _install_kernel()
    d = str(tmp_path_factory.mktemp("nb"))
    with ThreadPoolExecutor(len(VARIANTS)) as ex:
        futs = {v: ex.submit(_run, v, d) for v in VARIANTS}
        return {v: f.result() for v, f in futs.items()}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def normalise_text(s):
    s = _ANSI.sub("", s)
    s = re.sub(r"0x[0-9a-fA-F]+", "0xADDR", s)
    s = re.sub(r"Task-\d+", "Task-N", s)
    s = re.sub(r"(/tmp/ipykernel_\d+/\d+\.py|<ipython-input-[\w-]+>)", "<cell>", s)
    s = re.sub(r"(Time: )(\d+\.\d+)", lambda m: m[1] + f"{float(m[2]):.1f}", s)
    # a printed set of tasks is in hash (address) order: sort its members
    s = re.sub(r"(?m)^\{(<Task .*>)\}$",
               lambda m: "{" + ", ".join(sorted(re.split(r", (?=<Task )", m[1]))) + "}", s)
    return s


def normalise(outputs):
    """Outputs as comparable tuples; consecutive stream chunks joined."""
    res = []
    for o in outputs:
        t = o["output_type"]
        if t == "stream":
            text = normalise_text(o["text"])
            if res and res[-1][0] == "stream" and res[-1][1] == o["name"]:
                res[-1] = ("stream", o["name"], res[-1][2] + text)
            else:
                res.append(("stream", o["name"], text))
        elif t in ("execute_result", "display_data"):
            res.append((t, normalise_text(o["data"].get("text/plain", ""))))
        elif t == "error":
            res.append(("error", o["ename"], normalise_text(o["evalue"])))
        else:
            res.append((t, json.dumps(o, sort_keys=True)))
    return res


def test_kernelspec_installs():
    from jupyter_client.kernelspec import KernelSpecManager
    _install_kernel()
    spec = KernelSpecManager().get_kernel_spec("pyasync")
    assert spec.display_name == "Python 3 (pyasync)"
    assert spec.argv[1:3] == ["-m", "pyasync.kernel"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_first_cell_prints_loop_type(executed, variant):
    assert normalise(executed[variant][0]) == [("stream", "stdout", LOOP_TYPE[variant] + "\n")]


def _cell_params():
    for v in ("dropin", "pyasync"):
        for i in range(1, len(CODE)):
            marks = []
            if i in AIOHTTP_CELLS and NO_TRANSPORTS:
                marks.append(pytest.mark.xfail(
                    strict=True, reason="needs stream transports (issue 4): "
                    "pyasync's EventLoop.create_server is still asyncio's abstract one"))
            first = CODE[i].strip().split("\n")[0][:30]
            yield pytest.param(v, i, marks=marks, id=f"{v}-{i:02}-{first}")


@pytest.mark.parametrize("variant,index", list(_cell_params()))
def test_cell_output_equals_stdlib(executed, variant, index):
    want = normalise(executed["stdlib"][index])
    got = normalise(executed[variant][index])
    if index == SEMAPHORE_CELL:
        lines = lambda outs: collections.Counter(
            l for o in outs for l in "".join(o[2:]).splitlines())
        want_lines, got_lines = lines(want), lines(got)
        assert want_lines["Finishing requesting"] == 100
        assert got_lines == want_lines
    else:
        assert got == want


def test_stdlib_reference_is_the_notebooks(executed):
    """The reference run itself shows what the user's notebook showed."""
    out = {i: normalise(o) for i, o in enumerate(executed["stdlib"])}
    race = next(i for i, s in enumerate(CODE) if "increment_counter()" in s and "lock" not in s)
    # the markdown after the cell: "на выходе получили 1" (the seed's
    # rendered output, 10000, contradicts its own text; asyncio prints 1)
    assert out[race] == [("stream", "stdout", "1\n")]
    locked = next(i for i, s in enumerate(CODE) if "increment_counter(lock)" in s)
    assert out[locked] == [("stream", "stdout", "10000\n")]
    deadlocks = [i for i, s in enumerate(CODE) if "wait_for(main(), timeout=3)" in s]
    assert len(deadlocks) == 3
    for i in deadlocks:
        assert out[i][-1][:2] == ("error", "TimeoutError")
