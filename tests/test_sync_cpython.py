"""CPython's own test_locks and test_queues, run against pyasync's primitives.

The test modules use the module-global name `asyncio`.  Fresh copies of
them are executed with `import asyncio` resolving to a shim: asyncio's
namespace with the primitives and queues replaced by pyasync's.  Their
TestCase classes are re-exported here (prefixed `Pyasync`) for pytest.
"""
import asyncio
import builtins
import importlib.util
import sys
import types
import unittest

import pyasync

REPLACED = ("Lock", "Event", "Condition", "Semaphore", "BoundedSemaphore",
            "Barrier", "Queue", "PriorityQueue", "LifoQueue", "QueueEmpty",
            "QueueFull", "BrokenBarrierError")
if hasattr(asyncio, "QueueShutDown"):  # 3.13+
    REPLACED += ("QueueShutDown",)

# Tests that fail for a known, accepted reason: name -> reason.
SKIPS = {
}

EXPECTED_FAILURES = {
}


def make_shim():
    shim = types.ModuleType("asyncio")
    shim.__dict__.update(asyncio.__dict__)
    for name in REPLACED:
        setattr(shim, name, getattr(pyasync, name))
    return shim


def load_test_module(name, shim):
    spec = importlib.util.find_spec(f"test.test_asyncio.{name}")
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    real_import = builtins.__import__

    def shim_import(modname, globals=None, locals=None, fromlist=(), level=0):
        if modname == "asyncio" and not fromlist and level == 0:
            return shim
        return real_import(modname, globals, locals, fromlist, level)

    module = types.ModuleType(f"pyasync_cpython_{name}")
    module.__file__ = spec.origin
    bltns = dict(builtins.__dict__)
    bltns["__import__"] = shim_import
    module.__dict__["__builtins__"] = bltns
    sys.modules[module.__name__] = module
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    return module


def export_cases(module, namespace):
    for attr, obj in list(vars(module).items()):
        if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                and obj.__module__ == module.__name__):
            cls = type(f"Pyasync{attr}", (obj,), {"__module__": __name__})
            for test, reason in SKIPS.items():
                cname, _, meth = test.partition(".")
                if cname == attr and hasattr(cls, meth):
                    setattr(cls, meth, unittest.skip(reason)(getattr(obj, meth)))
            for test, reason in EXPECTED_FAILURES.items():
                cname, _, meth = test.partition(".")
                if cname == attr and hasattr(cls, meth):
                    setattr(cls, meth, unittest.expectedFailure(getattr(obj, meth)))
            namespace[cls.__name__] = cls


_shim = make_shim()
for _name in ("test_locks", "test_queues"):
    export_cases(load_test_module(_name, _shim), globals())


def teardown_module():
    asyncio.set_event_loop_policy(None)
