"""CPython's own event loop tests (test.test_asyncio.test_events) on pyasync.

EventLoopTestsMixin covers the loop core and the I/O transports: the
stream transports, servers, pipes, ptys and TLS run; what still needs the
socket/reader methods or signals of another branch is skipped by name with
its reason.
"""
import unittest

from test.test_asyncio import test_events
from test.test_asyncio import utils as test_utils

import pyasync

IO_REASON = "I/O transports: issue 4"

# The tests of the loop core, expected to pass.
LOOP_CORE_TESTS = {
    'test_call_later',
    'test_call_soon',
    'test_call_soon_threadsafe',
    'test_call_soon_threadsafe_same_thread',
    'test_close',
    'test_close_running_event_loop',
    'test_internal_fds',            # skips itself: not a selector loop
    'test_run_in_executor',
    'test_run_in_executor_cancel',
    'test_run_until_complete',
    'test_run_until_complete_nesting',
    'test_run_until_complete_stopped',
}

# Readers/writers and signals (csrc/io): expected to pass.
LOWLEVEL_IO_TESTS = {
    'test_add_fds_after_closing',
    'test_remove_fds_after_closing',
    'test_reader_callback',
    'test_writer_callback',
    'test_add_signal_handler',
    'test_signal_handling_args',
    'test_signal_handling_while_selecting',
}

# The stream transports, servers, pipes and TLS (csrc/io/stream.c,
# server.c, pyasync/_streams_io.py), expected to pass.
STREAM_TESTS = {
    'test_add_fds_after_closing',
    'test_bidirectional_pty',
    'test_connect_accepted_socket',
    'test_connect_accepted_socket_ssl_timeout_for_plain_socket',
    'test_create_connection',
    'test_create_connection_local_addr',
    'test_create_connection_local_addr_in_use',
    'test_create_connection_local_addr_nomatch_family',
    'test_create_connection_local_addr_skip_different_family',
    'test_create_server',
    'test_create_server_addr_in_use',
    'test_create_server_dual_stack',
    'test_create_server_multiple_hosts_ipv4',
    'test_create_server_multiple_hosts_ipv6',
    'test_create_server_reuse_port',
    'test_create_server_sock',
    'test_create_server_ssl',
    'test_create_server_ssl_match_failed',
    'test_create_server_ssl_verified',
    'test_create_server_ssl_verify_failed',
    'test_create_ssl_connection',
    'test_create_ssl_unix_connection',
    'test_create_unix_connection',
    'test_create_unix_server',
    'test_create_unix_server_path_socket_error',
    'test_create_unix_server_ssl',
    'test_create_unix_server_ssl_verified',
    'test_create_unix_server_ssl_verify_failed',
    'test_read_pipe',
    'test_read_pty_output',
    'test_server_close',
    'test_ssl_connect_accepted_socket',
    'test_write_pipe',
    'test_write_pty',
}

# The datagram endpoints (csrc/io/udp.c), passing too.
DATAGRAM_TESTS = {
    'test_create_datagram_endpoint',
    'test_create_datagram_endpoint_ipv6',
    'test_create_datagram_endpoint_sock',
}

# Needing both the socket methods and servers/pipes, merged together.
MERGED_IO_TESTS = {
    'test_prompt_cancellation',
    'test_write_pipe_disconnect_on_close',
}

# Tests that cannot pass here, with their reasons.
NOT_APPLICABLE = {
    'test_timeout_rounding':
        "patches loop._run_once and reads loop._selector: selector-loop "
        "internals; pyasync's iterations run in C",
    'test_unclosed_pipe_transport':
        "sets _pipe on the transports: an attribute of asyncio's Python "
        "pipe transports; pyasync's C transport keeps the pipe in C",
}


class PyasyncEventLoopTests(test_events.EventLoopTestsMixin,
                            test_utils.TestCase):

    def create_event_loop(self):
        return pyasync.new_event_loop()


def _mark_skips(cls):
    for name in dir(test_events.EventLoopTestsMixin):
        if (not name.startswith('test_') or name in LOOP_CORE_TESTS
                or name in LOWLEVEL_IO_TESTS or name in STREAM_TESTS
                or name in DATAGRAM_TESTS or name in MERGED_IO_TESTS):
            continue
        reason = NOT_APPLICABLE.get(name, IO_REASON)
        setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))


_mark_skips(PyasyncEventLoopTests)


class _UsePyasyncHandles:
    """Run a test_events class with asyncio.Handle/TimerHandle (the names
    the tests construct) bound to pyasync's C types."""

    def setUp(self):
        import asyncio
        from pyasync import _core
        self._saved = (asyncio.Handle, asyncio.TimerHandle)
        asyncio.Handle = _core.Handle
        asyncio.TimerHandle = _core.TimerHandle
        super().setUp()

    def tearDown(self):
        import asyncio
        super().tearDown()
        asyncio.Handle, asyncio.TimerHandle = self._saved


class PyasyncHandleTests(_UsePyasyncHandles, test_events.HandleTests):
    pass


class PyasyncTimerTests(_UsePyasyncHandles, test_events.TimerTests):
    pass
