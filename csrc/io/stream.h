/* stream.h: stream transports on uv_stream_t (TCP, Unix sockets, pipes).
 *
 * One C type, _core.StreamTransport, implements asyncio's socket transport
 * (_SelectorSocketTransport) and its pipe transports
 * (_UnixReadPipeTransport, _UnixWritePipeTransport); `kind` picks the
 * semantics.  Reads, writes and flow control are C; set-up is Python
 * (pyasync/_streams_io.py).
 *
 * libuv always gets its own dup() of the fd: uv_close() closes the dup and
 * the Python socket/pipe object kept in `sock` is closed after
 * connection_lost, as asyncio closes its own.
 *
 * Event path: libuv callbacks take the GIL, store what happened (libuv
 * reads straight into a bytes object, no copy; read chunks wait in a
 * list) and queue one entry on the loop's ready queue; protocol code only
 * runs from those entries, in asyncio's order: one chunk, EOF or error
 * per transport per iteration, like asyncio's one recv() per event.
 *
 * NOTE for process.c (subprocess pipes):  use the Python entry points
 *     loop._make_read_pipe_transport(pipe, protocol, waiter=None, extra=None)
 *     loop._make_write_pipe_transport(pipe, protocol, waiter=None, extra=None)
 * (asyncio's signatures; `pipe` a file object with fileno(), closed with
 * the transport), e.g. from a Python _make_subprocess_transport that
 * creates the pipes with os.pipe()/socketpair and hands the child ends to
 * uv_spawn as UV_INHERIT_FD.  From C: pyasync_pipe_transport_new() below.
 */
#ifndef PYASYNC_IO_STREAM_H
#define PYASYNC_IO_STREAM_H

#include "core/loop.h"

enum stream_kind {
    STREAM_TCP = 0,
    STREAM_UNIX = 1,
    STREAM_PIPE_READ = 2,
    STREAM_PIPE_WRITE = 3,
};

/* A transport of `kind` on a dup of fd (fd < 0: not opened yet, for
 * uv_pipe_connect), keeping `sock` (socket or pipe object, or None) to
 * close after connection_lost.  Not started: call _start(protocol, waiter,
 * extra, server) from Python to schedule connection_made and reading. */
PyObject *pyasync_stream_new(LoopObj *loop, int kind, int fd, PyObject *sock);

/* A started pipe transport (kind STREAM_PIPE_READ or STREAM_PIPE_WRITE)
 * on pipe.fileno(): what loop._make_*_pipe_transport return. */
PyObject *pyasync_pipe_transport_new(LoopObj *loop, int kind, PyObject *pipe,
                                     PyObject *protocol, PyObject *waiter,
                                     PyObject *extra);

int pyasync_stream_init(PyObject *module, pyasync_state *st);
int pyasync_server_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_IO_STREAM_H */
