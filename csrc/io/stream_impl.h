/* stream_impl.h: the StreamTransport object, shared by stream.c (the
 * event paths), stream_type.c (its Python methods), tcp.c (connecting)
 * and server.c (accepting). */
#ifndef PYASYNC_IO_STREAM_IMPL_H
#define PYASYNC_IO_STREAM_IMPL_H

#include "io/stream.h"

typedef struct {
    PyObject_HEAD
    /* First, where asyncio.BaseTransport's __slots__ ('_extra',) puts it:
     * the type derives from asyncio.Transport (isinstance checks). */
    PyObject *extra;            /* dict (NULL only once cleared) */
    pyasync_iohandle ioh;       /* in the loop's list while handle_open */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } uv;
    LoopObj *loop;              /* owned */
    PyObject *protocol;         /* NULL after connection_lost */
    PyObject *sock;             /* socket/pipe object closed with us */
    PyObject *server;           /* asyncio Server, _detach()ed at the end */
    PyObject *rqueue;           /* list of bytes read, not yet delivered */
    Py_ssize_t rq_head;         /* first undelivered chunk; NULL before */
    PyObject *read_exc;         /* read error waiting behind the data */
    PyObject *connect_fut;      /* pending _connect() */
    PyObject *empty_waiter;     /* always NULL: write() checks it, as asyncio */
    PyObject *weakreflist;
    PyObject *dict;             /* instance attributes, as asyncio's
                                   transports take (mock.patch.object) */
    /* asyncio keeps no context in a transport, but each loop Handle copies
     * the current one: its reader (data_received, eof_received, ...) runs
     * in a copy taken at start or resume_reading(), its writer
     * (resume_writing, a deferred connection_lost) in a copy of the
     * write() that had to queue.  These are those copies. */
    PyObject *ctx_read;         /* set by stream_start */
    PyObject *ctx_write;        /* NULL until a write queues */
    /* 3.15 gives a socket transport one context of its own, in which all
     * its callbacks run (asyncio's transport._context): when set, it is
     * ctx_read and ctx_write, and connection_made/_lost run in it too. */
    PyObject *ctx_fixed;
    /* The ctx_read the queued stream_deliver entry runs in, compared
     * only (that entry owns it): a resume_reading() since retook it. */
    const void *deliver_ctx;
    uv_poll_t *peer_poll;       /* write pipe: readable means peer closed */
    size_t wsize;               /* bytes queued in libuv, not yet written */
    size_t high_water, low_water;
    Py_ssize_t nwrites;         /* pending uv_write requests */
    Py_ssize_t conn_lost;       /* asyncio's _conn_lost */
    int kind;                   /* enum stream_kind */
    char handle_open;           /* uv handle initialized, not closing */
    char reading;               /* uv_read_start active */
    char paused;                /* pause_reading() */
    char closing;
    char eof;                   /* write_eof() called */
    char protocol_paused;       /* pause_writing() called */
    char protocol_connected;
    char buffered;              /* protocol is a BufferedProtocol */
    char deliver_scheduled;
    char read_done;             /* EOF or read error seen */
    char eof_delivered;
    char lost_scheduled;
    char lost_called;
    char last_read_full;        /* the last read filled its buffer */
    char read_deferred;         /* alloc_cb declined: ENOBUFS is ours */
    char readable;              /* buffered: data waits in the socket */
    char bulk_reads;            /* read BULK_READ_SIZE at a time */
} StreamObj;

int stream_close(StreamObj *self);
int stream_force_close(StreamObj *self, PyObject *exc);
int stream_write(StreamObj *self, PyObject *data);
int stream_write_eof(StreamObj *self);
int stream_start_reading(StreamObj *self);
void stream_stop_reading(StreamObj *self);
int stream_maybe_pause_protocol(StreamObj *self);
void stream_close_handle(StreamObj *self);
/* Schedule delivery of what was read (resume_reading). */
int stream_kick(StreamObj *self);
/* Add defs as methods of the heap type tp (the Loop). */
int pyasync_io_add_methods(PyTypeObject *tp, PyMethodDef *defs);
/* stream_type.c: set protocol/extra/server and schedule connection_made,
 * reading and the waiter, as asyncio's transport constructors do. */
int stream_start(StreamObj *self, PyObject *protocol, PyObject *waiter,
                 PyObject *extra, PyObject *server);
/* The context a callback of the transport is scheduled in: the
 * transport's own (3.15) or a copy of the current one.  New reference. */
PyObject *stream_callback_context(StreamObj *self);
int stream_set_protocol(StreamObj *self, PyObject *protocol);
/* tcp.c: _connect(address) -> future. */
PyObject *stream_connect(StreamObj *self, PyObject *address);

#endif /* PYASYNC_IO_STREAM_IMPL_H */
