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

from .policy import EventLoopPolicy

get_running_loop = _aevents.get_running_loop
_get_running_loop = _aevents._get_running_loop
_set_running_loop = _aevents._set_running_loop

_own_policy = None
# asyncio's own default: it stands for "no policy chosen".
_default_policy_type = _asyncio.DefaultEventLoopPolicy


def get_event_loop_policy():
    """The pyasync policy in force: the installed one, else pyasync's own."""
    global _own_policy
    installed = _aevents._event_loop_policy
    if installed is not None and type(installed) is not _default_policy_type:
        return installed
    if _own_policy is None:
        _own_policy = EventLoopPolicy()
    return _own_policy


def set_event_loop_policy(policy):
    """Install policy for asyncio and pyasync alike (None: asyncio's default)."""
    _aevents.set_event_loop_policy(policy)


def get_event_loop():
    """The running loop, else the policy's current loop (made on demand)."""
    loop = _get_running_loop()
    if loop is not None:
        return loop
    return get_event_loop_policy().get_event_loop()


def set_event_loop(loop):
    get_event_loop_policy().set_event_loop(loop)


def new_event_loop():
    """A new pyasync event loop."""
    return get_event_loop_policy().new_event_loop()
