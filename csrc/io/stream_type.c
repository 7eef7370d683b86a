/* stream_type.c: StreamTransport's Python face (asyncio's Transport API)
 * and the Loop methods that make stream transports. */
#include "io/stream_impl.h"
#include "io/uvcall.h"
#include <structmember.h>

/* ---- starting ------------------------------------------------------- */

int
stream_set_protocol(StreamObj *self, PyObject *protocol)
{
    int b = PyObject_IsInstance(protocol,
                                self->loop->st->io_BufferedProtocol);
    if (b < 0) {
        return -1;
    }
    Py_XSETREF(self->protocol, Py_NewRef(protocol));
    self->buffered = (char)b;
    self->protocol_connected = 1;
    return 0;
}

static int
start_reading_entry(PyObject *obj, PyObject *arg)
{
    return stream_start_reading((StreamObj *)obj);
}

/* asyncio.futures._set_result_unless_cancelled(waiter, None). */
static int
set_waiter_entry(PyObject *waiter, PyObject *arg)
{
    PyObject *c = PyObject_CallMethod(waiter, "cancelled", NULL);
    if (c == NULL) {
        return -1;
    }
    int cancelled = PyObject_IsTrue(c);
    Py_DECREF(c);
    if (cancelled) {
        return cancelled < 0 ? -1 : 0;
    }
    PyObject *r = PyObject_CallMethod(waiter, "set_result", "(O)", Py_None);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

PyObject *
stream_callback_context(StreamObj *self)
{
    if (self->ctx_fixed != NULL) {
        return Py_NewRef(self->ctx_fixed);
    }
    return PyContext_CopyCurrent();
}

int
stream_start(StreamObj *self, PyObject *protocol, PyObject *waiter,
             PyObject *extra, PyObject *server)
{
    if (self->protocol != NULL || self->lost_called) {
        PyErr_SetString(PyExc_RuntimeError, "transport already started");
        return -1;
    }
    if (stream_set_protocol(self, protocol) < 0) {
        return -1;
    }
    /* The reader's context: asyncio's call_soon(_add_reader) copies the
     * current one (a snapshot, like this), whose Handle copies it again;
     * 3.15's transport has one of its own. */
    PyObject *ctx = stream_callback_context(self);
    if (ctx == NULL) {
        return -1;
    }
    Py_XSETREF(self->ctx_read, ctx);
    if (extra != NULL && extra != Py_None) {
        Py_XSETREF(self->extra, PyDict_Copy(extra));
        if (self->extra == NULL) {
            return -1;
        }
    }
    /* asyncio's order: connection_made, start reading, the waiter.  A
     * protocol without connection_made fails before the server counts the
     * transport: Server.wait_closed() (3.12+) would wait for it forever. */
    PyObject *made = PyObject_GetAttrString(protocol, "connection_made");
    if (made == NULL) {
        return -1;
    }
    if (server != NULL && server != Py_None) {
#if PY_VERSION_HEX >= 0x030D0000
        /* 3.13's Server lists its transports (close_clients()). */
        PyObject *res = PyObject_CallMethod(server, "_attach", "(O)",
                                            (PyObject *)self);
#else
        PyObject *res = PyObject_CallMethod(server, "_attach", NULL);
#endif
        if (res == NULL) {
            Py_DECREF(made);
            return -1;
        }
        Py_DECREF(res);
        Py_XSETREF(self->server, Py_NewRef(server));
    }
    int r = pyasync_call_soon(self->loop->st, (PyObject *)self->loop, made,
                              (PyObject *)self, self->ctx_fixed);
    Py_DECREF(made);
    if (r < 0) {
        return -1;
    }
    if (self->kind != STREAM_PIPE_WRITE
        && ready_push(&self->loop->ready, start_reading_entry,
                      (PyObject *)self, NULL, NULL) < 0) {
        return -1;
    }
    if (waiter != NULL && waiter != Py_None
        && ready_push(&self->loop->ready, set_waiter_entry, waiter, NULL,
                      NULL) < 0) {
        return -1;
    }
    return 0;
}

PyObject *
pyasync_pipe_transport_new(LoopObj *loop, int kind, PyObject *pipe,
                           PyObject *protocol, PyObject *waiter,
                           PyObject *extra)
{
    int fd = PyObject_AsFileDescriptor(pipe);
    if (fd < 0) {
        return NULL;
    }
    PyObject *tr = pyasync_stream_new(loop, kind, fd, pipe);
    if (tr == NULL) {
        return NULL;
    }
    PyObject *ex = (extra && extra != Py_None) ? PyDict_Copy(extra)
                                               : PyDict_New();
    if (ex == NULL || PyDict_SetItemString(ex, "pipe", pipe) < 0
        || stream_start((StreamObj *)tr, protocol, waiter, ex, NULL) < 0) {
        Py_XDECREF(ex);
        ((StreamObj *)tr)->lost_called = 1;
        Py_CLEAR(((StreamObj *)tr)->sock);   /* the caller's to close */
        stream_close_handle((StreamObj *)tr);
        Py_DECREF(tr);
        return NULL;
    }
    Py_DECREF(ex);
    return tr;
}

/* ---- Transport methods ---------------------------------------------- */

static PyObject *
Stream_write(StreamObj *self, PyObject *data)
{
    if (stream_write(self, data) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#if PY_VERSION_HEX >= 0x030C0000
static PyObject *
Stream_writelines(StreamObj *self, PyObject *lines)
{
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
    if (empty == NULL) {
        return NULL;
    }
    /* One argument, whatever it is: "O" would unpack a tuple of lines
     * into several. */
    PyObject *join = PyUnicode_FromString("join");
    PyObject *data = join == NULL
                     ? NULL : PyObject_CallMethodOneArg(empty, join, lines);
    Py_XDECREF(join);
    Py_DECREF(empty);
    if (data == NULL) {
        return NULL;
    }
    int r = stream_write(self, data);
    Py_DECREF(data);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}
#endif

static PyObject *
Stream_write_eof(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (stream_write_eof(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_can_write_eof(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->kind != STREAM_PIPE_READ);
}

static PyObject *
Stream_close(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (stream_close(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_abort(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (stream_force_close(self, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream__force_close(StreamObj *self, PyObject *exc)
{
    if (stream_force_close(self, exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_is_closing(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->closing);
}

/* A write pipe is no ReadTransport: asyncio's inherits the base's
 * reading methods, which raise NotImplementedError. */
static int
refuse_on_write_pipe(StreamObj *self)
{
    if (self->kind == STREAM_PIPE_WRITE) {
        PyErr_SetNone(PyExc_NotImplementedError);
        return -1;
    }
    return 0;
}

static PyObject *
Stream_is_reading(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (refuse_on_write_pipe(self) < 0) {
        return NULL;
    }
    return PyBool_FromLong(!self->paused && !self->closing);
}

static PyObject *
Stream_pause_reading(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (refuse_on_write_pipe(self) < 0) {
        return NULL;
    }
    if (!self->paused && !self->closing) {
        self->paused = 1;
        stream_stop_reading(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_resume_reading(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    if (refuse_on_write_pipe(self) < 0) {
        return NULL;
    }
    if (self->closing || !self->paused) {
        Py_RETURN_NONE;
    }
    self->paused = 0;
    /* asyncio adds a new reader: its Handle copies the caller's context
     * (3.15: the transport's own). */
    PyObject *ctx = stream_callback_context(self);
    if (ctx == NULL) {
        return NULL;
    }
    Py_XSETREF(self->ctx_read, ctx);
    int pending = (self->rqueue != NULL
                   && self->rq_head < PyList_GET_SIZE(self->rqueue))
                  || (self->read_done && !self->eof_delivered);
    /* What was read meanwhile goes through the loop, like a read event. */
    if ((pending ? stream_kick(self) : stream_start_reading(self)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_get_write_buffer_size(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(self->wsize);
}

static PyObject *
Stream_get_write_buffer_limits(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(nn)", (Py_ssize_t)self->low_water,
                         (Py_ssize_t)self->high_water);
}

static int
as_ssize(PyObject *o, Py_ssize_t *out)
{
    *out = PyNumber_AsSsize_t(o, PyExc_OverflowError);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* asyncio's _FlowControlMixin._set_write_buffer_limits. */
static PyObject *
Stream_set_write_buffer_limits(StreamObj *self, PyObject *args,
                               PyObject *kwds)
{
    static char *kwlist[] = {"high", "low", NULL};
    PyObject *high = Py_None, *low = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds,
                                     "|OO:set_write_buffer_limits", kwlist,
                                     &high, &low)) {
        return NULL;
    }
    Py_ssize_t h, l;
    if (high == Py_None) {
        if (low == Py_None) {
            h = 64 * 1024;
        }
        else {
            if (as_ssize(low, &l) < 0) {
                return NULL;
            }
            h = 4 * l;
        }
    }
    else if (as_ssize(high, &h) < 0) {
        return NULL;
    }
    if (low == Py_None) {
        l = h >= 0 ? h / 4 : -((-h + 3) / 4);   /* Python's floor division */
    }
    else if (as_ssize(low, &l) < 0) {
        return NULL;
    }
    if (!(h >= l && l >= 0)) {
        PyErr_Format(PyExc_ValueError,
                     "high (%zd) must be >= low (%zd) must be >= 0", h, l);
        return NULL;
    }
    self->high_water = (size_t)h;
    self->low_water = (size_t)l;
    if (stream_maybe_pause_protocol(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_set_protocol(StreamObj *self, PyObject *protocol)
{
    if (stream_set_protocol(self, protocol) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_get_protocol(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self->protocol ? self->protocol : Py_None);
}

/* _start(protocol, waiter=None, extra=None, server=None, sock=None,
 *        context=None): context, 3.15's transport context. */
static PyObject *
Stream__start(StreamObj *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"protocol", "waiter", "extra", "server", "sock",
                             "context", NULL};
    PyObject *protocol, *waiter = Py_None, *extra = Py_None;
    PyObject *server = Py_None, *sock = Py_None, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOOOO:_start", kwlist,
                                     &protocol, &waiter, &extra, &server,
                                     &sock, &context)) {
        return NULL;
    }
    if (context != Py_None) {
        if (!PyContext_CheckExact(context)) {
            PyErr_Format(PyExc_TypeError, "a Context was expected, got %R",
                         context);
            return NULL;
        }
        Py_XSETREF(self->ctx_fixed, Py_NewRef(context));
    }
    if (sock != Py_None) {
        Py_XSETREF(self->sock, Py_NewRef(sock));
    }
    if (stream_start(self, protocol, waiter, extra, server) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream__connect(StreamObj *self, PyObject *address)
{
    return stream_connect(self, address);
}

/* The fd libuv reads and writes (a dup of the socket's), or -1. */
static PyObject *
Stream__fileno(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    uv_os_fd_t fd;
    if (!self->handle_open || uv_fileno(&self->uv.handle, &fd) < 0) {
        return PyLong_FromLong(-1);
    }
    return PyLong_FromLong(fd);
}

/* Close without protocol calls, for set-ups that failed or probes; the
 * socket object is left to the caller. */
static PyObject *
Stream__discard(StreamObj *self, PyObject *Py_UNUSED(ignored))
{
    self->closing = 1;
    self->lost_called = 1;
    Py_CLEAR(self->sock);
    stream_close_handle(self);
    Py_RETURN_NONE;
}

static PyObject *
Stream_repr(StreamObj *self)
{
    static const char *kinds[] = {"tcp", "unix", "read pipe", "write pipe"};
    uv_os_fd_t fd = -1;
    if (self->handle_open) {
        uv_fileno(&self->uv.handle, &fd);
    }
    const char *state = self->lost_called ? "closed"
                        : self->closing ? "closing" : "open";
    return PyUnicode_FromFormat(
        "<StreamTransport %s fd=%d %s%s bufsize=%zu>", kinds[self->kind],
        (int)fd, state, self->paused ? " read=paused" : "", self->wsize);
}

static PyObject *
Stream_get_loop(StreamObj *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->lost_called ? Py_None : (PyObject *)self->loop);
}

static PyObject *
Stream_get_protocol_paused(StreamObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->protocol_paused);
}

static PyObject *
Stream_get_closed(StreamObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->lost_called);
}

/* ---- type ----------------------------------------------------------- */

static int
Stream_traverse(StreamObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->protocol);
    Py_VISIT(self->extra);
    Py_VISIT(self->sock);
    Py_VISIT(self->server);
    Py_VISIT(self->rqueue);
    Py_VISIT(self->read_exc);
    Py_VISIT(self->connect_fut);
    Py_VISIT(self->ctx_read);
    Py_VISIT(self->ctx_write);
    Py_VISIT(self->ctx_fixed);
    Py_VISIT(self->dict);
    return 0;
}

static int
Stream_clear(StreamObj *self)
{
    Py_CLEAR(self->protocol);
    Py_CLEAR(self->extra);
    Py_CLEAR(self->sock);
    Py_CLEAR(self->server);
    Py_CLEAR(self->rqueue);
    Py_CLEAR(self->read_exc);
    Py_CLEAR(self->connect_fut);
    Py_CLEAR(self->ctx_read);
    Py_CLEAR(self->ctx_write);
    Py_CLEAR(self->ctx_fixed);
    Py_CLEAR(self->dict);
    return 0;
}

static void
Stream_dealloc(StreamObj *self)
{
    /* Reached only once libuv has closed the handle (it held a
     * reference until then) or it was never opened. */
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Stream_clear(self);
    Py_CLEAR(self->loop);
    tp->tp_free(self);
    Py_DECREF(tp);
}

#define NOARGS(name) \
    {#name, (PyCFunction)Stream_##name, METH_NOARGS, NULL}

static PyMethodDef Stream_methods[] = {
    {"write", (PyCFunction)Stream_write, METH_O, NULL},
#if PY_VERSION_HEX >= 0x030C0000
    /* 3.11's transports inherit WriteTransport.writelines(), which calls
     * self.write() (a patched write sees it): so does ours there. */
    {"writelines", (PyCFunction)Stream_writelines, METH_O, NULL},
#endif
    NOARGS(write_eof),
    NOARGS(can_write_eof),
    NOARGS(close),
    NOARGS(abort),
    NOARGS(is_closing),
    NOARGS(is_reading),
    NOARGS(pause_reading),
    NOARGS(resume_reading),
    NOARGS(get_write_buffer_size),
    NOARGS(get_write_buffer_limits),
    {"set_write_buffer_limits",
     (PyCFunction)(void (*)(void))Stream_set_write_buffer_limits,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"set_protocol", (PyCFunction)Stream_set_protocol, METH_O, NULL},
    NOARGS(get_protocol),
    {"_force_close", (PyCFunction)Stream__force_close, METH_O, NULL},
    {"_start", (PyCFunction)(void (*)(void))Stream__start,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_connect", (PyCFunction)Stream__connect, METH_O, NULL},
    NOARGS(_fileno),
    NOARGS(_discard),
    {NULL},
};

static PyGetSetDef Stream_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {"_loop", (getter)Stream_get_loop, NULL, NULL, NULL},
    {"_protocol_paused", (getter)Stream_get_protocol_paused, NULL, NULL,
     NULL},
    {"_closed", (getter)Stream_get_closed, NULL, NULL, NULL},
    {NULL},
};

static PyMemberDef Stream_members[] = {
    {"_conn_lost", T_PYSSIZET, offsetof(StreamObj, conn_lost), READONLY,
     NULL},
    {"_empty_waiter", T_OBJECT, offsetof(StreamObj, empty_waiter), READONLY,
     NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(StreamObj, weakreflist),
     READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(StreamObj, dict), READONLY,
     NULL},
    {NULL},
};

static PyType_Slot Stream_slots[] = {
    {Py_tp_dealloc, Stream_dealloc},
    {Py_tp_traverse, Stream_traverse},
    {Py_tp_clear, Stream_clear},
    {Py_tp_methods, Stream_methods},
    {Py_tp_getset, Stream_getset},
    {Py_tp_members, Stream_members},
    {Py_tp_repr, Stream_repr},
    {Py_tp_doc, "A stream transport (TCP, Unix socket or pipe) on libuv."},
    {0, NULL},
};

static PyType_Spec Stream_spec = {
    .name = "pyasync._core.StreamTransport",
    .basicsize = sizeof(StreamObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Stream_slots,
};

/* ---- Loop methods --------------------------------------------------- */

/* _stream_new(kind, fd=-1, sock=None): an unstarted transport on a dup
 * of fd. */
static PyObject *
Loop__stream_new(PyObject *loop, PyObject *args)
{
    int kind, fd = -1;
    PyObject *sock = Py_None;
    if (!PyArg_ParseTuple(args, "i|iO:_stream_new", &kind, &fd, &sock)) {
        return NULL;
    }
    return pyasync_stream_new((LoopObj *)loop, kind, fd, sock);
}

static PyObject *
make_pipe_transport(PyObject *loop, PyObject *args, PyObject *kwds, int kind)
{
    static char *kwlist[] = {"pipe", "protocol", "waiter", "extra", NULL};
    PyObject *pipe, *protocol, *waiter = Py_None, *extra = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO:_pipe_transport",
                                     kwlist, &pipe, &protocol, &waiter,
                                     &extra)) {
        return NULL;
    }
    return pyasync_pipe_transport_new((LoopObj *)loop, kind, pipe, protocol,
                                      waiter, extra);
}

static PyObject *
Loop__read_pipe_transport(PyObject *loop, PyObject *args, PyObject *kwds)
{
    return make_pipe_transport(loop, args, kwds, STREAM_PIPE_READ);
}

static PyObject *
Loop__write_pipe_transport(PyObject *loop, PyObject *args, PyObject *kwds)
{
    return make_pipe_transport(loop, args, kwds, STREAM_PIPE_WRITE);
}

static PyMethodDef Loop_stream_methods[] = {
    {"_stream_new", (PyCFunction)Loop__stream_new, METH_VARARGS, NULL},
    {"_read_pipe_transport",
     (PyCFunction)(void (*)(void))Loop__read_pipe_transport,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_write_pipe_transport",
     (PyCFunction)(void (*)(void))Loop__write_pipe_transport,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {NULL},
};

int
pyasync_io_add_methods(PyTypeObject *tp, PyMethodDef *defs)
{
    for (PyMethodDef *d = defs; d->ml_name != NULL; d++) {
        PyObject *m = PyDescr_NewMethod(tp, d);
        if (m == NULL) {
            return -1;
        }
        int r = PyObject_SetAttrString((PyObject *)tp, d->ml_name, m);
        Py_DECREF(m);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

int
pyasync_stream_init(PyObject *module, pyasync_state *st)
{
    PyObject *transports = PyImport_ImportModule("asyncio.transports");
    if (transports == NULL) {
        return -1;
    }
    PyObject *base = PyObject_GetAttrString(transports, "Transport");
    Py_DECREF(transports);
    if (base == NULL) {
        return -1;
    }
    /* Our `extra` must sit where the base's only slot (_extra) is. */
    if (((PyTypeObject *)base)->tp_basicsize
        != (Py_ssize_t)offsetof(StreamObj, extra) + (Py_ssize_t)sizeof(PyObject *)) {
        Py_DECREF(base);
        PyErr_SetString(PyExc_ImportError,
                        "asyncio.Transport's layout is not the expected one");
        return -1;
    }
    st->Stream_Type = PyType_FromModuleAndSpec(module, &Stream_spec, base);
    Py_DECREF(base);
    if (st->Stream_Type == NULL
        || PyModule_AddObjectRef(module, "StreamTransport",
                                 st->Stream_Type) < 0) {
        return -1;
    }
    PyObject *protocols = PyImport_ImportModule("asyncio.protocols");
    if (protocols == NULL) {
        return -1;
    }
    st->io_BufferedProtocol = PyObject_GetAttrString(protocols,
                                                     "BufferedProtocol");
    Py_DECREF(protocols);
    if (st->io_BufferedProtocol == NULL) {
        return -1;
    }
    return pyasync_io_add_methods(st->Loop_Type, Loop_stream_methods);
}
