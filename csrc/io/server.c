/* server.c: _core.Listener, a listening uv_tcp_t or uv_pipe_t.
 *
 * Each accepted connection becomes an unstarted StreamTransport handed to
 * on_accept(transport) through the ready queue; on_accept(exc) reports an
 * accept error.  The Python side (pyasync/_streams_io.py) makes the
 * protocol and starts the transport; asyncio.base_events.Server does the
 * rest.  Like transports, a listener keeps itself alive while its handle
 * is open; libuv listens on a dup of the socket's fd. */
#include "io/io.h"
#include "io/stream_impl.h"
#include "io/uvcall.h"
#include <stddef.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    pyasync_iohandle ioh;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } uv;
    LoopObj *loop;
    PyObject *on_accept;
    /* asyncio's accept reader is a Handle: it copies the context current
     * at _start_serving() and runs every accept in that copy. */
    PyObject *context;
    int kind;
    char open;
} ListenerObj;

static void
listener_close_cb(uv_handle_t *handle)
{
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)handle->data);
    PyGILState_Release(g);
}

static void
listener_close(ListenerObj *self)
{
    if (self->open) {
        self->open = 0;
        pyasync_io_unlink(&self->ioh);
        uv_close(&self->uv.handle, listener_close_cb);
    }
}

static void
listener_ioh_close(pyasync_iohandle *h)
{
    listener_close((ListenerObj *)((char *)h - offsetof(ListenerObj, ioh)));
}

static int
call_on_accept(PyObject *on_accept, PyObject *arg)
{
    PyObject *r = PyObject_CallOneArg(on_accept, arg);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static void
connection_cb(uv_stream_t *server, int status)
{
    PyGILState_STATE g = PyGILState_Ensure();
    ListenerObj *self = (ListenerObj *)server->data;
    PyObject *arg = NULL;
    if (status < 0) {
        arg = uvcall_oserror(status);
    }
    else {
        arg = pyasync_stream_new(self->loop, self->kind, -1, NULL);
        if (arg != NULL) {
            int err = uv_accept(server, &((StreamObj *)arg)->uv.stream);
            if (err < 0) {
                stream_close_handle((StreamObj *)arg);
                Py_SETREF(arg, uvcall_oserror(err));
            }
            else if (self->kind == STREAM_TCP) {
                uv_tcp_nodelay(&((StreamObj *)arg)->uv.tcp, 1);
            }
        }
    }
    if (arg == NULL
        || ready_push(&self->loop->ready, call_on_accept, self->on_accept,
                      arg, self->context) < 0) {
        uvcall_unraisable((PyObject *)self);
    }
    Py_XDECREF(arg);
    PyGILState_Release(g);
}

static PyObject *
Listener_close(ListenerObj *self, PyObject *Py_UNUSED(ignored))
{
    listener_close(self);
    Py_RETURN_NONE;
}

static int
Listener_traverse(ListenerObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->on_accept);
    Py_VISIT(self->context);
    return 0;
}

static int
Listener_clear(ListenerObj *self)
{
    Py_CLEAR(self->on_accept);
    Py_CLEAR(self->context);
    return 0;
}

static void
Listener_dealloc(ListenerObj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Listener_clear(self);
    Py_CLEAR(self->loop);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef Listener_methods[] = {
    {"close", (PyCFunction)Listener_close, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot Listener_slots[] = {
    {Py_tp_dealloc, Listener_dealloc},
    {Py_tp_traverse, Listener_traverse},
    {Py_tp_clear, Listener_clear},
    {Py_tp_methods, Listener_methods},
    {Py_tp_doc, "A listening socket on libuv (see server.c)."},
    {0, NULL},
};

static PyType_Spec Listener_spec = {
    .name = "pyasync._core.Listener",
    .basicsize = sizeof(ListenerObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Listener_slots,
};

/* loop._listen(kind, fd, backlog, on_accept) -> Listener */
static PyObject *
Loop__listen(PyObject *loop_obj, PyObject *args)
{
    LoopObj *loop = (LoopObj *)loop_obj;
    int kind, fd, backlog;
    PyObject *on_accept;
    if (!PyArg_ParseTuple(args, "iiiO:_listen", &kind, &fd, &backlog,
                          &on_accept)) {
        return NULL;
    }
    if (kind != STREAM_TCP && kind != STREAM_UNIX) {
        PyErr_SetString(PyExc_ValueError, "bad listener kind");
        return NULL;
    }
    if (!loop->uv_open || loop->closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    if (io_check_thread(loop) < 0) {    /* (see pyasync_stream_new) */
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)loop->st->Listener_Type;
    ListenerObj *self = (ListenerObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop = (LoopObj *)Py_NewRef(loop);
    self->on_accept = Py_NewRef(on_accept);
    self->kind = kind;
    self->context = PyContext_CopyCurrent();
    if (self->context == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    int err = kind == STREAM_TCP ? uv_tcp_init(&loop->uv, &self->uv.tcp)
                                 : uv_pipe_init(&loop->uv, &self->uv.pipe, 0);
    if (err < 0) {
        Py_DECREF(self);
        return uvcall_raise(err);
    }
    self->uv.handle.data = self;
    self->open = 1;
    Py_INCREF(self);                       /* until listener_close_cb */
    self->ioh.close_fn = listener_ioh_close;
    pyasync_io_link(loop, &self->ioh);
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
    if ((err = uv_listen(&self->uv.stream, backlog, connection_cb)) < 0) {
        uvcall_raise(err);
        goto fail;
    }
    return (PyObject *)self;
fail:
    listener_close(self);
    Py_DECREF(self);
    return NULL;
}

static PyMethodDef Loop_server_methods[] = {
    {"_listen", (PyCFunction)Loop__listen, METH_VARARGS, NULL},
    {NULL},
};

int
pyasync_server_init(PyObject *module, pyasync_state *st)
{
    st->Listener_Type = PyType_FromModuleAndSpec(module, &Listener_spec,
                                                 NULL);
    if (st->Listener_Type == NULL
        || PyModule_AddObjectRef(module, "Listener", st->Listener_Type) < 0) {
        return -1;
    }
    return pyasync_io_add_methods(st->Loop_Type, Loop_server_methods);
}
