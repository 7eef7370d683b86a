#!/usr/bin/env python
"""Long differential-fuzzing soak: random coroutine programs on stdlib
asyncio and on pyasync, compared trace by trace (see tests/fuzz/).

    .venv/bin/python scripts/fuzz_soak.py --minutes 30 [--seed N]

Draws programs from the same hypothesis strategy as the CI test, for the
given time, and reports how many were compared, how many were discarded as
timing-unstable (asyncio's own trace changes under a perturbed loop) and
every mismatch (with its program, so it can be replayed).  Exit status 1 if
any program mismatched.
"""
import argparse
import os
import random
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from hypothesis.errors import NonInteractiveExampleWarning  # noqa: E402

from fuzz.compare import SAME, Mismatch, compare  # noqa: E402
from fuzz.program import programs  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--max-programs", type=int, default=0,
                    help="stop after this many programs (0: no limit)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("fuzz soak: seed %d, %.1f minutes" % (seed, args.minutes),
          flush=True)
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    random.seed(seed)
    strategy = programs()
    end = time.monotonic() + args.minutes * 60
    counts = {"same": 0, "unstable": 0, "mismatch": 0}
    n = 0
    while time.monotonic() < end and (not args.max_programs
                                      or n < args.max_programs):
        program = strategy.example()
        n += 1
        try:
            outcome = compare(program, seed=n)
        except Mismatch as exc:
            counts["mismatch"] += 1
            print("MISMATCH #%d:\n%s" % (n, exc), flush=True)
            continue
        counts[outcome] += 1
        if n % 500 == 0:
            print("  %d programs: %r" % (n, counts), flush=True)
    print("fuzz soak: %d programs compared identical, %d discarded as "
          "timing-unstable, %d mismatched (seed %d)"
          % (counts[SAME], counts["unstable"], counts["mismatch"], seed))
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())
