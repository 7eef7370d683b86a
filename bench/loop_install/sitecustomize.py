"""Installs the event loop named by $BENCH_LOOP (asyncio, uvloop or pyasync)
at interpreter start, so that a pyperformance script and the worker
processes pyperf spawns for it run unmodified on that loop.

bench/pyperformance_suite.py puts this directory on PYTHONPATH and passes
both variables to pyperf's workers with --inherit-environ.
"""
import os
import warnings

_loop = os.environ.get("BENCH_LOOP", "asyncio")
if _loop != "asyncio":
    import asyncio
    with warnings.catch_warnings():
        # Policies are deprecated from 3.14 on, and still what uvloop and
        # pyperf's asyncio.new_event_loop() go through.
        warnings.simplefilter("ignore", DeprecationWarning)
        if _loop == "uvloop":
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        elif _loop == "pyasync":
            import pyasync
            pyasync.install()
        else:
            raise SystemExit(f"BENCH_LOOP: unknown loop {_loop!r}")
