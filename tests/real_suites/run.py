"""Run a real library's own test suite on stdlib asyncio and on pyasync,
and compare them test by test.

    python tests/real_suites/run.py uvloop|anyio [--workdir DIR]

Run it with the interpreter of a venv that has pyasync and
tests/real_suites/requirements.txt installed (scripts/real_suites.sh makes
one per Python).  The suite comes from the library's sdist on PyPI, at the
pinned version: uvloop's ships tests/ (its asyncio-flavoured classes, the
`AIO` ones, run here: the others test uvloop's own loop), anyio's ships
tests/ (its asyncio backend; trio is not installed and the uvloop-backed
parameters test uvloop, so both are left out).

The suite runs twice, in fresh pytest processes: as shipped (stdlib
asyncio), then with -p pyasync_loop (pyasync's loop everywhere asyncio
would make one).  Every test that passes on stdlib must pass on pyasync;
one that does not is rerun once on its own (timing-sensitive tests) and
fails the run if it fails again.  LEFT_OUT names the tests run on neither
loop, each with its reason.  Exit status 0 when pyasync passes
everything stdlib passes.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Per suite: the pytest arguments (after the test directory) that select
# what runs on both loops.
SUITES = {
    "uvloop": ["-k", "AIO"],
    # IPv6 left out: machines without an IPv6 localhost (this project's CI
    # has no ::1) fail those tests on stdlib too, and their unclosed
    # resources then fail neighbouring IPv4 tests as well.
    "anyio": ["-m", "not network",
              "-k", "not uvloop and not trio and not ipv6 and not dualstack"],
}

ASYNCIO_TASK_ISINSTANCE = (
    "asserts isinstance(task, asyncio.Task): a pyasync Task is an "
    "asyncio.Future but not an asyncio.Task (docs/differences.md says why "
    "and what changing it costs)")

# Tests left out (deselected on both loops), by node id: why (or
# (first Python version, why)).
LEFT_OUT = {
    "uvloop": {
        "tests/test_base.py::TestBaseAIO::test_set_task_factory":
            ASYNCIO_TASK_ISINSTANCE + " (the factory itself is tested by "
            "the lines before that assertion, which pass)",
        "tests/test_udp.py::Test_AIO_UDP::test_socketpair":
            "takes any loop whose class is not in asyncio.* for uvloop and "
            "then tries uvloop's extension transport.sendto(data) without "
            "an address on an unnamed socketpair, which asyncio's transport "
            "refuses (its sock.sendto(data, None) raises TypeError) as "
            "pyasync's does; the recv() it then runs in an executor blocks "
            "that thread for good, so pytest could not even exit",
        "tests/test_base.py::TestBaseAIO::test_set_task_name": (
            (3, 14),
            "3.14's create_task() hands name= to the task factory and no "
            "longer calls task.set_name() after it; the test expects that "
            "of asyncio's own loop class only (is_asyncio_loop()) and "
            "expects uvloop's set_name() call of any other loop; pyasync "
            "does what 3.14's asyncio does"),
    },
    "anyio": {
        "tests/test_taskgroups.py::test_asyncio_call_graph[asyncio-anyio]": (
            (3, 14), ASYNCIO_TASK_ISINSTANCE),
        "tests/test_taskgroups.py::test_asyncio_call_graph[asyncio-asyncio]":
            ((3, 14), ASYNCIO_TASK_ISINSTANCE),
        # With asyncio's eager factory set on pyasync's loop, the tasks are
        # pyasync's eager Tasks too (docs/versions.md, 3.12).
        "tests/test_taskgroups.py::test_asyncio_call_graph"
        "[asyncio+eager-anyio]": ((3, 14), ASYNCIO_TASK_ISINSTANCE),
        "tests/test_taskgroups.py::test_asyncio_call_graph"
        "[asyncio+eager-asyncio]": ((3, 14), ASYNCIO_TASK_ISINSTANCE),
    },
}

RUN_TIMEOUT = 30 * 60       # one whole-suite run (s)
TEST_TIMEOUT = 120          # one test (s)
EXIT_GRACE = 30             # pytest's exit after its last test (s)


def pinned_version(name):
    for line in (HERE / "requirements.txt").read_text().splitlines():
        m = re.fullmatch(r"%s==(\S+)" % re.escape(name), line.strip())
        if m:
            return m.group(1)
    raise SystemExit("real_suites: %s is not pinned in requirements.txt"
                     % name)


def suite_tree(name, workdir):
    """The sdist of the pinned version, unpacked once into workdir."""
    version = pinned_version(name)
    tree = workdir / ("%s-%s" % (name, version))
    if (tree / "tests").is_dir():
        return tree
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q",
                        "--no-deps", "--no-binary", ":all:", "-d", tmp,
                        "%s==%s" % (name, version)], check=True)
        (archive,) = pathlib.Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
    if name == "uvloop":
        # Its tests must import the installed (compiled) uvloop, not the
        # sources beside them.
        shutil.rmtree(tree / "uvloop")
    return tree


def run_pytest(tree, args, on_pyasync, label):
    """Outcomes {node id: passed|failed|skipped} of one pytest process."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    env = dict(os.environ, REAL_SUITE_OUTCOMES=out,
               PYTHONPATH=os.pathsep.join(
                   [str(HERE)] + [p for p in [os.environ.get("PYTHONPATH")]
                                  if p]))
    cmd = [sys.executable, "-m", "pytest", "-p", "outcomes",
           "-p", "no:cacheprovider", "-q", "-rN", "--tb=line",
           # A test that hangs fails alone (pytest-timeout).
           "-p", "timeout", "--timeout=%d" % TEST_TIMEOUT]
    if on_pyasync:
        cmd += ["-p", "pyasync_loop"]
    cmd += args
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True,
                                preexec_fn=default_signals)
        wait_for_pytest(proc, out, label)
        log.seek(0)
        output = log.read()
    try:
        with open(out) as f:
            outcomes = json.load(f)
    except (OSError, ValueError):
        sys.stdout.write(output[-5000:])
        raise SystemExit("real_suites: %s: pytest wrote no outcomes (exit %d)"
                         % (label, proc.returncode))
    finally:
        os.unlink(out)
    print("real_suites: %s: %s in %.0f s" % (
        label, count_line(outcomes), time.monotonic() - t0), flush=True)
    return outcomes, output


def wait_for_pytest(proc, outcomes_file, label):
    """Wait for pytest to exit; once it has written its outcomes, give it
    EXIT_GRACE seconds (a suite may leave an executor thread blocked,
    which keeps the interpreter from exiting) and then kill it."""
    deadline = time.monotonic() + RUN_TIMEOUT
    written_at = None
    while proc.poll() is None:
        now = time.monotonic()
        if written_at is None and os.path.getsize(outcomes_file) > 0:
            written_at = now
        if now > deadline or (written_at is not None
                              and now - written_at > EXIT_GRACE):
            proc.kill()
            proc.wait()
            print("real_suites: %s: pytest did not exit by itself: killed"
                  % label, flush=True)
            return
        time.sleep(0.5)


def default_signals():
    """In the pytest child: the default actions of the signals the suites
    send to their own children (uvloop's send SIGINT and SIGHUP).  A shell
    starting us in the background, or nohup, leaves them ignored, which
    every child would inherit and then sleep through those tests."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def left_out_here(name):
    """LEFT_OUT[name] for this Python: {node id: reason}.  A reason given
    as (version, reason) holds from that version on."""
    here = {}
    for nodeid, why in LEFT_OUT[name].items():
        if isinstance(why, tuple):
            since, why = why
            if sys.version_info < since:
                continue
        here[nodeid] = why
    return here


def count_line(outcomes):
    counts = {}
    for o in outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    return ", ".join("%d %s" % (counts.get(k, 0), k)
                     for k in ("passed", "failed", "skipped"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--workdir", type=pathlib.Path,
                        default=ROOT / ".real_suites")
    parser.add_argument("--show-output", action="store_true",
                        help="print pyasync's pytest output")
    args = parser.parse_args()
    name = args.suite
    tree = suite_tree(name, args.workdir)
    pyver = "%d.%d" % sys.version_info[:2]
    selection = ["tests"] + SUITES[name]
    left_out = left_out_here(name)
    for nodeid in left_out:
        selection += ["--deselect", nodeid]

    stdlib, _ = run_pytest(tree, selection, False,
                           "%s suite, Python %s, stdlib asyncio"
                           % (name, pyver))
    ours, output = run_pytest(tree, selection, True,
                              "%s suite, Python %s, pyasync" % (name, pyver))
    if args.show_output:
        print(output)
    wanted = sorted(n for n, o in stdlib.items() if o == "passed")
    missing = [n for n in wanted if ours.get(n) != "passed"]
    flaky = []
    if missing:
        # Once more, each on its own: a test that passes now was timing.
        again = {}
        for n in missing:
            o, _ = run_pytest(tree, [n], True, "rerun %s" % n)
            again.update(o)
        flaky = [n for n in missing if again.get(n) == "passed"]
        missing = [n for n in missing if again.get(n) != "passed"]
    only_ours = sorted(n for n, o in ours.items()
                       if o == "passed" and stdlib.get(n) != "passed")
    passed = sum(1 for n in wanted if n not in missing)
    print("real_suites: %s suite, Python %s: stdlib passes %d, pyasync "
          "passes %d of them%s; left out: %d"
          % (name, pyver, len(wanted), passed,
             " (%d on a rerun)" % len(flaky) if flaky else "",
             len(left_out)))
    for n in flaky:
        print("  passed on its rerun only: %s" % n)
    for n in only_ours:
        print("  passes on pyasync only: %s" % n)
    for n in missing:
        print("  FAILS on pyasync only: %s" % n)
    if missing:
        for line in output.splitlines():
            if any(n.split("::")[-1] in line for n in missing):
                print("    " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
