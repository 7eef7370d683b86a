/* stream.c: _core.StreamTransport, asyncio's stream transports on a
 * uv_stream_t (see stream.h for the design).
 *
 * Life cycle: the object holds a reference to itself from uv_*_init until
 * libuv's close callback, so pending requests never outlive it.  The
 * handle is closed after connection_lost (or by the loop's close). */
#include "io/io.h"
#include "io/stream.h"
#include "io/uvcall.h"
#include "io/stream_impl.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One read's worth: libuv's suggestion, and below glibc's mmap threshold
 * (asyncio reads up to 256 KiB, but a bytes object that size is mmapped
 * and unmapped on every read).  124 KiB saved the second read (to EAGAIN)
 * of a 64 KiB message, but growing a shorter chunk back to that size for
 * reuse moved it often enough to make the 64 KiB echo 1.6x slower in
 * about half the runs. */
#define READ_SIZE (64 * 1024)
/* A stream whose reads keep filling the buffer (bulk data waiting in the
 * socket) reads up to asyncio's 256 KiB at a time instead, into bytes of
 * its own, as asyncio's recv() does: a quarter of the read calls and loop
 * iterations for a large transfer.  Back to READ_SIZE at the first read
 * that is shorter than READ_SIZE. */
#define BULK_READ_SIZE (256 * 1024)
/* Reads up to this size are copied out of the shared read buffer, which
 * stays for the next read; larger ones take the buffer itself, shrunk (a
 * copy would cost more than the allocation it saves). */
#define READ_COPY_MAX (8 * 1024)
/* asyncio's constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES. */
#define LOG_THRESHOLD_FOR_CONNLOST_WRITES 5

typedef struct {
    uv_write_t req;
    PyObject *data;             /* bytes kept alive until written */
    size_t len;
} write_req;

static int stream_deliver(PyObject *obj, PyObject *arg);
static int stream_on_eof(StreamObj *self);
static int stream_call_connection_lost(PyObject *obj, PyObject *arg);
static int stream_watch_peer(StreamObj *self, int fd);

static int
is_pipe_kind(StreamObj *self)
{
    return self->kind == STREAM_PIPE_READ || self->kind == STREAM_PIPE_WRITE;
}

/* ---- handle life cycle --------------------------------------------- */

static void
stream_close_cb(uv_handle_t *handle)
{
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)handle->data);   /* the handle's self-reference */
    PyGILState_Release(g);
}

static void
peer_poll_close_cb(uv_handle_t *handle)
{
    PyMem_RawFree(handle);
}

void
stream_close_handle(StreamObj *self)
{
    if (self->peer_poll != NULL) {
        uv_close((uv_handle_t *)self->peer_poll, peer_poll_close_cb);
        self->peer_poll = NULL;
    }
    if (!self->handle_open) {
        return;
    }
    self->handle_open = 0;
    self->reading = 0;
    pyasync_io_unlink(&self->ioh);
    uv_close(&self->uv.handle, stream_close_cb);
}

/* The loop closes with the transport still open: as asyncio's transport
 * __del__ does once the closed loop lets it go, warn and close the socket
 * or pipe (the GIL is held: loop.close() runs this). */
static void
stream_ioh_close(pyasync_iohandle *h)
{
    StreamObj *self = (StreamObj *)((char *)h - offsetof(StreamObj, ioh));
    stream_close_handle(self);
    if (self->protocol != NULL && !self->lost_called) {
        if (PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                             "unclosed transport %R", (PyObject *)self) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
    }
    if (self->sock != NULL) {
        PyObject *sock = self->sock;
        self->sock = NULL;
        PyObject *r = PyObject_CallMethod(sock, "close", NULL);
        if (r == NULL) {
            PyErr_WriteUnraisable(sock);
        }
        Py_XDECREF(r);
        Py_DECREF(sock);
    }
}

PyObject *
pyasync_stream_new(LoopObj *loop, int kind, int fd, PyObject *sock)
{
    pyasync_state *st = loop->st;
    if (!loop->uv_open || loop->closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    /* libuv's handle lists are the loop thread's (asyncio's debug-mode
     * error; without the GIL, another thread would corrupt them). */
    if (io_check_thread(loop) < 0) {
        return NULL;
    }
    if (kind < STREAM_TCP || kind > STREAM_PIPE_WRITE) {
        PyErr_SetString(PyExc_ValueError, "bad stream kind");
        return NULL;
    }
    if (io_get(loop) == NULL) {      /* the read buffer and names */
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)st->Stream_Type;
    StreamObj *self = (StreamObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    /* asyncio.BaseTransport's _extra: a dict from the start, which its
     * get_extra_info() (inherited, not redefined: tests patch it on
     * asyncio.Transport) reads. */
    self->extra = PyDict_New();
    if (self->extra == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->loop = (LoopObj *)Py_NewRef(loop);
    self->kind = kind;
    self->high_water = 64 * 1024;
    self->low_water = 16 * 1024;
    self->sock = (sock == NULL || sock == Py_None) ? NULL : Py_NewRef(sock);
    int err = kind == STREAM_TCP
              ? uv_tcp_init(&loop->uv, &self->uv.tcp)
              : uv_pipe_init(&loop->uv, &self->uv.pipe, 0);
    if (err < 0) {
        Py_DECREF(self);
        return uvcall_raise(err);
    }
    self->uv.handle.data = self;
    self->handle_open = 1;
    Py_INCREF(self);                       /* until stream_close_cb */
    self->ioh.close_fn = stream_ioh_close;
    pyasync_io_link(loop, &self->ioh);
    if (fd >= 0) {
        int dfd = dup(fd);
        if (dfd < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        io_poll_forget_stale(loop->io, dfd);
        err = kind == STREAM_TCP ? uv_tcp_open(&self->uv.tcp, dfd)
                                 : uv_pipe_open(&self->uv.pipe, dfd);
        if (err < 0) {
            close(dfd);
            uvcall_raise(err);
            goto fail;
        }
        if (kind == STREAM_TCP) {
            uv_tcp_nodelay(&self->uv.tcp, 1);   /* as asyncio's _set_nodelay */
        }
        if (kind == STREAM_PIPE_WRITE && stream_watch_peer(self, fd) < 0) {
            goto fail;
        }
    }
    return (PyObject *)self;
fail:
    stream_close_handle(self);
    Py_DECREF(self);
    return NULL;
}

/* ---- write pipes: noticing the reader went away ---------------------- */

/* asyncio watches a write pipe (FIFO or socket) for readability: that
 * means the other end closed.  BrokenPipeError if data was pending. */
static int
peer_closed_entry(PyObject *obj, PyObject *arg)
{
    StreamObj *self = (StreamObj *)obj;
    if (self->lost_called || self->conn_lost) {
        return 0;
    }
    PyObject *exc = NULL;
    if (self->nwrites > 0) {
        exc = PyObject_CallNoArgs(PyExc_BrokenPipeError);
        if (exc == NULL) {
            return -1;
        }
    }
    int r = stream_force_close(self, exc);
    Py_XDECREF(exc);
    return r;
}

static void
peer_poll_cb(uv_poll_t *poll, int status, int events)
{
    PyGILState_STATE g = PyGILState_Ensure();
    StreamObj *self = (StreamObj *)poll->data;
    uv_poll_stop(poll);
    /* asyncio's write pipe watches this with a reader, in its context. */
    if (ready_push(&self->loop->ready, peer_closed_entry, (PyObject *)self,
                   NULL, self->ctx_read) < 0) {
        uvcall_unraisable((PyObject *)self);
    }
    PyGILState_Release(g);
}

/* Watch fd (the caller's, not libuv's dup: one fd per poll handle). */
static int
stream_watch_peer(StreamObj *self, int fd)
{
    struct stat stbuf;
    if (fstat(fd, &stbuf) < 0
        || !(S_ISFIFO(stbuf.st_mode) || S_ISSOCK(stbuf.st_mode))) {
        return 0;
    }
    uv_poll_t *poll = PyMem_RawMalloc(sizeof(uv_poll_t));
    if (poll == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int err = uv_poll_init(&self->loop->uv, poll, fd);
    if (err < 0) {
        PyMem_RawFree(poll);
        return 0;           /* asyncio would work without it, too */
    }
    poll->data = self;
    self->peer_poll = poll;
    uv_poll_start(poll, UV_READABLE, peer_poll_cb);
    return 0;
}

/* ---- scheduling ----------------------------------------------------- */

/* fn(obj, arg) run inside ctx (NULL: the loop's own context). */
static int
stream_schedule(StreamObj *self, pyasync_ready_fn fn, PyObject *arg,
                PyObject *ctx)
{
    return ready_push(&self->loop->ready, fn, (PyObject *)self, arg, ctx);
}

/* fn(obj, arg) in a copy of the current context: asyncio's call_soon(),
 * how its transports schedule connection_lost (and a read pipe's
 * eof_received). */
static int
schedule_in_copy(StreamObj *self, pyasync_ready_fn fn, PyObject *obj,
                 PyObject *arg)
{
    PyObject *ctx = stream_callback_context(self);
    if (ctx == NULL) {
        return -1;
    }
    int r = ready_push(&self->loop->ready, fn, obj, arg, ctx);
    Py_DECREF(ctx);
    return r;
}

/* From a libuv write callback: nobody to raise to.  Runs where asyncio's
 * writer Handle would, in the context of the write() that queued. */
static void
stream_schedule_or_report(StreamObj *self, pyasync_ready_fn fn,
                          PyObject *arg)
{
    if (stream_schedule(self, fn, arg, self->ctx_write) < 0) {
        uvcall_unraisable((PyObject *)self);
    }
}

int
stream_kick(StreamObj *self)
{
    if (!self->deliver_scheduled) {
        if (stream_schedule(self, stream_deliver, NULL,
                            self->ctx_read) < 0) {
            return -1;
        }
        self->deliver_ctx = self->ctx_read;
        self->deliver_scheduled = 1;
    }
    return 0;
}

static void
stream_schedule_deliver(StreamObj *self)
{
    if (stream_kick(self) < 0) {
        uvcall_unraisable((PyObject *)self);
    }
}

/* ---- errors --------------------------------------------------------- */

static int
is_fatal_to_loop(void)
{
    return PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)
           || PyErr_ExceptionMatches(PyExc_SystemExit);
}

/* loop.call_exception_handler({'message':..., 'exception':...,
 * 'transport': self, 'protocol': ...}). */
static int
stream_report(StreamObj *self, const char *message, PyObject *exc)
{
    PyObject *ctx = Py_BuildValue("{s:s,s:O,s:O,s:O}", "message", message,
                                  "exception", exc, "transport", self,
                                  "protocol",
                                  self->protocol ? self->protocol : Py_None);
    if (ctx == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethod((PyObject *)self->loop,
                                      "call_exception_handler", "O", ctx);
    Py_DECREF(ctx);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* asyncio's _force_close(exc): stop everything, connection_lost(exc) via
 * the loop.  Pending libuv writes are cancelled when the handle closes. */
int
stream_force_close(StreamObj *self, PyObject *exc)
{
    if (self->conn_lost) {
        return 0;
    }
    self->wsize = 0;
    if (!self->closing) {
        self->closing = 1;
        stream_stop_reading(self);
    }
    self->conn_lost++;
    self->lost_scheduled = 1;
    return schedule_in_copy(self, stream_call_connection_lost,
                            (PyObject *)self, exc);
}

/* asyncio's _fatal_error(exc, message): OSErrors are the peer's doing and
 * go unreported (asyncio logs them in debug mode only). */
static int
stream_fatal_error(StreamObj *self, PyObject *exc, const char *message)
{
    int quiet = PyObject_IsInstance(exc, PyExc_OSError);
    if (quiet < 0) {
        return -1;
    }
    if (!quiet && stream_report(self, message, exc) < 0) {
        return -1;
    }
    return stream_force_close(self, exc);
}

/* The current exception, unless it must stop the loop, goes to
 * stream_fatal_error. */
static int
stream_fatal_current(StreamObj *self, const char *message)
{
    if (is_fatal_to_loop()) {
        return -1;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    int r = stream_fatal_error(self, value, message);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return r;
}

/* ---- reading -------------------------------------------------------- */

/* The hot callbacks below (alloc, read, write completion) take the GIL
 * with pyasync_loop_hold_gil: once per blocking poll, not per callback. */

/* Reads land in a bytes object shared by the loop's streams: a small read
 * is copied out of it, a large one takes it over (zero copy, shrunk to
 * what was read, as asyncio's recv() does).  (A malloc'd buffer per read
 * made glibc grow and trim its heap on every 64 KiB read; a fresh 64 KiB
 * bytes per 1 KiB read cost a malloc, a realloc and a free.) */
static void
stream_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    StreamObj *self = (StreamObj *)handle->data;
    pyasync_loop_hold_gil(self->loop);
    pyasync_io *io = self->loop->io;
    if (self->buffered) {
        /* A BufferedProtocol (asyncio's TLS one among them): no buffer of
         * ours.  libuv reports ENOBUFS, the data stays in the socket, and
         * stream_deliver reads it straight into get_buffer()'s buffer, as
         * asyncio's recv_into() does: one copy fewer than a read here and
         * a copy there, and no reading ahead of delivery (up to 32 reads
         * in a row, each into a buffer of its own, had a TLS transfer
         * take 14 times asyncio's page faults). */
        self->read_deferred = 1;
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    if (self->bulk_reads) {
        if (io->rbulk == NULL) {
            io->rbulk = PyBytes_FromStringAndSize(NULL, BULK_READ_SIZE);
            if (io->rbulk == NULL) {
                PyErr_Clear();
            }
        }
        if (io->rbulk != NULL) {
            buf->base = PyBytes_AS_STRING(io->rbulk);
            buf->len = BULK_READ_SIZE;
            return;
        }
    }
    if (io->rbuf == NULL && io->rbuf_spare != NULL) {
        io->rbuf = io->rbuf_spare;
        io->rbuf_spare = NULL;
    }
    if (io->rbuf == NULL) {
        io->rbuf = PyBytes_FromStringAndSize(NULL, READ_SIZE);
        if (io->rbuf == NULL) {
            PyErr_Clear();       /* libuv reports ENOBUFS to read_cb */
        }
    }
    buf->base = io->rbuf ? PyBytes_AS_STRING(io->rbuf) : NULL;
    buf->len = io->rbuf ? READ_SIZE : 0;
}

/* The bytes read, as a new reference (NULL with an exception). */
static PyObject *
take_read(pyasync_io *io, const uv_buf_t *buf, ssize_t nread)
{
    if (nread <= READ_COPY_MAX) {
        return PyBytes_FromStringAndSize(buf->base, nread);
    }
    PyObject **slot = io->rbulk != NULL
                      && buf->base == PyBytes_AS_STRING(io->rbulk)
                      ? &io->rbulk : &io->rbuf;
    PyObject *chunk = *slot;
    *slot = NULL;
    if (_PyBytes_Resize(&chunk, nread) < 0) {
        return NULL;
    }
    return chunk;
}

/* A large chunk that nobody kept after data_received() (we hold the only
 * reference, so no one can see it change) becomes the shared read buffer
 * again (as the spare: libuv's last alloc_cb, the one whose read found
 * nothing, has already made the next).  Otherwise each large read mallocs
 * and frees a large buffer, and glibc trims and regrows its heap: page
 * faults on every read. */
static void
release_chunk(pyasync_io *io, PyObject *chunk)      /* steals chunk */
{
#ifdef Py_GIL_DISABLED
    /* (A reference count proves nothing there: the owning thread's.) */
    int unique = PyUnstable_Object_IsUniquelyReferenced(chunk);
#else
    int unique = Py_REFCNT(chunk) == 1;
#endif
    if (io->rbuf_spare != NULL || !unique || !PyBytes_CheckExact(chunk)
        || PyBytes_GET_SIZE(chunk) <= READ_COPY_MAX) {
        Py_DECREF(chunk);
        return;
    }
    /* Growing back is mostly in place: its tail was freed just behind. */
    if (PyBytes_GET_SIZE(chunk) != READ_SIZE
        && _PyBytes_Resize(&chunk, READ_SIZE) < 0) {
        PyErr_Clear();          /* chunk is gone: the next read allocates */
        return;
    }
    /* New contents: forget a hash computed for the old ones (the field is
     * deprecated for readers, but it is where bytes cache their hash). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    ((PyBytesObject *)chunk)->ob_shash = -1;
#pragma GCC diagnostic pop
    io->rbuf_spare = chunk;
}

static void
stream_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    StreamObj *self = (StreamObj *)stream->data;
    pyasync_loop_hold_gil(self->loop);
    if (nread > 0) {
        /* Data was still waiting after a read that filled its buffer:
         * bulk reads from now on, until a short one. */
        if (nread < READ_SIZE) {
            self->bulk_reads = 0;
        }
        else if (self->last_read_full) {
            self->bulk_reads = 1;
        }
        self->last_read_full = (size_t)nread == buf->len;
        PyObject *chunk = take_read(self->loop->io, buf, nread);
        if (chunk == NULL
            || (self->rqueue == NULL
                && (self->rqueue = PyList_New(0)) == NULL)
            || PyList_Append(self->rqueue, chunk) < 0) {
            uvcall_unraisable((PyObject *)self);
        }
        Py_XDECREF(chunk);
        stream_schedule_deliver(self);
    }
    else if (nread == UV_ENOBUFS && self->read_deferred) {
        /* stream_alloc_cb declined: the socket is readable, and the
         * protocol's own buffer takes the data at delivery. */
        self->read_deferred = 0;
        self->readable = 1;
        stream_schedule_deliver(self);
    }
    else if (nread < 0) {
        stream_stop_reading(self);
        self->read_done = 1;
        if (nread != UV_EOF) {
            Py_XSETREF(self->read_exc, uvcall_oserror((int)nread));
            if (self->read_exc == NULL) {
                uvcall_unraisable((PyObject *)self);
            }
        }
        stream_schedule_deliver(self);
    }
    else {
        /* nread == 0 (EAGAIN): the buffer stays for the next read. */
        self->last_read_full = 0;
    }
}

void
stream_stop_reading(StreamObj *self)
{
    if (self->reading) {
        self->reading = 0;
        uv_read_stop(&self->uv.stream);
    }
}

/* Start libuv reading when the transport wants data. */
int
stream_start_reading(StreamObj *self)
{
    if (!self->handle_open || self->reading || self->paused
        || self->closing || self->read_done
        || self->kind == STREAM_PIPE_WRITE) {
        return 0;
    }
    int err = uv_read_start(&self->uv.stream, stream_alloc_cb,
                            stream_read_cb);
    if (err < 0) {
        self->read_done = 1;
        Py_XSETREF(self->read_exc, uvcall_oserror(err));
        if (self->read_exc == NULL) {
            return -1;
        }
        return stream_kick(self);
    }
    self->reading = 1;
    return 0;
}

static int
stream_wants_data(StreamObj *self)
{
    return self->protocol != NULL && !self->paused && !self->closing;
}

/* BufferedProtocol: get_buffer(-1)'s buffer, writable and not empty, in
 * view: 1.  Else the fatal error asyncio reports, and what
 * stream_fatal_current() returns (0, or -1 to propagate). */
static int
protocol_buffer(StreamObj *self, Py_buffer *view)
{
    PyObject *b = PyObject_CallMethod(self->protocol, "get_buffer", "i", -1);
    if (b == NULL) {
        goto failed;
    }
    int r = PyObject_GetBuffer(b, view, PyBUF_WRITABLE);
    Py_DECREF(b);
    if (r < 0) {
        goto failed;
    }
    if (view->len == 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_RuntimeError,
                        "get_buffer() returned an empty buffer");
        goto failed;
    }
    return 1;
failed:
    return stream_fatal_current(self, "Fatal error: protocol.get_buffer() "
                                "call failed.");
}

static int
call_buffer_updated(StreamObj *self, Py_ssize_t n)
{
    PyObject *r = PyObject_CallMethod(self->protocol, "buffer_updated", "n",
                                      n);
    if (r == NULL) {
        return stream_fatal_current(
            self, "Fatal error: protocol.buffer_updated() call failed.");
    }
    Py_DECREF(r);
    return 0;
}

/* BufferedProtocol: copy chunk (read before the protocol was set) into
 * get_buffer(-1)'s buffers. */
static int
feed_buffered(StreamObj *self, PyObject *chunk)
{
    const char *src = PyBytes_AS_STRING(chunk);
    Py_ssize_t left = PyBytes_GET_SIZE(chunk);
    while (left > 0) {
        Py_buffer view;
        int got = protocol_buffer(self, &view);
        if (got <= 0) {
            return got;
        }
        Py_ssize_t n = view.len < left ? view.len : left;
        memcpy(view.buf, src, (size_t)n);
        PyBuffer_Release(&view);
        src += n;
        left -= n;
        if (call_buffer_updated(self, n) < 0) {
            return -1;
        }
        if (left > 0 && !stream_wants_data(self)) {
            /* Paused in buffer_updated: keep the rest for later. */
            if (self->closing) {
                return 0;
            }
            PyObject *rest = PyBytes_FromStringAndSize(src, left);
            if (rest == NULL) {
                return -1;
            }
            int e = PyList_Insert(self->rqueue, self->rq_head, rest);
            Py_DECREF(rest);
            return e;
        }
    }
    return 0;
}

/* BufferedProtocol, socket readable: one read straight into get_buffer()'s
 * buffer, then buffer_updated(), the EOF or the read error: asyncio's
 * _read_ready__get_buffer. */
static int
read_into_protocol(StreamObj *self)
{
    self->readable = 0;
    uv_os_fd_t fd;
    if (uv_fileno(&self->uv.handle, &fd) < 0) {
        return 0;               /* closed meanwhile */
    }
    Py_buffer view;
    int got = protocol_buffer(self, &view);
    if (got <= 0) {
        return got;
    }
    ssize_t n;
    do {
        n = read(fd, view.buf, (size_t)view.len);
    } while (n < 0 && errno == EINTR);
    int err = errno;
    PyBuffer_Release(&view);
    if (n > 0) {
        return call_buffer_updated(self, n);
    }
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        return 0;               /* libuv still polls: the next event */
    }
    stream_stop_reading(self);
    self->read_done = 1;
    self->eof_delivered = 1;
    if (n == 0) {
        return stream_on_eof(self);
    }
    PyObject *exc = uvcall_oserror(-err);
    if (exc == NULL) {
        return -1;
    }
    int r = stream_fatal_error(self, exc, is_pipe_kind(self)
                               ? "Fatal read error on pipe transport"
                               : "Fatal read error on socket transport");
    Py_DECREF(exc);
    return r;
}

static int
feed(StreamObj *self, PyObject *chunk)
{
    if (self->buffered) {
        return feed_buffered(self, chunk);
    }
    PyObject *args[2] = {self->protocol, chunk};
    PyObject *r = PyObject_VectorcallMethod(
        self->loop->io->str_data_received, args,
        2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (r == NULL) {
        return stream_fatal_current(
            self, "Fatal error: protocol.data_received() call failed.");
    }
    Py_DECREF(r);
    return 0;
}

static int
stream_eof_entry(PyObject *protocol, PyObject *arg)
{
    PyObject *r = PyObject_CallMethod(protocol, "eof_received", NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* The peer closed its end. */
static int
stream_on_eof(StreamObj *self)
{
    if (self->kind == STREAM_PIPE_READ) {
        /* asyncio: eof_received, then connection_lost, via the loop. */
        self->closing = 1;
        self->lost_scheduled = 1;
        if (schedule_in_copy(self, stream_eof_entry, self->protocol,
                             NULL) < 0) {
            return -1;
        }
        return schedule_in_copy(self, stream_call_connection_lost,
                                (PyObject *)self, NULL);
    }
    PyObject *r = PyObject_CallMethodNoArgs(self->protocol,
                                            self->loop->io->str_eof_received);
    if (r == NULL) {
        return stream_fatal_current(
            self, "Fatal error: protocol.eof_received() call failed.");
    }
    int keep_open = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (keep_open < 0) {
        return -1;
    }
    if (!keep_open) {
        return stream_close(self);
    }
    return 0;
}

/* The ready entry behind everything read.  Like asyncio's one recv() per
 * readiness event, it hands over one chunk, or then the EOF or read
 * error, per loop iteration: what libuv read in one go still reaches the
 * protocol over several iterations, as it would from asyncio's loop. */
static int
stream_deliver(PyObject *obj, PyObject *arg)
{
    StreamObj *self = (StreamObj *)obj;
    self->deliver_scheduled = 0;
    if (self->deliver_ctx != self->ctx_read) {
        /* Queued before resume_reading() made a new reader context: as
         * asyncio's new reader, deliver from the next iteration, in it. */
        return stream_kick(self);
    }
    if (!stream_wants_data(self)) {
        if (self->closing && self->rqueue != NULL) {
            self->rq_head = 0;
            return PyList_SetSlice(self->rqueue, 0, PY_SSIZE_T_MAX, NULL);
        }
        return 0;
    }
    if (self->rqueue != NULL
        && self->rq_head < PyList_GET_SIZE(self->rqueue)) {
        /* Taken out of its slot (left NULL: the list never reaches
         * Python code, and list dealloc/traverse/clear skip NULLs), so
         * that an emptied queue is truncated in place, keeping its array
         * (PyList_SetSlice would free it, and the next read realloc it). */
        PyObject *chunk = PyList_GET_ITEM(self->rqueue, self->rq_head);
        PyList_SET_ITEM(self->rqueue, self->rq_head, NULL);
        self->rq_head++;
        int r = feed(self, chunk);
        if (self->rq_head >= PyList_GET_SIZE(self->rqueue)) {
            Py_SET_SIZE(self->rqueue, 0);   /* slots before rq_head: NULL */
            self->rq_head = 0;
        }
        release_chunk(self->loop->io, chunk);
        if (r < 0) {
            return -1;
        }
        if (!stream_wants_data(self)) {
            return 0;
        }
        if (PyList_GET_SIZE(self->rqueue) > 0
            || (self->read_done && !self->eof_delivered)) {
            return stream_kick(self);       /* the rest: next iteration */
        }
        return stream_start_reading(self);
    }
    if (self->buffered && self->readable && !self->read_done) {
        return read_into_protocol(self);
    }
    if (!self->read_done) {
        /* Nothing waiting (after resume_reading): read again. */
        return stream_start_reading(self);
    }
    if (self->eof_delivered) {
        return 0;
    }
    self->eof_delivered = 1;
    if (self->read_exc != NULL) {
        PyObject *exc = self->read_exc;
        self->read_exc = NULL;
        int r = stream_fatal_error(
            self, exc, is_pipe_kind(self)
                       ? "Fatal read error on pipe transport"
                       : "Fatal read error on socket transport");
        Py_DECREF(exc);
        return r;
    }
    return stream_on_eof(self);
}

/* ---- flow control --------------------------------------------------- */

static void
call_protocol_hook(StreamObj *self, const char *name, const char *message)
{
    PyObject *r = PyObject_CallMethod(self->protocol, name, NULL);
    if (r != NULL) {
        Py_DECREF(r);
        return;
    }
    if (is_fatal_to_loop()) {
        return;             /* stays set: the caller propagates it */
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    if (stream_report(self, message, value) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

int
stream_maybe_pause_protocol(StreamObj *self)
{
    if (self->wsize <= self->high_water || self->protocol_paused
        || self->protocol == NULL) {
        return 0;
    }
    self->protocol_paused = 1;
    call_protocol_hook(self, "pause_writing",
                       "protocol.pause_writing() failed");
    return PyErr_Occurred() ? -1 : 0;
}

static int
stream_maybe_resume_protocol(StreamObj *self)
{
    if (!self->protocol_paused || self->wsize > self->low_water
        || self->protocol == NULL) {
        return 0;
    }
    self->protocol_paused = 0;
    call_protocol_hook(self, "resume_writing",
                       "protocol.resume_writing() failed");
    return PyErr_Occurred() ? -1 : 0;
}

/* ---- writing -------------------------------------------------------- */

static int
stream_write_error_entry(PyObject *obj, PyObject *exc)
{
    StreamObj *self = (StreamObj *)obj;
    if (self->conn_lost) {
        return 0;
    }
    return stream_fatal_error(
        self, exc, is_pipe_kind(self)
                   ? "Fatal write error on pipe transport"
                   : "Fatal write error on socket transport");
}

/* After writes completed: resume the protocol, finish a close(). */
static int
stream_write_done_entry(PyObject *obj, PyObject *arg)
{
    StreamObj *self = (StreamObj *)obj;
    if (self->conn_lost || self->lost_called) {
        return 0;
    }
    if (stream_maybe_resume_protocol(self) < 0) {
        return -1;
    }
    if (self->nwrites == 0 && self->closing && !self->lost_scheduled) {
        self->lost_scheduled = 1;
        return stream_call_connection_lost(obj, NULL);
    }
    return 0;
}

static void
stream_write_cb(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    StreamObj *self = (StreamObj *)req->handle->data;
    pyasync_loop_hold_gil(self->loop);
    self->wsize = self->wsize > w->len ? self->wsize - w->len : 0;
    self->nwrites--;
    Py_DECREF(w->data);
    PyMem_Free(w);
    if (status == UV_ECANCELED || self->conn_lost || self->lost_called) {
        /* The handle is closing: nobody is waiting for these. */
    }
    else if (status < 0) {
        PyObject *exc = uvcall_oserror(status);
        if (exc == NULL) {
            uvcall_unraisable((PyObject *)self);
        }
        else {
            stream_schedule_or_report(self, stream_write_error_entry, exc);
            Py_DECREF(exc);
        }
    }
    else if ((self->protocol_paused && self->wsize <= self->low_water)
             || (self->nwrites == 0 && self->closing)) {
        stream_schedule_or_report(self, stream_write_done_entry, NULL);
    }
}

/* Queue buf[off:] (data's buffer) with uv_write, keeping the bytes
 * alive: data itself when it is bytes (immutable: libuv sends its tail
 * in place, as uvloop does; a 10 MiB write that the socket took 2 MiB
 * of is not copied), else a copy of the tail (a bytearray or memoryview
 * may change after write() returns). */
static int
stream_queue_write(StreamObj *self, PyObject *data, const char *buf,
                   Py_ssize_t len, Py_ssize_t off)
{
    if (self->nwrites == 0) {
        /* asyncio adds its writer now, its Handle copying this context
         * (3.15: the transport's own). */
        PyObject *ctx = stream_callback_context(self);
        if (ctx == NULL) {
            return -1;
        }
        Py_XSETREF(self->ctx_write, ctx);
    }
    PyObject *keep;
    const char *start;
    if (PyBytes_CheckExact(data)) {
        keep = Py_NewRef(data);
        start = PyBytes_AS_STRING(keep) + off;
    }
    else {
        keep = PyBytes_FromStringAndSize(buf + off, len - off);
        if (keep == NULL) {
            return -1;
        }
        start = PyBytes_AS_STRING(keep);
    }
    write_req *w = PyMem_Malloc(sizeof(write_req));
    if (w == NULL) {
        Py_DECREF(keep);
        PyErr_NoMemory();
        return -1;
    }
    w->data = keep;
    w->len = (size_t)(len - off);
    uv_buf_t ub = uv_buf_init((char *)start, (unsigned)w->len);
    int err = uv_write(&w->req, &self->uv.stream, &ub, 1, stream_write_cb);
    if (err < 0) {
        Py_DECREF(keep);
        PyMem_Free(w);
        PyObject *exc = uvcall_oserror(err);
        if (exc == NULL) {
            return -1;
        }
        int r = stream_write_error_entry((PyObject *)self, exc);
        Py_DECREF(exc);
        return r;
    }
    self->nwrites++;
    self->wsize += w->len;
    return 0;
}

/* A write after the connection was lost: asyncio counts them and warns
 * from the fifth on. */
static int
stream_write_lost(StreamObj *self)
{
    if (self->conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        PyObject *log = PyImport_ImportModule("asyncio.log");
        PyObject *logger = log ? PyObject_GetAttrString(log, "logger") : NULL;
        Py_XDECREF(log);
        PyObject *r = logger == NULL ? NULL : PyObject_CallMethod(
            logger, "warning", "s",
            is_pipe_kind(self)
            ? "pipe closed by peer or os.write(pipe, data) raised exception."
            : "socket.send() raised exception.");
        Py_XDECREF(logger);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    self->conn_lost++;
    return 0;
}

/* write(data): straight to the socket when nothing is queued (as asyncio
 * tries send() first), the rest queued in libuv. */
int
stream_write(StreamObj *self, PyObject *data)
{
    if (!PyBytes_Check(data) && !PyByteArray_Check(data)
        && !PyMemoryView_Check(data)) {
#if PY_VERSION_HEX >= 0x030E0000
        PyErr_Format(PyExc_TypeError, "data argument must be a bytes, "
                     "bytearray, or memoryview object, not '%s'",
                     Py_TYPE(data)->tp_name);
#else
        PyErr_Format(PyExc_TypeError,
                     "data argument must be a bytes-like object, not '%s'",
                     Py_TYPE(data)->tp_name);
#endif
        return -1;
    }
    if (self->kind == STREAM_PIPE_READ) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "a read pipe transport cannot write");
        return -1;
    }
    if (self->eof && !is_pipe_kind(self)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Cannot call write() after write_eof()");
        return -1;
    }
    if (self->empty_waiter != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "unable to write; sendfile is in progress");
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    int r = 0;
    if (view.len == 0) {
        goto done;
    }
    if (self->conn_lost
        || (self->kind == STREAM_PIPE_WRITE && self->closing)) {
        r = stream_write_lost(self);
        goto done;
    }
    if (!self->handle_open) {
        goto done;
    }
    Py_ssize_t off = 0;
    if (self->nwrites == 0) {
        uv_buf_t ub = uv_buf_init(view.buf, (unsigned)view.len);
        int n = view.len > (Py_ssize_t)UINT_MAX
                ? UV_EAGAIN : uv_try_write(&self->uv.stream, &ub, 1);
        if (n >= 0) {
            off = n;
        }
        else if (n != UV_EAGAIN) {
            PyObject *exc = uvcall_oserror(n);
            if (exc == NULL) {
                r = -1;
                goto done;
            }
            r = stream_write_error_entry((PyObject *)self, exc);
            Py_DECREF(exc);
            goto done;
        }
    }
    if (off < view.len) {
        r = stream_queue_write(self, data, view.buf, view.len, off);
        if (r == 0) {
            r = stream_maybe_pause_protocol(self);
        }
    }
done:
    PyBuffer_Release(&view);
    return r;
}

/* ---- closing -------------------------------------------------------- */

static int
stream_call_connection_lost(PyObject *obj, PyObject *exc)
{
    StreamObj *self = (StreamObj *)obj;
    if (self->lost_called) {
        return 0;
    }
    self->lost_called = 1;
    int r = 0;
    if (self->protocol != NULL && self->protocol_connected) {
        PyObject *res = PyObject_CallMethod(self->protocol, "connection_lost",
                                            "O", exc ? exc : Py_None);
        if (res == NULL) {
            r = -1;
        }
        Py_XDECREF(res);
    }
    /* finally: as asyncio, close the socket and forget the protocol. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    stream_close_handle(self);
    if (self->sock != NULL) {
        PyObject *res = PyObject_CallMethod(self->sock, "close", NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(self->sock);
        }
        Py_XDECREF(res);
        Py_CLEAR(self->sock);
    }
    Py_CLEAR(self->protocol);
    PyObject *server = self->server;
    self->server = NULL;
    if (server != NULL) {
#if PY_VERSION_HEX >= 0x030D0000
        PyObject *res = PyObject_CallMethod(server, "_detach", "(O)",
                                            (PyObject *)self);
#else
        PyObject *res = PyObject_CallMethod(server, "_detach", NULL);
#endif
        if (res == NULL) {
            PyErr_WriteUnraisable(server);
        }
        Py_XDECREF(res);
        Py_DECREF(server);
    }
    PyErr_Restore(type, value, tb);
    return r;
}

/* close(): stop reading; connection_lost(None) once the writes drained. */
int
stream_close(StreamObj *self)
{
    if (self->closing) {
        return 0;
    }
    self->closing = 1;
    stream_stop_reading(self);
    if (self->nwrites == 0) {
        if (self->kind != STREAM_PIPE_WRITE) {
            self->conn_lost++;
        }
        self->lost_scheduled = 1;
        return schedule_in_copy(self, stream_call_connection_lost,
                                (PyObject *)self, NULL);
    }
    return 0;
}

static void
stream_shutdown_cb(uv_shutdown_t *req, int status)
{
    PyMem_RawFree(req);
}

int
stream_write_eof(StreamObj *self)
{
    if (self->kind == STREAM_PIPE_WRITE) {
        return stream_close(self);
    }
    if (self->closing || self->eof) {
        return 0;
    }
    self->eof = 1;
    if (!self->handle_open) {
        return 0;
    }
    /* libuv shuts down after the pending writes, as asyncio does. */
    uv_shutdown_t *req = PyMem_RawMalloc(sizeof(uv_shutdown_t));
    if (req == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int err = uv_shutdown(req, &self->uv.stream, stream_shutdown_cb);
    if (err < 0) {
        PyMem_RawFree(req);
        if (err != UV_ENOTCONN) {
            uvcall_raise(err);
            return -1;
        }
    }
    return 0;
}
