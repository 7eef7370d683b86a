"""Datagram endpoints on libuv's UDP handle (csrc/io/udp.c).

create_datagram_endpoint is asyncio.BaseEventLoop's own (its argument
checks, messages and socket set-up); the loop only supplies
_make_datagram_transport; name resolution and the connect of remote_addr
are the loop's (pyasync/_io_low.py).  The transport follows asyncio's
_SelectorDatagramTransport: sendto() tries the socket at once and errors
go to error_received(); what the socket cannot take is queued on the
libuv handle (uv_udp_send keeps the order) and counts in
get_write_buffer_size().  Received datagrams and receive errors come from
libuv's callbacks through the ready queue.
"""
import sys
import warnings
from asyncio import base_events, constants, futures, transports, trsock
from asyncio import selector_events
from asyncio.log import logger

from . import _core

# 3.13 sends empty datagrams, and counts 8 header bytes per queued datagram
# in get_write_buffer_size(); 3.13.0 to 3.13.5 never take them off again
# (gh-135444), the releases with the fix (which added _header_size) do.
_EMPTY_SENT = sys.version_info >= (3, 13)
_HEADER = 8 if sys.version_info >= (3, 13) else 0
_HEADER_LEAKS = bool(_HEADER) and not hasattr(
    selector_events._SelectorDatagramTransport, '_header_size')

__all__ = ()


class _UDPTransport(transports._FlowControlMixin, transports.DatagramTransport):

    max_size = 256 * 1024       # as asyncio; csrc/io/udp.c reads this much
    _sock = None                # for __del__ if __init__ failed early

    def __init__(self, loop, sock, protocol, address=None, waiter=None,
                 extra=None):
        super().__init__(extra, loop)
        self._extra['socket'] = trsock.TransportSocket(sock)
        try:
            self._extra['sockname'] = sock.getsockname()
        except OSError:
            self._extra['sockname'] = None
        if 'peername' not in self._extra:
            try:
                self._extra['peername'] = sock.getpeername()
            except OSError:
                self._extra['peername'] = None
        self._handle = _core.UDPHandle(loop, sock.fileno(),
                                       self._on_datagram, self._on_error,
                                       self._on_drained)
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._address = address
        self._protocol = protocol
        self._protocol_connected = True
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._headers_queued = 0      # datagrams ever queued (_HEADER_LEAKS)
        loop.call_soon(protocol.connection_made, self)
        # Only start reading once connection_made() has been called.
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append('closed')
        elif self._closing:
            info.append('closing')
        info.append(f'fd={self._sock_fd}')
        if self._sock is not None and not self._handle.closed:
            info.append('read=polling' if self._handle.reading
                        else 'read=idle')
            state = 'polling' if self._handle.queued else 'idle'
            info.append(f'write=<{state}, '
                        f'bufsize={self.get_write_buffer_size()}>')
        return '<{}>'.format(' '.join(info))

    def __del__(self, _warn=warnings.warn):
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning,
                  source=self)
            self._handle.close()
            self._sock.close()

    # -- the handle's callbacks (from the ready queue)

    def _start_reading(self):
        if not self._closing and not self._paused:
            self._handle.start_reading()

    def _on_datagram(self, data, addr):
        if self._conn_lost:
            return
        self._protocol.datagram_received(data, addr)

    def _on_error(self, exc):
        if self._conn_lost:
            return
        self._protocol.error_received(exc)

    def _on_drained(self):
        if self._conn_lost:
            return
        self._maybe_resume_protocol()
        if self._closing and not self._handle.queued:
            self._conn_lost += 1
            self._call_connection_lost(None)

    # -- DatagramTransport

    def get_write_buffer_size(self):
        headers = self._headers_queued if _HEADER_LEAKS else self._handle.queued
        return self._handle.pending + _HEADER * headers

    def set_protocol(self, protocol):
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def is_reading(self):
        return not self._closing and not self._paused

    def pause_reading(self):
        if not self.is_reading():
            return
        self._paused = True
        self._handle.stop_reading()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._handle.start_reading()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def sendto(self, data, addr=None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data argument must be a bytes-like object, '
                            f'not {type(data).__name__!r}')
        if not data and not _EMPTY_SENT:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(
                    f'Invalid address: must be None or {self._address}')
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning('socket.send() raised exception.')
            self._conn_lost += 1
            return
        if not self._handle.queued:
            # Straight to the socket first, as asyncio.
            try:
                if self._extra['peername']:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(
                    exc, 'Fatal write error on datagram transport')
                return
        # Queue a copy behind what is queued; connected: no address.
        try:
            self._handle.send(bytes(data),
                              None if self._extra['peername'] else addr)
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        self._headers_queued += 1
        self._maybe_pause_protocol()

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._handle.stop_reading()
        if not self._handle.queued:
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message='Fatal error on transport'):
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self,
                'protocol': self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if not self._closing:
            self._closing = True
            self._handle.stop_reading()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            # Closing the handle drops what is still queued, as abort()
            # drops asyncio's buffer.
            self._handle.close()
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None


class UDPMixin:
    """EventLoop's datagram methods."""

    __slots__ = ()

    create_datagram_endpoint = base_events.BaseEventLoop.__dict__[
        'create_datagram_endpoint']

    def _make_datagram_transport(self, sock, protocol, address=None,
                                 waiter=None, extra=None):
        return _UDPTransport(self, sock, protocol, address, waiter, extra)
