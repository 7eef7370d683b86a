"""A sleep(0) switch on pyasync's loop against a bare coroutine send
driven from C (issue 6's target: within 2x).

    python -m bench.send_baseline [--reps 5] [N]

Builds bench/send_baseline.c against this Python (into bench/out/) on
first use, then alternates, each in a fresh process: the C driver, and
the sleep0_switch case on pyasync (bench/cases.py: 100 tasks, each
`await pyasync.sleep(0)` in a loop).  Prints the medians per switch and
their ratio.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "send_baseline.c")
CACHE = os.path.join(HERE, "out")


def build():
    target = os.path.join(CACHE, "send_baseline")
    if (os.path.exists(target)
            and os.path.getmtime(target) >= os.path.getmtime(SOURCE)):
        return target
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("send_baseline needs a C compiler")
    libdir = sysconfig.get_config_var("LIBDIR")
    version = sysconfig.get_config_var("LDVERSION")
    os.makedirs(CACHE, exist_ok=True)
    cmd = [cc, "-O2", "-Wall", "-Wextra",
           "-I", sysconfig.get_paths()["include"], SOURCE,
           "-o", target, "-L", libdir, f"-lpython{version}",
           f"-Wl,-rpath,{libdir}", "-lm"]
    subprocess.run(cmd, check=True)
    return target


def c_send(exe, n):
    out = subprocess.run([exe, str(n)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def loop_switch(n):
    out = subprocess.run(
        [sys.executable, "-m", "bench.worker", "pyasync", "sleep0_switch",
         str(n)], capture_output=True, text=True, check=True,
        cwd=os.path.dirname(HERE))
    return float(out.stdout) / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    exe = build()
    bare, looped = [], []
    for _ in range(args.reps):
        bare.append(c_send(exe, args.n))
        looped.append(loop_switch(args.n))
    b, s = statistics.median(bare), statistics.median(looped)
    print(f"bare coroutine send from C: {b * 1e9:.0f} ns per switch")
    print(f"pyasync sleep(0) switch:    {s * 1e9:.0f} ns per switch")
    print(f"ratio: {s / b:.2f}x (target: within 2x)")


if __name__ == "__main__":
    main()
