"""The loop's low-level I/O: the Python face of csrc/io.

add_reader/add_writer and their removal are C methods of _core.Loop.
Here are the coroutine wrappers of the C socket methods (each C method
returns (result,) when the call succeeded at once, else a future), the
DNS coroutines, and add_signal_handler's checks, which are asyncio's
(unix_events) and cold.
"""
import errno
import signal
import socket
import sys
import warnings
from asyncio import base_events, coroutines, unix_events
from asyncio.log import logger

from . import _core

# 3.14 deprecates coroutines.iscoroutinefunction; asyncio itself calls the
# private one it wraps.
_iscoroutinefunction = getattr(coroutines, '_iscoroutinefunction',
                               coroutines.iscoroutinefunction)

_Unix = unix_events._UnixSelectorEventLoop


def _sighandler_noop(signum, frame):
    """Dummy signal handler: libuv's handler takes the signal."""


class LowLevelIOMixin:
    """Sockets, DNS and signals for pyasync.loop.EventLoop."""

    # -- sockets: asyncio's selector-loop algorithm, in C -------------

    async def sock_recv(self, sock, n):
        r = self._sock_recv(sock, n)
        return r[0] if type(r) is tuple else await r

    async def sock_recv_into(self, sock, buf):
        r = self._sock_recv_into(sock, buf)
        return r[0] if type(r) is tuple else await r

    async def sock_recvfrom(self, sock, bufsize):
        r = self._sock_recvfrom(sock, bufsize)
        return r[0] if type(r) is tuple else await r

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        r = self._sock_recvfrom_into(sock, buf, nbytes)
        return r[0] if type(r) is tuple else await r

    async def sock_sendto(self, sock, data, address):
        r = self._sock_sendto(sock, data, address)
        return r[0] if type(r) is tuple else await r

    async def sock_sendall(self, sock, data):
        r = self._sock_sendall(sock, data)
        return r[0] if type(r) is tuple else await r

    async def sock_accept(self, sock):
        r = self._sock_accept(sock)
        return r[0] if type(r) is tuple else await r

    async def sock_connect(self, sock, address):
        self._sock_check(sock)
        if sock.family == socket.AF_INET or (
                base_events._HAS_IPv6 and sock.family == socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type,
                proto=sock.proto, loop=self)
            _, _, _, _, address = resolved[0]
        r = self._sock_connect(sock, address)
        return r[0] if type(r) is tuple else await r

    # sendfile: os.sendfile over add_writer, else asyncio's fallback
    # (read into a buffer, sock_sendall) -- asyncio's own code.
    _ensure_resolved = base_events.BaseEventLoop._ensure_resolved
    sock_sendfile = base_events.BaseEventLoop.sock_sendfile
    _sock_sendfile_fallback = \
        base_events.BaseEventLoop._sock_sendfile_fallback
    _check_sendfile_params = base_events.BaseEventLoop._check_sendfile_params
    _sock_sendfile_native = _Unix._sock_sendfile_native
    _sock_sendfile_native_impl = _Unix._sock_sendfile_native_impl
    _sock_sendfile_update_filepos = _Unix._sock_sendfile_update_filepos
    _sock_add_cancellation_callback = _Unix._sock_add_cancellation_callback

    # -- DNS: libuv's thread pool ------------------------------------

    async def getaddrinfo(self, host, port, *,
                          family=0, type=0, proto=0, flags=0):
        if self._debug:
            return await self._getaddrinfo_logged(host, port, family, type,
                                                  proto, flags)
        return await self._getaddrinfo(host, port, family, type, proto,
                                       flags)

    async def _getaddrinfo_logged(self, host, port, family, type, proto,
                                  flags):
        # Debug mode logs what asyncio's _getaddrinfo_debug logs.
        parts = [f"{host}:{port!r}"]
        for name, value in (('family', family), ('type', type),
                            ('proto', proto), ('flags', flags)):
            if value:
                parts.append(f'{name}={value!r}')
        what = ', '.join(parts)
        logger.debug('Get address info %s', what)
        t0 = self.time()
        addrinfo = await self._getaddrinfo(host, port, family, type, proto,
                                           flags)
        dt = self.time() - t0
        msg = f'Getting address info {what} took {dt * 1e3:.3f}ms: ' \
              f'{addrinfo!r}'
        if dt >= self.slow_callback_duration:
            logger.info(msg)
        else:
            logger.debug(msg)
        return addrinfo

    async def getnameinfo(self, sockaddr, flags=0):
        return await self._getnameinfo(sockaddr, flags)

    # -- signals: asyncio's checks, then uv_signal -------------------

    _check_signal = _Unix._check_signal

    def add_signal_handler(self, sig, callback, *args):
        """Add a handler for a UNIX signal.

        Raise ValueError if the signal number is invalid or uncatchable.
        Raise RuntimeError if there is a problem setting up the handler.
        """
        if (coroutines.iscoroutine(callback) or
                _iscoroutinefunction(callback)):
            raise TypeError("coroutines cannot be used "
                            "with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        try:
            # Raises ValueError off the main thread, as in asyncio; it
            # also keeps Ctrl-C waking the loop between runs.
            signal.set_wakeup_fd(self._wakeup_fd, warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))

        handle = _core.Handle(callback, args, self, None)
        if sig in self._signal_handlers:
            # libuv already holds the signal: signal.signal() again would
            # give it back to Python's handler.
            self._signal_handlers[sig] = handle
            self._signal_start(sig, handle)
            return
        self._signal_handlers[sig] = handle
        try:
            # Python's view of the signal (and its checks); libuv's
            # handler then replaces Python's C handler for sig.
            signal.signal(sig, _sighandler_noop)
            signal.siginterrupt(sig, False)
            self._signal_start(sig, handle)
        except OSError as exc:
            del self._signal_handlers[sig]
            self._signal_stop(sig)
            if not self._signal_handlers and not self.is_running():
                try:
                    signal.set_wakeup_fd(-1)
                except (ValueError, OSError) as nexc:
                    logger.info('set_wakeup_fd(-1) failed: %s', nexc)
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            else:
                raise

    def remove_signal_handler(self, sig):
        """Remove a handler for a signal.  UNIX only.

        Return True if a signal handler was removed, False if not.
        """
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        self._signal_stop(sig)
        if sig == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            else:
                raise
        # While running, run_forever() restores the wake-up fd itself.
        if not self._signal_handlers and not self.is_running():
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError) as exc:
                logger.info('set_wakeup_fd(-1) failed: %s', exc)
        return True

    def _remove_all_signal_handlers(self):
        """unix_events' close(): give every signal back."""
        if not self._signal_handlers:
            return
        if not sys.is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        else:
            warnings.warn(f"Closing the loop {self!r} "
                          f"on interpreter shutdown "
                          f"stage, skipping signal handlers removal",
                          ResourceWarning,
                          source=self)
            self._signal_handlers.clear()
