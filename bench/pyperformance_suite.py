"""pyperformance's asyncio benchmarks on asyncio, uvloop and pyasync.

    python -m bench --suite pyperformance [--reps N] [--cases a,b]

The scripts are pyperformance's own (the wheel installed with the bench
extra), run unmodified: bench/loop_install/sitecustomize.py installs the
loop named by $BENCH_LOOP when each interpreter starts, pyperf's worker
processes included (they inherit the two variables).  The benchmark list
and each one's options come from the scripts' .toml manifests, so a
benchmark runs on the Pythons pyperformance runs it on.

Each measurement is one pyperf run in fresh processes (one worker: a
warm-up and three values of one loop each); repetitions interleave the
implementations.  The median over every value of every repetition is
what the table shows.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import tomllib
except ImportError:  # not reached on 3.11+, pyasync's oldest
    tomllib = None

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP_INSTALL = os.path.join(HERE, "loop_install")
ASYNCIO_BENCHMARKS = ("bm_async_generators", "bm_async_tree",
                      "bm_asyncio_tcp", "bm_asyncio_websockets")
PYPERF_OPTIONS = ["--processes", "1", "--warmups", "1", "--values", "3",
                  "--loops", "1"]


def benchmarks_dir():
    import pyperformance
    return os.path.join(os.path.dirname(pyperformance.__file__),
                        "data-files", "benchmarks")


def _version_ok(requires):
    """True when this Python satisfies a ">=X.Y" requirement."""
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)", (requires or ">=3.0").strip())
    return match is None or sys.version_info[:2] >= (
        int(match.group(1)), int(match.group(2)))


def discover():
    """{name: (script, extra options)} for this Python, in the manifests'
    order: the base pyproject.toml of each benchmark directory, then its
    bm_*.toml variants (which inherit the base's requires-python)."""
    root = benchmarks_dir()
    found = {}
    for directory in ASYNCIO_BENCHMARKS:
        path = os.path.join(root, directory)
        script = os.path.join(path, "run_benchmark.py")
        with open(os.path.join(path, "pyproject.toml"), "rb") as f:
            base = tomllib.load(f)
        base_requires = base.get("project", {}).get("requires-python")
        manifests = [base] + [
            tomllib.load(open(os.path.join(path, name), "rb"))
            for name in sorted(os.listdir(path))
            if name.startswith("bm_") and name.endswith(".toml")]
        for manifest in manifests:
            bench = manifest["tool"]["pyperformance"]
            requires = manifest.get("project", {}).get(
                "requires-python", base_requires)
            if _version_ok(requires):
                found[bench["name"]] = (script, bench.get("extra_opts", []))
    return found


def run_one(impl, name, spec):
    """One pyperf run of benchmark `name` on `impl`: (values in seconds,
    None) or (None, the error's last line)."""
    script, extra = spec
    env = dict(os.environ, BENCH_LOOP=impl,
               PYTHONPATH=os.pathsep.join(
                   [LOOP_INSTALL] + [p for p in os.environ.get(
                       "PYTHONPATH", "").split(os.pathsep) if p]))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "out.json")
        proc = subprocess.run(
            [sys.executable, script, *extra, *PYPERF_OPTIONS, "--quiet",
             "--inherit-environ", "BENCH_LOOP,PYTHONPATH", "-o", out_path],
            capture_output=True, text=True, env=env, timeout=900,
            cwd=tmp)
        if proc.returncode != 0 or not os.path.exists(out_path):
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            # The benchmark's own exception, not pyperf's report that a
            # worker failed.
            raised = [line for line in lines if re.match(
                r"[A-Za-z_.]+(Error|Exception|Interrupt):", line)
                and "failed with exit code" not in line]
            return None, ((raised or lines or ["failed"])[-1])
        with open(out_path) as f:
            data = json.load(f)
    values = [v for run in data["benchmarks"][0]["runs"]
              for v in run.get("values", [])]
    return values, None


def collect(names, impls, reps, specs):
    values = {(n, i): [] for n in names for i in impls}
    errors = {}
    for rep in range(reps):
        for name in names:
            for impl in impls:
                if (name, impl) in errors:
                    continue
                got, err = run_one(impl, name, specs[name])
                if err:
                    errors[(name, impl)] = err
                    continue
                values[(name, impl)].extend(got)
        print(f"pyperformance repetition {rep + 1}/{reps} done",
              file=sys.stderr, flush=True)
    return values, errors
