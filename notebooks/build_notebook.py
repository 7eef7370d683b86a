"""Recreate notebooks/asyncio.ipynb from ../shared/seed/asyncio_notebook.txt.

The seed is a text rendering (markdown, `In [None]:` code cells, outputs).
The boundaries between code, its outputs and the next markdown are not
machine-readable there, so they are listed below by line number (checked by
hand against the seed).  Outputs are not copied: the notebook is executed.

Adaptations (each also explained in a markdown note next to the cell):
- a first code cell prints the running loop's type;
- a cell before the Semaphore example starts a local aiohttp server (no
  internet here) and the example fetches server.url instead of
  https://www.example.com; a cell after it stops the server;
- the three deadlock cells end by themselves: `await main()` becomes
  `await asyncio.wait_for(main(), timeout=3)`.

    python notebooks/build_notebook.py [SEED] [OUT]
"""
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "..", "..", "shared", "seed", "asyncio_notebook.txt")

# cell number -> (last code line, first markdown line after it or None)
CELLS = {
    1: (70, 72), 2: (77, 79), 3: (91, 99), 4: (102, 106), 5: (124, 131),
    6: (160, 167), 7: (176, 181), 8: (186, 190), 9: (195, 199),
    10: (215, 220), 11: (223, 225), 12: (228, None), 13: (234, None),
    14: (241, None), 15: (246, 250), 16: (267, 272), 17: (293, 305),
    18: (326, None), 19: (337, 350), 20: (365, 372), 21: (396, 403),
    22: (421, None), 23: (445, None), 24: (469, 476), 25: (507, None),
    26: (521, None), 27: (535, 543), 28: (570, 584), 29: (614, 619),
    30: (653, 658), 31: (686, 694), 32: (715, 725), 33: (753, 755),
    34: (844, 878), 35: (909, 911), 36: (950, 952), 37: (958, None),
    38: (964, None), 39: (999, None), 40: (1009, 1011),
}

DEADLOCK = (31, 32, 33)
SEMAPHORE = 34

FIRST_CELL_NOTE = (
    "*Примечание (pyasync).* Эта ячейка добавлена: она показывает, какой цикл "
    "событий выполняет ячейки (`asyncio.get_running_loop()`); на ядре "
    "«Python 3 (pyasync)» это `pyasync.kernel.KernelEventLoop` (цикл pyasync, `pyasync.EventLoop`), на стандартном "
    "ядре — `asyncio.unix_events._UnixSelectorEventLoop`.")
FIRST_CELL = ("import asyncio\n"
              "print(type(asyncio.get_running_loop()))")

SERVER_NOTE = (
    "*Примечание (pyasync).* Здесь нет доступа в интернет, поэтому пример "
    "ниже запрашивает не `https://www.example.com`, а локальный aiohttp-сервер "
    "(`notebooks/semaphore_server.py`), который запускает следующая ячейка; "
    "в примере изменён только URL. Сервер считает одновременные запросы, "
    "последняя ячейка раздела его останавливает и печатает статистику.")
SERVER_START = ("from semaphore_server import LocalServer\n\n"
                "server = await LocalServer().__aenter__()")
SERVER_STOP = ("await server.__aexit__(None, None, None)\n"
               "print(f'requests served: {server.served}, '\n"
               "      f'most in flight: {server.most_in_flight}')")

DEADLOCK_NOTE = (
    "*Примечание (pyasync).* В оригинале эта ячейка зависает навсегда "
    "(её прерывали вручную — отсюда `CancelledError`). Чтобы ноутбук "
    "выполнялся без участия человека, `await main()` заменено на "
    "`await asyncio.wait_for(main(), timeout=3)`: через 3 секунды ячейка "
    "завершается с `TimeoutError`.")


def split_markdown(lines):
    """One markdown cell per heading-led block (the seed drops cell breaks)."""
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return []
    blocks, cur = [], []
    in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("#") and cur and "\n".join(cur).strip():
            blocks.append("\n".join(cur).strip("\n"))
            cur = []
        cur.append(line)
    if "\n".join(cur).strip():
        blocks.append("\n".join(cur).strip("\n"))
    return [new_markdown_cell(b) for b in blocks]


def build(seed_path=SEED):
    with open(seed_path, encoding="utf-8") as f:
        seed = f.read().split("\n")
    line = lambda n: seed[n - 1]  # 1-based, as the table
    markers = [i + 1 for i, l in enumerate(seed) if l == "In [None]:"]
    assert len(markers) == len(CELLS), (len(markers), len(CELLS))
    cells = split_markdown(seed[:markers[0] - 1])
    cells.append(new_markdown_cell(FIRST_CELL_NOTE))
    cells.append(new_code_cell(FIRST_CELL))
    for k, start in enumerate(markers, 1):
        last, md = CELLS[k]
        nxt = markers[k] if k < len(markers) else len(seed) + 1
        assert start < last < nxt and (md is None or last < md < nxt), k
        code = "\n".join(line(n) for n in range(start + 1, last + 1)).rstrip()
        if k == SEMAPHORE:
            cells.append(new_markdown_cell(SERVER_NOTE))
            cells.append(new_code_cell(SERVER_START))
            assert code.count('"https://www.example.com"') == 1
            code = code.replace('"https://www.example.com"', "server.url")
        if k in DEADLOCK:
            cells.append(new_markdown_cell(DEADLOCK_NOTE))
            assert code.endswith("\nawait main()"), k
            code = code[:-len("await main()")] + \
                "await asyncio.wait_for(main(), timeout=3)"
        cells.append(new_code_cell(code))
        if k == SEMAPHORE:
            cells.append(new_code_cell(SERVER_STOP))
        if md is not None:
            cells.extend(split_markdown(seed[md - 1:nxt - 1]))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3",
                       "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


if __name__ == "__main__":
    seed = sys.argv[1] if len(sys.argv) > 1 else SEED
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "asyncio.ipynb")
    nb = build(seed)
    for c in nb.cells:  # stable ids: diffs stay readable
        pass
    nbformat.write(nb, out)
    print(f"wrote {out}: {len(nb.cells)} cells "
          f"({sum(c.cell_type == 'code' for c in nb.cells)} code)")
