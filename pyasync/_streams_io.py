"""Stream transports and servers: the loop methods' Python orchestration.

The transports themselves are C (_core.StreamTransport, csrc/io/stream.c:
reading, writing, flow control, closing); listening sockets are
_core.Listener (csrc/io/server.c).  What runs once per connection is here:
resolving, making sockets, the Server object (asyncio's own
base_events.Server) and TLS (asyncio's own sslproto.SSLProtocol over the C
transport, as asyncio's loops do).  Much of it is asyncio's own methods,
bound as class attributes: they only call the loop methods defined here.
"""
import contextvars
import errno
import os
import socket
import stat
import weakref
from asyncio import base_events, constants, selector_events
from asyncio import sslproto, trsock, unix_events
from asyncio.log import logger

from . import _core
from ._borrowed import borrowed

__all__ = ['StreamsIOMixin']

# Kinds of csrc/io/stream.h.
_TCP, _UNIX, _PIPE_READ, _PIPE_WRITE = 0, 1, 2, 3

_Base = base_events.BaseEventLoop
_Unix = unix_events._UnixSelectorEventLoop
_Selector = selector_events.BaseSelectorEventLoop

_core.StreamTransport._sendfile_compatible = constants._SendfileMode.FALLBACK
_core.StreamTransport._start_tls_compatible = True


_borrow = borrowed


def _socket_extra(sock):
    """asyncio's _SelectorTransport extras for a socket."""
    extra = {'socket': trsock.TransportSocket(sock)}
    try:
        extra['sockname'] = sock.getsockname()
    except OSError:
        extra['sockname'] = None
    try:
        extra['peername'] = sock.getpeername()
    except (OSError, AttributeError):
        extra['peername'] = None
    return extra


def _kind_of(sock):
    return _UNIX if sock.family == socket.AF_UNIX else _TCP


def _uses_socket_methods(sock):
    """A socket.socket subclass may do its own I/O in recv(), send() or
    accept() (tests record the calls, wrappers meter them).  asyncio's
    selector transports call those methods; pyasync's C transports read
    and write a dup of the fd in libuv.  Such a socket takes asyncio's own
    transport and accept loop instead, on pyasync's add_reader/add_writer."""
    return type(sock) is not socket.socket


class _SocketMethodsTransport(selector_events._SelectorSocketTransport):
    """asyncio's socket transport, for a socket subclass (see above)."""

    def __repr__(self):
        # asyncio's asks its selector, which pyasync's loop has not.
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append('closed')
        elif self._closing:
            info.append('closing')
        info.append(f'fd={self._sock_fd}')
        if self._sock is not None and not self._loop.is_closed():
            mask = self._loop._poll_mask(self._sock_fd)
            info.append('read=polling' if mask & 1 else 'read=idle')
            info.append('write=<polling>' if mask & 2 else 'write=<idle>')
        return '<{}>'.format(' '.join(info))


class _SendfileProtocol(base_events._SendfileFallbackProtocol):
    """asyncio's sendfile fallback protocol, minus its check for the
    Python _FlowControlMixin (the C transport has the same interface)."""

    def __init__(self, transp):
        self._transport = transp
        self._proto = transp.get_protocol()
        self._should_resume_reading = transp.is_reading()
        self._should_resume_writing = transp._protocol_paused
        transp.pause_reading()
        transp.set_protocol(self)
        if self._should_resume_writing:
            self._write_ready_fut = self._transport._loop.create_future()
        else:
            self._write_ready_fut = None


class StreamsIOMixin:
    """The stream I/O methods of pyasync.loop.EventLoop."""

    _create_server_getaddrinfo = _borrow(_Base, '_create_server_getaddrinfo')

    # -- connecting

    async def _io2_sock_connect(self, sock, address):
        """Connect the non-blocking sock: libuv for TCP (uv_tcp_connect on
        a dup of its fd), connect() for Unix sockets (immediate)."""
        if sock.family == socket.AF_UNIX:
            while True:
                try:
                    sock.connect(address)
                    return
                except (BlockingIOError, InterruptedError):
                    await __import__('asyncio').sleep(0.001)
        probe = self._stream_new(_TCP, sock.fileno(), None)
        try:
            await probe._connect(address[:4] if len(address) > 2
                                 else address)
        except OSError as exc:
            raise OSError(exc.errno,
                          f'Connect call failed {address}') from None
        finally:
            probe._discard()

    async def _connect_sock(self, exceptions, addr_info,
                            local_addr_infos=None):
        """Create, bind and connect one socket (as asyncio's)."""
        my_exceptions = []
        exceptions.append(my_exceptions)
        family, type_, proto, _, address = addr_info
        sock = None
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            if local_addr_infos is not None:
                for lfamily, _, _, _, laddr in local_addr_infos:
                    if lfamily != family:
                        continue
                    try:
                        sock.bind(laddr)
                        break
                    except OSError as exc:
                        msg = (f'error while attempting to bind on '
                               f'address {laddr!r}: '
                               f'{exc.strerror.lower()}')
                        my_exceptions.append(OSError(exc.errno, msg))
                else:
                    if my_exceptions:
                        raise my_exceptions.pop()
                    raise OSError(
                        f"no matching local address with {family=} found")
            await self._io2_sock_connect(sock, address)
            return sock
        except OSError as exc:
            my_exceptions.append(exc)
            if sock is not None:
                sock.close()
            raise
        except:
            if sock is not None:
                sock.close()
            raise
        finally:
            exceptions = my_exceptions = None

    create_connection = _borrow(_Base, 'create_connection')
    _create_connection_transport = _borrow(_Base,
                                           '_create_connection_transport')
    connect_accepted_socket = _borrow(_Base, 'connect_accepted_socket')

    def _make_ssl_transport(
            self, rawsock, protocol, sslcontext, waiter=None,
            *, server_side=False, server_hostname=None,
            extra=None, server=None,
            ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT,
            context=None):
        # asyncio's TLS state machine over our C transport.
        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra,
                                    server=server, context=context)
        return ssl_protocol._app_transport

    def _make_socket_transport(self, sock, protocol, waiter=None, *,
                               extra=None, server=None, context=None):
        # context: 3.15's transport context, in which all the transport's
        # callbacks run (None: each copies the current one, as before).
        if _uses_socket_methods(sock):
            if '_transports' not in self.__dict__:
                self._transports = weakref.WeakValueDictionary()
            kw = {} if context is None else {'context': context}
            return _SocketMethodsTransport(self, sock, protocol, waiter,
                                           extra, server, **kw)
        tr = self._stream_new(_kind_of(sock), sock.fileno(), sock)
        ex = _socket_extra(sock)
        if extra:
            ex.update(extra)
        try:
            tr._start(protocol, waiter, ex, server, context=context)
        except BaseException:
            tr._discard()
            raise
        return tr

    async def create_unix_connection(
            self, protocol_factory, path=None, *,
            ssl=None, sock=None,
            server_hostname=None,
            ssl_handshake_timeout=None,
            ssl_shutdown_timeout=None):
        assert server_hostname is None or isinstance(server_hostname, str)
        if ssl:
            if server_hostname is None:
                raise ValueError(
                    'you have to pass server_hostname when using ssl')
        else:
            if server_hostname is not None:
                raise ValueError('server_hostname is only meaningful with ssl')
            if ssl_handshake_timeout is not None:
                raise ValueError(
                    'ssl_handshake_timeout is only meaningful with ssl')
            if ssl_shutdown_timeout is not None:
                raise ValueError(
                    'ssl_shutdown_timeout is only meaningful with ssl')
        if path is not None:
            if sock is not None:
                raise ValueError(
                    'path and sock can not be specified at the same time')
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self._io2_sock_connect(sock, path)
            except:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError('no path and sock were specified')
            if (sock.family != socket.AF_UNIX or
                    sock.type != socket.SOCK_STREAM):
                raise ValueError(
                    f'A UNIX Domain Stream Socket was expected, got {sock!r}')
            sock.setblocking(False)
        transport, protocol = await self._create_connection_transport(
            sock, protocol_factory, ssl, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        return transport, protocol

    # -- serving

    create_server = _borrow(_Base, 'create_server')
    create_unix_server = _borrow(_Unix, 'create_unix_server')

    def _start_serving(self, protocol_factory, sock, sslcontext=None,
                       server=None, backlog=100,
                       ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
                       ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT,
                       context=None):
        if _uses_socket_methods(sock):
            # asyncio's accept loop, calling sock.accept().
            kw = {} if context is None else {'context': context}
            return _Selector._start_serving(
                self, protocol_factory, sock, sslcontext, server, backlog,
                ssl_handshake_timeout, ssl_shutdown_timeout, **kw)
        listeners = self.__dict__.setdefault('_io2_listeners', {})
        if sock.fileno() in listeners:
            return

        # The listener runs this in its copy of the context current here
        # (asyncio's accept reader Handle).  asyncio makes each connection
        # in a Task (_accept_connection2): in a fresh copy of that context,
        # so what one connection's factory or callbacks set stays its own.
        # 3.15 hands over the server's context (taken when it was made):
        # each connection gets a copy of it, for good (its transport's
        # context).
        def on_accept(tr):
            if isinstance(tr, OSError):
                self._io2_accepted(tr, sock, protocol_factory, sslcontext,
                                   server, ssl_handshake_timeout,
                                   ssl_shutdown_timeout)
                return
            conn_ctx = (context.copy() if context is not None
                        else contextvars.copy_context())
            conn_ctx.run(self._io2_accepted, tr, sock, protocol_factory,
                         sslcontext, server, ssl_handshake_timeout,
                         ssl_shutdown_timeout,
                         conn_ctx if context is not None else None)

        listeners[sock.fileno()] = self._listen(_kind_of(sock), sock.fileno(),
                                                backlog, on_accept)

    def _stop_serving(self, sock):
        # A unix socket that 3.13's create_unix_server() will clean up.
        prev_ino = self._unix_server_sockets.pop(sock, None)
        path = sock.getsockname() if prev_ino is not None else None
        listener = self.__dict__.get('_io2_listeners', {}).pop(
            sock.fileno(), None)
        if listener is not None:
            listener.close()
        else:
            self._remove_reader(sock.fileno())   # asyncio's accept loop
        sock.close()
        if path is not None:
            try:
                if os.stat(path).st_ino == prev_ino:
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                logger.error('Unable to clean up listening UNIX socket '
                             '%r: %r', path, err)

    _accept_connection = _borrow(_Selector, '_accept_connection')
    _accept_connection2 = _borrow(_Selector, '_accept_connection2')

    def _io2_accepted(self, tr, lsock, protocol_factory, sslcontext, server,
                      ssl_handshake_timeout, ssl_shutdown_timeout,
                      context=None):
        if isinstance(tr, OSError):
            if tr.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                            errno.ENOMEM):
                message = 'socket.accept() out of system resource'
            else:
                message = 'Error on accepting a connection'
            self.call_exception_handler({
                'message': message,
                'exception': tr,
                'socket': trsock.TransportSocket(lsock),
            })
            return
        sock = None
        try:
            sock = socket.socket(fileno=os.dup(tr._fileno()))
            sock.setblocking(False)
            extra = _socket_extra(sock)
            protocol = protocol_factory()
            if sslcontext:
                waiter = self.create_future()
                protocol = sslproto.SSLProtocol(
                    self, protocol, sslcontext, waiter, True, None,
                    ssl_handshake_timeout=ssl_handshake_timeout,
                    ssl_shutdown_timeout=ssl_shutdown_timeout)
                waiter.add_done_callback(_retrieve)
            tr._start(protocol, None, extra, server, sock, context=context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            tr._discard()
            if sock is not None:
                sock.close()
            self.call_exception_handler({
                'message': ('Error on transport creation for incoming '
                            'connection'),
                'exception': exc,
            })

    # -- pipes

    connect_read_pipe = _borrow(_Base, 'connect_read_pipe')
    connect_write_pipe = _borrow(_Base, 'connect_write_pipe')

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None,
                                  extra=None):
        mode = os.fstat(pipe.fileno()).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or
                stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(pipe.fileno(), False)
        return self._read_pipe_transport(pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None,
                                   extra=None):
        mode = os.fstat(pipe.fileno()).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or
                stat.S_ISSOCK(mode)):
            raise ValueError("Pipe transport is only for "
                             "pipes, sockets and character devices")
        os.set_blocking(pipe.fileno(), False)
        return self._write_pipe_transport(pipe, protocol, waiter, extra)

    # -- sendfile and TLS upgrade

    sendfile = _borrow(_Base, 'sendfile')
    _sendfile_native = _borrow(_Base, '_sendfile_native')
    start_tls = _borrow(_Base, 'start_tls')

    _check_sendfile_params = _borrow(_Base, '_check_sendfile_params')

    async def _sendfile_fallback(self, transp, file, offset, count):
        # asyncio's native path checks these (sock_sendfile) first.
        sock = transp.get_extra_info('socket')
        if sock is not None:
            self._check_sendfile_params(sock, file, offset, count)
        if offset:
            file.seek(offset)
        blocksize = min(count, 16384) if count else 16384
        buf = bytearray(blocksize)
        total_sent = 0
        proto = _SendfileProtocol(transp)
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        return total_sent
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total_sent
                await proto.drain()
                transp.write(view[:read])
                total_sent += read
        finally:
            if total_sent > 0 and hasattr(file, 'seek'):
                file.seek(offset + total_sent)
            await proto.restore()


def _retrieve(fut):
    # A failed TLS handshake of an incoming connection is the peer's
    # business (asyncio only reports it in debug mode).
    if not fut.cancelled():
        fut.exception()


