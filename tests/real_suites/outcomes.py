"""pytest plugin (-p outcomes): each test's outcome, written as JSON to the
file named by $REAL_SUITE_OUTCOMES when the session ends.

A test's outcome is "failed" if any phase failed, else "skipped" if it was
skipped (xfail included), else "passed"."""
import json
import os

_outcomes = {}


def pytest_runtest_logreport(report):
    now = _outcomes.get(report.nodeid)
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and now != "failed":
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and now is None:
        _outcomes[report.nodeid] = "passed"


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("REAL_SUITE_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f, indent=0, sort_keys=True)
