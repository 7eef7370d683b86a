"""Execute a notebook headless with nbclient, one progress line per cell.

    python notebooks/run_notebook.py [--kernel pyasync] [--pyasync-imports]
                                     [--out DIR] [--html] [NOTEBOOK]

--pyasync-imports is variant (b): before running, code cells get
`import pyasync as asyncio` for `import asyncio` and `from pyasync import`
for `from asyncio import`, so every asyncio object in the cells is
pyasync's.  Without it (variant (a)) the cells run unmodified and, on the
pyasync kernel, stdlib asyncio runs on pyasync's loop.
"""
import argparse
import os
import re
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))


def to_pyasync_imports(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.source = re.sub(r"(?m)^(\s*)import asyncio\s*$",
                              r"\1import pyasync as asyncio", c.source)
            c.source = re.sub(r"(?m)^(\s*)from asyncio import ",
                              r"\1from pyasync import ", c.source)
    return nb


class ProgressClient(NotebookClient):
    def __init__(self, *a, progress=None, **kw):
        super().__init__(*a, **kw)
        self._progress = progress
        self._n_code = sum(c.cell_type == "code" for c in self.nb.cells)
        self._i = 0

    async def async_execute_cell(self, cell, cell_index, *a, **kw):
        if cell.cell_type != "code":
            return await super().async_execute_cell(cell, cell_index, *a, **kw)
        self._i += 1
        t = time.monotonic()
        try:
            return await super().async_execute_cell(cell, cell_index, *a, **kw)
        finally:
            if self._progress:
                first = cell.source.strip().split("\n")[0][:50]
                errs = [o["ename"] for o in cell.outputs if o.get("output_type") == "error"]
                self._progress(f"[{self._i:2}/{self._n_code}] {time.monotonic() - t:5.1f}s "
                               f"{first}{'  -> ' + errs[0] if errs else ''}")


def execute(path, kernel, pyasync_imports=False, progress=None, timeout=600):
    nb = nbformat.read(path, as_version=4)
    if pyasync_imports:
        to_pyasync_imports(nb)
    client = ProgressClient(nb, kernel_name=kernel, timeout=timeout,
                            allow_errors=True, progress=progress,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    client.execute()
    if kernel == "pyasync":
        nb.metadata["kernelspec"] = {"name": "pyasync", "display_name": "Python 3 (pyasync)",
                                     "language": "python"}
    return nb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("notebook", nargs="?", default=os.path.join(HERE, "asyncio.ipynb"))
    p.add_argument("--kernel", default="pyasync")
    p.add_argument("--pyasync-imports", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    p.add_argument("--html", action="store_true")
    a = p.parse_args()
    print(f"Executing {a.notebook} on kernel {a.kernel!r}"
          f"{' with import pyasync as asyncio' if a.pyasync_imports else ''}", flush=True)
    t = time.monotonic()
    nb = execute(a.notebook, a.kernel, a.pyasync_imports,
                 progress=lambda s: print(s, flush=True))
    os.makedirs(a.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(a.notebook))[0] + f".{a.kernel}"
    if a.pyasync_imports:
        stem += ".pyasync-imports"
    ipynb = os.path.join(a.out, stem + ".ipynb")
    nbformat.write(nb, ipynb)
    print(f"Done in {time.monotonic() - t:.0f} s.\nExecuted notebook: {ipynb}")
    if a.html:
        from nbconvert import HTMLExporter
        body, _ = HTMLExporter().from_notebook_node(nb)
        html = os.path.join(a.out, stem + ".html")
        with open(html, "w", encoding="utf-8") as f:
            f.write(body)
        print(f"HTML copy:         {html}")


if __name__ == "__main__":
    sys.exit(main())
