"""The pytest plugin "pyasync" (pyasync_pytest.py): --pyasync and
--pyasync-compare run a project's pytest-asyncio tests on pyasync's loop,
or on both loops side by side; without them it changes nothing.  Plus the
documented recipes (docs/testing.md) for anyio's plugin and unittest.

Each inner suite runs in its own pytest process (runpytest_subprocess), as a
user's would: the plugin is found through the pytest11 entry point there,
and pytest-asyncio is not disabled (pyasync's own runs pass -p no:asyncio).
"""
import asyncio
import sys
import unittest

import pytest

import pyasync

pytest_plugins = ["pytester"]

# What a user's suite might hold: tests that pass on either loop (one of
# them parametrized), one that passes on stdlib asyncio only, one that
# passes on pyasync only, and a sync test the options must leave alone.
INNER_SUITE = """
import asyncio
import pytest

def loop_module():
    return type(asyncio.get_running_loop()).__module__

async def test_both():
    assert await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0, 2)) == [1, 2]

@pytest.mark.parametrize("n", [1, 2])
async def test_param(n):
    assert await asyncio.wait_for(asyncio.sleep(0, n), 1) == n

async def test_asyncio_only():
    assert loop_module().startswith("asyncio")

async def test_pyasync_only():
    assert loop_module().startswith("pyasync")

def test_sync():
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
"""

# pytest-asyncio's auto mode (no @pytest.mark.asyncio needed); the fixture
# loop scope set so that its deprecation warning stays out of the output.
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def suite(pytester):
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=INNER_SUITE)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)


def test_without_options_nothing_changes(suite):
    # A sync test proves pyasync is not even imported: the plugin is loaded,
    # but imports pyasync only for the options.
    suite.makepyfile(test_imports="""
        import sys

        def test_plugin_loaded_pyasync_not_imported(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("pyasync")
            assert "pyasync" not in sys.modules
    """)
    result = run(suite)
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines([
        "test_imports.py::test_plugin_loaded_pyasync_not_imported PASSED*",
        "test_inner.py::test_both PASSED*",
        "test_inner.py::test_param[[]1] PASSED*",
        "test_inner.py::test_asyncio_only PASSED*",
        "test_inner.py::test_pyasync_only FAILED*",
    ])
    result.stdout.no_fnmatch_line("*pyasync-compare*")
    assert "[asyncio]" not in result.stdout.str()


def test_pyasync_runs_every_asyncio_test_on_pyasync(suite):
    result = run(suite, "--pyasync")
    result.assert_outcomes(passed=5, failed=1)
    # One factory only: pytest (>= 8.4) hides its id, so the ids stay the
    # project's own; older pytest shows it as [pyasync].
    result.stdout.re_match_lines([
        r"test_inner.py::test_both(\[pyasync\])? PASSED",
        r"test_inner.py::test_param\[(pyasync-)?2\] PASSED",
        r"test_inner.py::test_asyncio_only(\[pyasync\])? FAILED",
        r"test_inner.py::test_pyasync_only(\[pyasync\])? PASSED",
        r"test_inner.py::test_sync PASSED",
    ], consecutive=False)
    # The failure shows the loop it ran on.
    result.stdout.fnmatch_lines(["*where 'pyasync.loop' = loop_module()"])
    result.stdout.no_fnmatch_line("*pyasync-compare*")


def test_compare_runs_each_test_on_both_loops_and_lists_the_differences(suite):
    result = run(suite, "--pyasync-compare")
    result.assert_outcomes(passed=9, failed=2)
    result.stdout.fnmatch_lines([
        "test_inner.py::test_both[[]asyncio] PASSED*",
        "test_inner.py::test_both[[]pyasync] PASSED*",
        "test_inner.py::test_param[[]asyncio-1] PASSED*",
        "test_inner.py::test_param[[]pyasync-2] PASSED*",
        "test_inner.py::test_asyncio_only[[]asyncio] PASSED*",
        "test_inner.py::test_asyncio_only[[]pyasync] FAILED*",
        "test_inner.py::test_pyasync_only[[]asyncio] FAILED*",
        "test_inner.py::test_pyasync_only[[]pyasync] PASSED*",
        "test_inner.py::test_sync PASSED*",
    ])
    # The summary comes after the tracebacks, and names the failing variant
    # (a node id to re-run).
    result.stdout.fnmatch_lines([
        "*= FAILURES =*",
        "*= pyasync-compare: asyncio vs pyasync =*",
        "5 tests ran on both loops, 2 pass on one and fail on the other",
        "failed on asyncio only: test_inner.py::test_pyasync_only[[]asyncio]",
        "failed on pyasync only: test_inner.py::test_asyncio_only[[]pyasync]",
        "*= short test summary info =*",
    ])


def test_compare_lists_only_tests_that_pass_on_the_other_loop(pytester):
    # Fails on both: not a difference.  A fixture failing on one loop
    # (an error in setup) is.  A skip on both: not compared.
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner="""
        import asyncio
        import pytest

        @pytest.fixture
        async def stdlib_loop_only():
            if not type(asyncio.get_running_loop()).__module__.startswith("asyncio"):
                raise RuntimeError("wants stdlib's loop")

        async def test_fails_on_both():
            assert False

        async def test_fixture_fails_on_pyasync(stdlib_loop_only):
            pass

        async def test_skipped():
            pytest.skip("on both loops")

        async def test_passes_on_both():
            await asyncio.sleep(0)
    """)
    result = run(pytester, "--pyasync-compare")
    result.assert_outcomes(passed=3, failed=2, errors=1, skipped=2)
    result.stdout.fnmatch_lines([
        "*= pyasync-compare: asyncio vs pyasync =*",
        "4 tests ran on both loops, 1 pass on one and fail on the other",
        "failed on pyasync only: test_inner.py::test_fixture_fails_on_pyasync[[]pyasync]",
    ])
    result.stdout.no_fnmatch_line("failed on asyncio only*")
    result.stdout.no_fnmatch_line("*only: test_inner.py::test_fails_on_both*")


def test_compare_with_no_differences(pytester):
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner="""
        import asyncio

        async def test_sleep():
            await asyncio.sleep(0.01)
    """)
    result = run(pytester, "--pyasync-compare")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*= pyasync-compare: asyncio vs pyasync =*",
        "1 tests ran on both loops, 0 pass on one and fail on the other",
    ])
    result.stdout.no_fnmatch_line("failed on * only:*")


def test_compare_without_asyncio_tests_says_so(pytester):
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner="""
        def test_sync():
            pass
    """)
    result = run(pytester, "--pyasync-compare")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*= pyasync-compare: asyncio vs pyasync =*",
        "no asyncio tests collected in this process (with pytest-xdist, compare with -n 0)",
    ])


def test_the_two_options_exclude_each_other(suite):
    result = run(suite, "--pyasync", "--pyasync-compare")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pyasync and --pyasync-compare exclude each other*"])


def test_the_options_need_pytest_asyncio(suite):
    result = run(suite, "-p", "no:asyncio", "--pyasync")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pyasync needs pytest-asyncio >= 1.5*"])


def test_the_option_wins_over_a_conftest_hook(suite):
    # A project's own pytest_asyncio_loop_factories: the command line
    # decides while an option is given.
    suite.makeconftest("""
        import asyncio

        def pytest_asyncio_loop_factories(config, item):
            return {"stdlib": asyncio.SelectorEventLoop}
    """)
    result = run(suite, "--pyasync")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.re_match_lines([r"test_inner.py::test_asyncio_only(\[pyasync\])? FAILED"],
                                 consecutive=False)
    # Without it, the project's own hook is untouched.
    result = run(suite)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.re_match_lines([r"test_inner.py::test_pyasync_only(\[stdlib\])? FAILED"],
                                 consecutive=False)


def test_anyio_recipe(pytester):
    # docs/testing.md: anyio's own pytest plugin, its asyncio backend with
    # pyasync's loop factory, beside stdlib's.
    pytester.makeconftest("""
        import pytest
        import pyasync

        @pytest.fixture(params=[
            pytest.param(("asyncio", {}), id="asyncio"),
            pytest.param(("asyncio", {"loop_factory": pyasync.new_event_loop}),
                         id="pyasync"),
        ])
        def anyio_backend(request):
            return request.param
    """)
    pytester.makepyfile(test_inner="""
        import asyncio
        import anyio
        import pytest

        @pytest.mark.anyio
        async def test_loop(anyio_backend):
            loop = type(asyncio.get_running_loop()).__module__
            on_pyasync = "loop_factory" in anyio_backend[1]
            assert loop == ("pyasync.loop" if on_pyasync else "asyncio.unix_events")
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0)
            assert await anyio.to_thread.run_sync(sum, [1, 2]) == 3
    """)
    result = run(pytester, "-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*::test_loop[[]asyncio] PASSED*",
                                 "*::test_loop[[]pyasync] PASSED*"])


def run_case(case_class):
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case_class).run(result)
    assert not result.errors and not result.failures, (result.errors, result.failures)
    assert result.testsRun == 1


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason="IsolatedAsyncioTestCase.loop_factory is new in 3.13 "
                           "(older versions: the policy recipe, tested below)")
def test_unittest_loop_factory_recipe():
    # docs/testing.md: the attribute, in a subclass for the second loop.
    seen = []

    class Case(unittest.IsolatedAsyncioTestCase):
        async def asyncSetUp(self):
            seen.append(("setUp", type(self).__name__,
                         type(asyncio.get_running_loop())))

        async def test_loop(self):
            seen.append(("test", type(self).__name__,
                         type(asyncio.get_running_loop())))
            await asyncio.sleep(0)

    class CaseOnPyasync(Case):
        # The class: a function here would become a method of the case.
        loop_factory = pyasync.EventLoop

    run_case(Case)
    run_case(CaseOnPyasync)
    assert seen[2:] == [("setUp", "CaseOnPyasync", pyasync.EventLoop),
                        ("test", "CaseOnPyasync", pyasync.EventLoop)]
    assert [(when, name) for when, name, _ in seen[:2]] == [("setUp", "Case"), ("test", "Case")]
    assert all(loop.__module__ == "asyncio.unix_events" for _, _, loop in seen[:2])


def test_unittest_policy_recipe():
    # Before 3.13 IsolatedAsyncioTestCase asks the policy for its loop.
    seen = []

    class Case(unittest.IsolatedAsyncioTestCase):
        @classmethod
        def setUpClass(cls):
            asyncio.set_event_loop_policy(pyasync.EventLoopPolicy())

        @classmethod
        def tearDownClass(cls):
            asyncio.set_event_loop_policy(None)

        async def test_loop(self):
            seen.append(type(asyncio.get_running_loop()))

    try:
        run_case(Case)
    finally:
        asyncio.set_event_loop_policy(None)
    assert seen == [pyasync.EventLoop]
