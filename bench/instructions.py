"""Instructions per operation, counted by callgrind: repeatable where wall
time is not (these machines are shared; the same build's timings move by
tens of percent between runs, its instruction counts by well under 1%).

    python -m bench.instructions [--cases a,b] [--scale 0.1]

Each case runs in bench.worker under `valgrind --tool=callgrind` twice, at
n and 2n operations (the worker adds a warm-up of a tenth of that); the
difference of the two totals divided by the 1.1 n operations between them
is the cost of one operation, start-up and imports cancelled out.  Prints a
Markdown table: instructions per operation on asyncio, uvloop and pyasync,
and pyasync's ratio against each.  The core cases only by default: the
network ones spend their time in another process and in the kernel.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from bench.cases import CASES, MEMORY
from bench.run import IMPLEMENTATIONS, available

CORE = ("call_soon", "timers_fired", "timers_cancelled", "sleep0_switch",
        "gather_tasks", "future_roundtrip", "lock_counter", "event_fanout",
        "queue_pingpong")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def total_instructions(impl, case, n):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-m", "bench.worker", impl, case, str(n)],
            capture_output=True, text=True, cwd=ROOT, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        m = re.search(r"Collected : (\d+)", proc.stderr)
        return int(m.group(1))


def per_op(impl, case, n):
    small = total_instructions(impl, case, n)
    large = total_instructions(impl, case, 2 * n)
    # bench.worker runs n // 10 as a warm-up, then n.
    return (large - small) / (2 * n + 2 * n // 10 - n - n // 10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CORE))
    parser.add_argument("--scale", type=float, default=0.1,
                        help="fraction of each case's usual size (default 0.1)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench.instructions needs valgrind")
    cases = [c for c in args.cases.split(",") if c]
    for case in cases:
        if case not in CASES or case in MEMORY:
            raise SystemExit(f"not a timed case: {case}")
    impls = [i for i in IMPLEMENTATIONS if available(i)]
    print(f"Python {sys.version.split()[0]}: instructions per operation "
          "(callgrind)\n")
    print("| case | " + " | ".join(impls) + " | "
          + " | ".join(f"pyasync vs {i}" for i in impls if i != "pyasync")
          + " |")
    print("|---" * (2 * len(impls)) + "|")
    for case in cases:
        n = max(10, int(CASES[case][1] * args.scale))
        counts = {}
        for impl in impls:
            try:
                counts[impl] = per_op(impl, case, n)
            except RuntimeError as e:
                counts[impl] = None
                print(f"{case} on {impl} failed: {e}", file=sys.stderr)
        ours = counts.get("pyasync")
        cells = [f"{counts[i]:,.0f}" if counts[i] else "failed" for i in impls]
        ratios = [f"{counts[i] / ours:.2f}x" if counts[i] and ours else "-"
                  for i in impls if i != "pyasync"]
        print(f"| {case} | " + " | ".join(cells + ratios) + " |", flush=True)


if __name__ == "__main__":
    main()
