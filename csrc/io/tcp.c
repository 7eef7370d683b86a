/* tcp.c: connecting a stream transport: uv_tcp_connect for TCP (the
 * socket was made, and maybe bound, in Python), uv_pipe_connect for Unix
 * sockets.  _connect(address) returns a future; the result is set from
 * the ready queue. */
#include "io/stream_impl.h"
#include "io/uvcall.h"
#include <string.h>

typedef struct {
    union {
        uv_connect_t req;
    } u;
    StreamObj *owner;           /* owned until the callback */
} connect_req;

/* The future's outcome: exc NULL means success. */
static int
connect_done_entry(PyObject *fut, PyObject *exc)
{
    PyObject *done = PyObject_CallMethod(fut, "done", NULL);
    if (done == NULL) {
        return -1;
    }
    int d = PyObject_IsTrue(done);
    Py_DECREF(done);
    if (d != 0) {
        return d < 0 ? -1 : 0;     /* cancelled meanwhile */
    }
    PyObject *r = exc ? PyObject_CallMethod(fut, "set_exception", "(O)", exc)
                      : PyObject_CallMethod(fut, "set_result", "(O)", Py_None);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static void
connect_cb(uv_connect_t *req, int status)
{
    PyGILState_STATE g = PyGILState_Ensure();
    connect_req *c = (connect_req *)req;
    StreamObj *self = c->owner;
    PyObject *fut = self->connect_fut;
    self->connect_fut = NULL;
    if (fut != NULL) {
        PyObject *exc = status < 0 ? uvcall_oserror(status) : NULL;
        if ((status < 0 && exc == NULL)
            || ready_push(&self->loop->ready, connect_done_entry, fut, exc,
                          NULL) < 0) {
            uvcall_unraisable((PyObject *)self);
        }
        Py_XDECREF(exc);
        Py_DECREF(fut);
    }
    Py_DECREF(self);
    PyMem_Free(c);
    PyGILState_Release(g);
}

/* (host, port[, flowinfo, scope_id]) with a numeric host. */
static int
parse_inet(PyObject *address, struct sockaddr_storage *ss)
{
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyTuple_Check(address)
        || !PyArg_ParseTuple(address, "si|II", &host, &port, &flowinfo,
                             &scope_id)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "address must be a tuple");
        }
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    int err = uv_ip6_addr(host, port, in6);
    if (err < 0) {
        PyErr_Format(PyExc_ValueError, "not a numeric address: %R", address);
        return -1;
    }
    in6->sin6_flowinfo = htonl(flowinfo);
    if (scope_id) {
        in6->sin6_scope_id = scope_id;
    }
    return 0;
}

PyObject *
stream_connect(StreamObj *self, PyObject *address)
{
    if (!self->handle_open || self->connect_fut != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "transport cannot connect");
        return NULL;
    }
    struct sockaddr_storage ss;
    PyObject *path = NULL;
    if (self->kind == STREAM_TCP) {
        if (parse_inet(address, &ss) < 0) {
            return NULL;
        }
    }
    else if (self->kind == STREAM_UNIX) {
        if (!PyUnicode_FSConverter(address, &path)) {
            return NULL;
        }
    }
    else {
        PyErr_SetString(PyExc_TypeError, "pipes do not connect");
        return NULL;
    }
    PyObject *fut = PyObject_CallMethod((PyObject *)self->loop,
                                        "create_future", NULL);
    connect_req *c = fut ? PyMem_Malloc(sizeof(connect_req)) : NULL;
    if (c == NULL) {
        Py_XDECREF(path);
        if (fut != NULL) {
            PyErr_NoMemory();
        }
        Py_XDECREF(fut);
        return NULL;
    }
    c->owner = (StreamObj *)Py_NewRef(self);
    if (self->kind == STREAM_TCP) {
        int err = uv_tcp_connect(&c->u.req, &self->uv.tcp,
                                 (struct sockaddr *)&ss, connect_cb);
        if (err < 0) {
            Py_DECREF(self);
            PyMem_Free(c);
            Py_DECREF(fut);
            return uvcall_raise(err);
        }
    }
    else {
        /* Errors (even a too long path) come through the callback. */
        uv_pipe_connect(&c->u.req, &self->uv.pipe, PyBytes_AS_STRING(path),
                        connect_cb);
        Py_DECREF(path);
    }
    self->connect_fut = Py_NewRef(fut);
    return fut;
}
