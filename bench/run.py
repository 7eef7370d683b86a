"""Benchmark runner: every case on asyncio, uvloop and pyasync, interleaved.

    python -m bench [--quick] [--reps N] [--cases a,b]
                    [--suite own|pyperformance|all]

Two suites: the project's own cases (bench/cases.py, per operation) and
pyperformance's asyncio benchmarks (bench/pyperformance_suite.py, per
benchmark run, unmodified scripts).  Each measurement runs in a fresh
process; repetitions interleave the three implementations so that machine
noise hits all of them alike.  Prints a table per suite (median, spread,
ratios) and writes the running Python's sections of bench/RESULTS.md and
bench/speedups-X.Y.png.
"""
import argparse
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

from bench import pyperformance_suite, threads_bench
from bench.cases import CASES, MEMORY

IMPLEMENTATIONS = ("asyncio", "uvloop", "pyasync")
HERE = os.path.dirname(os.path.abspath(__file__))


def available(impl):
    module = {"asyncio": "asyncio", "uvloop": "uvloop", "pyasync": "pyasync"}[impl]
    probe = subprocess.run([sys.executable, "-c", f"import {module}"],
                           capture_output=True, cwd=os.path.dirname(HERE))
    return probe.returncode == 0


def run_one(impl, case, n):
    out = subprocess.run(
        [sys.executable, "-m", "bench.worker", impl, case, str(n)],
        capture_output=True, text=True, cwd=os.path.dirname(HERE), timeout=600)
    if out.returncode != 0:
        # The exception, not the warnings that a dying process prints after
        # it (a never-awaited coroutine, say).
        lines = out.stderr.strip().splitlines()
        raised = [line for line in lines
                  if re.match(r"[A-Za-z_.]+(Error|Exception|Interrupt):", line)]
        return None, (raised or lines)[-1:] or ["failed"]
    return float(out.stdout.strip()), None


def collect(cases, impls, reps, scale):
    per_op = {(c, i): [] for c in cases for i in impls}
    errors = {}
    for rep in range(reps):
        for case in cases:
            n = max(1, int(CASES[case][1] * scale))
            for impl in impls:
                if (case, impl) in errors:
                    continue
                seconds, err = run_one(impl, case, n)
                if err:
                    errors[(case, impl)] = err[0]
                    continue
                per_op[(case, impl)].append(
                    seconds if case in MEMORY else seconds / n)
        print(f"repetition {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    return per_op, errors


def fmt_time(seconds):
    for unit, factor in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if seconds * factor >= 1:
            return f"{seconds * factor:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def fmt_bytes(count):
    for unit, factor in (("MB", 2 ** 20), ("KB", 2 ** 10)):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count:.0f} B"


def table(cases, impls, per_op, errors, label=None, geomean=False):
    """Markdown-ready rows: each case's medians and pyasync's speed-up
    against each peer; with geomean, a last row of the speed-ups'
    geometric means over the cases both ran."""
    label = label or (lambda case: f"{case} (per {CASES[case][2]})")
    head = ["case"] + [f"{i} median (spread)" for i in impls]
    peers = [i for i in impls if i != "pyasync"]
    head += [f"pyasync speed-up vs {i}" for i in peers]
    rows = []
    medians = {}
    for case in cases:
        row = [label(case)]
        for impl in impls:
            samples = per_op[(case, impl)]
            if not samples:
                row.append(f"failed: {errors.get((case, impl), '?')}"[:60])
                continue
            med = statistics.median(samples)
            medians[(case, impl)] = med
            spread = (max(samples) - min(samples)) / med * 100
            shown = fmt_bytes(med) if case in MEMORY else fmt_time(med)
            row.append(f"{shown} (±{spread / 2:.0f}%)")
        for impl in peers:
            a, p = medians.get((case, impl)), medians.get((case, "pyasync"))
            row.append(f"{a / p:.2f}x" if a and p else "-")
        rows.append(row)
    if geomean:
        row = ["geometric mean"] + [""] * len(impls)
        for impl in peers:
            ratios = [medians[(c, impl)] / medians[(c, "pyasync")]
                      for c in cases
                      if (c, impl) in medians and (c, "pyasync") in medians]
            row.append(f"**{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x** "
                       f"({len(ratios)} benchmarks)" if ratios else "-")
        rows.append(row)
    return head, rows, medians


def markdown(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def chart(cases, impls, medians, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    peers = [i for i in impls if i != "pyasync"]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(cases) + 1.5))
    height = 0.8 / max(1, len(peers))
    for k, peer in enumerate(peers):
        ys = [j + k * height for j in range(len(cases))]
        xs = [medians[(c, peer)] / medians[(c, "pyasync")]
              if (c, peer) in medians and (c, "pyasync") in medians else 0
              for c in cases]
        ax.barh(ys, xs, height=height, label=f"vs {peer}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks([j + height * (len(peers) - 1) / 2 for j in range(len(cases))])
    ax.set_yticklabels(cases)
    ax.invert_yaxis()
    ax.set_xlabel("pyasync speed-up (x times faster; >1 is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _uvloop_version():
    probe = subprocess.run(
        [sys.executable, "-c", "import uvloop; print(uvloop.__version__)"],
        capture_output=True, text=True, cwd=os.path.dirname(HERE))
    return probe.stdout.strip() if probe.returncode == 0 else None


BEGIN = "<!-- python {} results: written by python -m bench -->"
END = "<!-- end of python {} results -->"


def write_section(path, version, body, kind=""):
    """Replace (or add, in version order) this version's section of
    RESULTS.md for suite `kind` ("" for the project's own cases, else
    e.g. " pyperformance"); the other sections and the notes stay."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmark results\n\n"
    begin, end = BEGIN.format(version + kind), END.format(version + kind)
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        # Before the first section of a later version, else at the end of
        # the sections, else after the title.
        later = [v + k
                 for v in ("3.11", "3.12", "3.13", "3.14", "3.14t", "3.15")
                 for k in ("", " pyperformance", " threads")
                 if (v, k) > (version, kind) and BEGIN.format(v + k) in text]
        if later:
            marker = BEGIN.format(later[0])
            text = text.replace(marker, block + "\n\n" + marker, 1)
        else:
            lines = text.split("\n")
            last = max((i for i, line in enumerate(lines)
                        if line.startswith("<!-- end of python")), default=1)
            lines.insert(last + 1, "\n" + block)
            text = "\n".join(lines)
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true",
                        help="own cases at small sizes, 3 repetitions "
                             "(under a minute); pyperformance's once "
                             "(about 4 minutes)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--cases", default=None,
                        help="comma-separated case or benchmark names")
    parser.add_argument("--suite", choices=("own", "pyperformance", "threads",
                                            "all"),
                        default="all",
                        help="all: own and pyperformance (threads: loops "
                             "in threads, 1 and N, on its own)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    impls = [i for i in IMPLEMENTATIONS if available(i)]
    chosen = args.cases.split(",") if args.cases else None
    if args.suite == "threads":
        run_threads(args, impls)
        return
    if args.suite in ("own", "all"):
        cases = [c for c in (chosen or CASES) if c in CASES]
        if cases:
            run_own(args, impls, cases)
    if args.suite in ("pyperformance", "all"):
        try:
            specs = pyperformance_suite.discover()
        except ImportError:
            print("pyperformance is not installed (pip install -e "
                  "'.[bench]'): its suite is skipped", file=sys.stderr)
            return
        names = [n for n in (chosen or specs) if n in specs]
        if names:
            run_pyperformance(args, impls, names, specs)


def _version():
    """X.Y, or X.Yt for a free-threaded build: the RESULTS.md section."""
    import sysconfig
    return "%d.%d%s" % (sys.version_info[0], sys.version_info[1],
                        "t" if sysconfig.get_config_var("Py_GIL_DISABLED")
                        else "")


def run_threads(args, impls):
    reps = args.reps or (1 if args.quick else 5)
    threads = os.cpu_count() or 2
    started = time.time()
    results = threads_bench.collect(impls, reps, threads)
    text = threads_bench.table(impls, results, threads)
    print(text)
    if args.no_write:
        return
    version = _version()
    import sysconfig
    gil = ("free-threaded build, GIL off"
           if sysconfig.get_config_var("Py_GIL_DISABLED") else "with the GIL")
    section = [f"### Loops in threads on Python {version} ({gil})\n",
               f"Machine: {_machine()}.  Each thread runs its own loop "
               f"through the same mix ({threads_bench.OPERATIONS:,} "
               f"operations: "
               + ", ".join(f"{c} {n:,}" for c, n in threads_bench.MIX)
               + f"); {reps} interleaved repetitions, each in a fresh "
               f"process, median throughput; {time.time() - started:.0f} s "
               f"in all.  uvloop {_uvloop_version() or '(not installed)'}.\n",
               text + "\n"]
    write_section(os.path.join(HERE, "RESULTS.md"), version,
                  "\n".join(section), kind=" threads")
    print(f"wrote {os.path.join(HERE, 'RESULTS.md')}")


def _machine():
    return (f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.platform()}, Python {platform.python_version()}")


def run_own(args, impls, cases):
    reps = args.reps or (3 if args.quick else 7)
    scale = 0.05 if args.quick else 1.0
    started = time.time()
    per_op, errors = collect(cases, impls, reps, scale)
    head, rows, medians = table(cases, impls, per_op, errors)
    text = markdown(head, rows)
    print(text)
    if args.no_write:
        return
    version = _version()
    png = f"speedups-{version}.png"
    section = [f"## Python {version}\n",
               f"Machine: {_machine()}.  {reps} interleaved repetitions, each in "
               f"a fresh process{' (--quick sizes)' if args.quick else ''}; "
               f"{time.time() - started:.0f} s in all.  Against Python "
               f"{version}'s own asyncio and uvloop "
               f"{_uvloop_version() or '(not installed)'}.\n",
               text + "\n"]
    if chart(cases, impls, medians, os.path.join(HERE, png)):
        section.append(f"![speed-ups on {version}]({png})\n")
    write_section(os.path.join(HERE, "RESULTS.md"), version,
                  "\n".join(section))
    print(f"wrote {os.path.join(HERE, 'RESULTS.md')}")


def run_pyperformance(args, impls, names, specs):
    reps = args.reps or (1 if args.quick else 3)
    started = time.time()
    values, errors = pyperformance_suite.collect(names, impls, reps, specs)
    head, rows, _ = table(names, impls, values, errors,
                          label=lambda name: name, geomean=True)
    text = markdown(head, rows)
    print(text)
    if args.no_write:
        return
    import pyperformance
    version = _version()
    path = os.path.join(HERE, "RESULTS.md")
    if args.cases and merge_rows(path, version, rows, reps):
        print(f"updated {', '.join(names)} in {path}")
        return
    section = [f"### pyperformance {pyperformance.__version__}'s asyncio "
               f"benchmarks on Python {version}\n",
               f"Machine: {_machine()}.  {reps} interleaved repetitions, each "
               f"a pyperf run in fresh processes (a warm-up and 3 values); "
               f"median time per benchmark run; "
               f"{time.time() - started:.0f} s in all.  Against Python "
               f"{version}'s own asyncio and uvloop "
               f"{_uvloop_version() or '(not installed)'}.\n",
               text + "\n"]
    write_section(path, version, "\n".join(section), kind=" pyperformance")
    print(f"wrote {path}")


def merge_rows(path, version, rows, reps):
    """Put the rows of benchmarks measured again (--cases) into this
    version's pyperformance table, note it under the table, and compute
    the geometric means again; False when there is no table to merge into."""
    begin = BEGIN.format(version + " pyperformance")
    end = END.format(version + " pyperformance")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return False
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    body, tail = rest.split(end, 1)
    new = {r[0]: "| " + " | ".join(r) + " |" for r in rows
           if r[0] != "geometric mean"}
    lines = body.split("\n")
    names_in_table = [ln.split("|")[1].strip() for ln in lines
                      if ln.startswith("| ")]
    if not set(new) <= set(names_in_table):
        return False
    lines = [new.get(ln.split("|")[1].strip(), ln) if ln.startswith("| ")
             else ln for ln in lines]
    # The geometric means of the speed-up columns, from the rows as they
    # now stand.
    table_rows = [ln for ln in lines if ln.startswith("| ")
                  and not ln.startswith("| case")
                  and not ln.startswith("| geometric mean")]
    cells = [[c.strip() for c in ln.strip("|").split("|")]
             for ln in table_rows]
    ncols = len(cells[0])
    peers = (ncols - 1) // 2
    means = []
    for col in range(ncols - peers, ncols):
        ratios = [float(c[col].rstrip("x")) for c in cells
                  if re.fullmatch(r"[0-9.]+x", c[col])]
        means.append(f"**{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x** "
                     f"({len(ratios)} benchmarks)" if ratios else "-")
    geo = "| " + " | ".join(["geometric mean"] + [""] * (ncols - 1 - peers)
                            + means) + " |"
    lines = [geo if ln.startswith("| geometric mean") else ln
             for ln in lines]
    note = (f"Measured again on {time.strftime('%Y-%m-%d')} after a change "
            f"({reps} repetitions): {', '.join(new)}.")
    last = max(i for i, ln in enumerate(lines) if ln.startswith("| "))
    lines.insert(last + 1, "\n" + note)
    with open(path, "w") as f:
        f.write(head + begin + "\n".join(lines) + end + tail)
    return True


if __name__ == "__main__":
    main()
