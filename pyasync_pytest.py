"""pytest options that run a project's asyncio tests on pyasync's loop.

pyasync registers this module as the pytest plugin "pyasync" (the pytest11
entry point), so every pytest run in an environment with pyasync loads it.
It is inert unless asked for:

    pytest --pyasync            every pytest-asyncio test on pyasync's loop
    pytest --pyasync-compare    every pytest-asyncio test twice, ids [asyncio]
                                and [pyasync], and a closing summary of the
                                tests that fail on one loop only

Both work through pytest-asyncio's (>= 1.5) hook
`pytest_asyncio_loop_factories`, which parametrizes each asyncio test over
the loop factories it returns.  The hook is implemented by an object
registered only when an option is given: pytest-asyncio parametrizes as soon
as any implementation exists and rejects a None answer, so merely defining
the hook here would change every project's tests.

This module is top-level, not in the pyasync package, on purpose: importing
pyasync costs tens of milliseconds and pulls in asyncio, ssl and the C
extension, which a run without the options should not pay.  pyasync is
imported only when an option is given.

pyasync's fixtures for tests written against pyasync itself (a loop on a
virtual clock) are a separate plugin: `-p pyasync.pytest_plugin`.
"""
import pytest

_HOOK = "pytest_asyncio_loop_factories"


def pytest_addoption(parser):
    group = parser.getgroup("pyasync", "pyasync event loop")
    group.addoption(
        "--pyasync", action="store_true", default=False,
        help="run asyncio tests (pytest-asyncio) on pyasync's event loop")
    group.addoption(
        "--pyasync-compare", action="store_true", default=False,
        help="run each asyncio test (pytest-asyncio) on stdlib asyncio's "
             "loop and on pyasync's, ids [asyncio] and [pyasync], and list "
             "the tests that fail on one loop only")


def pytest_configure(config):
    only = config.getoption("pyasync")
    compare = config.getoption("pyasync_compare")
    if not (only or compare):
        return
    if only and compare:
        raise pytest.UsageError(
            "--pyasync and --pyasync-compare exclude each other")
    # pytest-asyncio adds its hookspecs in pytest_addoption, before any
    # pytest_configure: no hook attribute means no (recent) pytest-asyncio.
    if not hasattr(config.hook, _HOOK):
        raise pytest.UsageError(
            f"--pyasync{'-compare' if compare else ''} needs pytest-asyncio "
            f">= 1.5 (its {_HOOK} hook); install it, and do not disable it "
            "with -p no:asyncio")
    import pyasync
    factories = {"pyasync": pyasync.new_event_loop}
    if compare:
        factories = {"asyncio": _stdlib_loop, **factories}
    config.pluginmanager.register(_LoopFactories(factories),
                                  "pyasync-loop-factories")
    if compare:
        config.pluginmanager.register(_Comparison(factories),
                                      "pyasync-compare")


def _stdlib_loop():
    """stdlib asyncio's own loop.

    Not asyncio.new_event_loop(): that asks the current policy, which
    after pyasync.install() (or uvloop's install()) is not stdlib's.
    pyasync runs on POSIX, where stdlib's default is the selector loop.
    """
    import asyncio
    return asyncio.SelectorEventLoop()


class _LoopFactories:
    """The answer to pytest-asyncio's hook: the loops to run tests on."""

    def __init__(self, factories):
        self.factories = factories

    # tryfirst: the hook is firstresult, and an option given on the command
    # line should win over a project's own implementation in a conftest.py.
    @pytest.hookimpl(tryfirst=True)
    def pytest_asyncio_loop_factories(self, config, item):
        return self.factories


# pytest-asyncio's parameter (an indirect fixture) carrying the factory.
_FACTORY_PARAM = "_asyncio_loop_factory"


class _Comparison:
    """Outcomes of each test per loop, and the summary of the tests that
    pass on one loop and fail on the other."""

    def __init__(self, factories):
        self.names = {id(f): name for name, f in factories.items()}
        self.loops = list(factories)
        self.variant = {}     # nodeid -> (test key, loop name)
        self.outcome = {}     # test key -> {loop name: (outcome, nodeid)}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec is None or _FACTORY_PARAM not in callspec.params:
                continue
            name = self.names.get(id(callspec.params[_FACTORY_PARAM]))
            if name is None:    # a factory of the project's own hook
                continue
            # The [asyncio] and [pyasync] variants of one test differ only
            # in the factory's id among the "-"-joined parameter ids
            # (test_x[asyncio-1] and test_x[pyasync-1]); without it they
            # name the same test.  (callspec.indices would not do: pytest
            # 9 numbers parameter sets across the factories.)
            ids = callspec.id.split("-")
            if name in ids:
                ids.remove(name)
            key = (item.parent.nodeid, item.originalname, "-".join(ids))
            self.variant[item.nodeid] = (key, name)

    def pytest_runtest_logreport(self, report):
        found = self.variant.get(report.nodeid)
        if found is None:
            return
        key, name = found
        per_loop = self.outcome.setdefault(key, {})
        # A failure in any phase (setup, call, teardown) fails the test;
        # otherwise the call phase decides (passed or skipped/xfailed).
        if report.failed:
            per_loop[name] = ("failed", report.nodeid)
        elif report.when == "call" and name not in per_loop:
            per_loop[name] = ("passed" if report.passed else "skipped",
                              report.nodeid)

    def differences(self):
        """{loop name: [nodeids of tests that fail on that loop only]}."""
        fails_only = {name: [] for name in self.loops}
        for per_loop in self.outcome.values():
            if len(per_loop) != len(self.loops):
                continue    # deselected, or the run stopped early (-x)
            failed = [n for n, (o, _) in per_loop.items() if o == "failed"]
            passed = [n for n, (o, _) in per_loop.items() if o == "passed"]
            if len(failed) == 1 and passed:
                fails_only[failed[0]].append(per_loop[failed[0]][1])
        return fails_only

    def pytest_terminal_summary(self, terminalreporter):
        fails_only = self.differences()
        compared = sum(len(p) == len(self.loops) for p in self.outcome.values())
        differ = sum(map(len, fails_only.values()))
        tr = terminalreporter
        tr.section("pyasync-compare: asyncio vs pyasync",
                   red=bool(differ), green=not differ)
        if not self.variant:
            # Under pytest-xdist the workers collect and this process only
            # sees their reports, without the items that pair them.
            tr.write_line("no asyncio tests collected in this process "
                          "(with pytest-xdist, compare with -n 0)")
            return
        tr.write_line(f"{compared} tests ran on both loops, "
                      f"{differ} pass on one and fail on the other")
        for name, nodeids in fails_only.items():
            for nodeid in nodeids:
                tr.write_line(f"failed on {name} only: {nodeid}")
