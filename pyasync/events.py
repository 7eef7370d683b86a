"""Which loop a pyasync program gets: the running one, else its policy's.

The running-loop slot is asyncio's own (pyasync's loop registers itself
there while it runs), so get_running_loop() is shared.  The policy is the
one installed with set_event_loop_policy() (pyasync.install() installs
pyasync's); while none is, or only asyncio's default, a private pyasync
policy: `import pyasync as asyncio` programs get pyasync loops without
changing what plain asyncio code gets.
"""
import asyncio as _asyncio
import asyncio.events as _aevents
import sys as _sys
import threading as _threading
import warnings as _warnings

from .policy import EventLoopPolicy, _DefaultPolicy, _get_policy, _set_policy

get_running_loop = _aevents.get_running_loop
_get_running_loop = _aevents._get_running_loop
_set_running_loop = _aevents._set_running_loop

_own_policy = None
# asyncio's own default: it stands for "no policy chosen".
_default_policy_type = _DefaultPolicy


def _deprecated_on_314(name):
    # What asyncio 3.14 says of its own function of that name, pointing at
    # the caller of pyasync's.
    if _sys.version_info >= (3, 14):
        _warnings.warn(f"'asyncio.{name}' is deprecated and slated for "
                       f"removal in Python 3.16", DeprecationWarning,
                       stacklevel=3)


def get_event_loop_policy():
    """The pyasync policy in force: the installed one, else pyasync's own.
    Deprecated on 3.14+, as asyncio's."""
    _deprecated_on_314('get_event_loop_policy')
    return _get_event_loop_policy()


def _get_event_loop_policy():
    global _own_policy
    installed = _aevents._event_loop_policy
    if installed is not None and type(installed) is not _default_policy_type:
        return installed
    if _own_policy is None:
        _own_policy = EventLoopPolicy()
    return _own_policy


def set_event_loop_policy(policy):
    """Install policy for asyncio and pyasync alike (None: asyncio's default).

    None also starts pyasync's own policy afresh, as asyncio makes a new
    default policy on its next get_event_loop_policy().  Deprecated on
    3.14+, as asyncio's."""
    _deprecated_on_314('set_event_loop_policy')
    _set_event_loop_policy(policy)


def _set_event_loop_policy(policy):
    global _own_policy
    _set_policy(policy)
    if policy is None:
        _own_policy = None


def get_event_loop():
    """The running loop, else the policy's current loop (made on demand)."""
    loop = _get_running_loop()
    if loop is not None:
        return loop
    policy = _get_event_loop_policy()
    if (3, 12) <= _sys.version_info < (3, 14) and _policy_would_warn(policy):
        # 3.12+: the policy warns and makes a loop; warned from here, so
        # that the warning points at the caller outside pyasync and asyncio
        # (the policy would only skip asyncio's own frames).
        _warnings.warn('There is no current event loop', DeprecationWarning,
                       stacklevel=_outside_stacklevel())
        policy.set_event_loop(policy.new_event_loop())
    return policy.get_event_loop()


def _policy_would_warn(policy):
    base = _aevents.BaseDefaultEventLoopPolicy
    if (not isinstance(policy, base)
            or type(policy).get_event_loop is not base.get_event_loop):
        return False
    local = policy._local
    return (local._loop is None and not local._set_called
            and _threading.current_thread() is _threading.main_thread())


def _outside_stacklevel():
    """warnings.warn's stacklevel for the first frame of the caller of our
    caller that is neither pyasync's nor asyncio's."""
    level = 2
    f = _sys._getframe(2)
    while f is not None:
        name = f.f_globals.get('__name__') or ''
        if not name.startswith(('asyncio.', 'pyasync.')) and name not in (
                'asyncio', 'pyasync'):
            break
        f = f.f_back
        level += 1
    return level


def set_event_loop(loop):
    _get_event_loop_policy().set_event_loop(loop)


def new_event_loop(*, clock=None):
    """A new event loop from the policy; clock: a pyasync.VirtualClock to
    drive its time."""
    loop = _get_event_loop_policy().new_event_loop()
    if clock is not None:
        clock._attach(loop)
    return loop
