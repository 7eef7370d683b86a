/* udp.c: _core.UDPHandle, a uv_udp_t on a datagram socket.
 *
 * The transport logic (asyncio's checks, flow control, close) is Python,
 * pyasync/_udp_io.py; this file owns the libuv handle: it receives
 * datagrams and queues on_datagram(data, addr) or on_error(exc) on the
 * loop's ready queue, and sends what the socket could not take at once
 * (uv_udp_send keeps the order), calling on_drained() when that queue is
 * empty again.
 *
 * One datagram per loop iteration, as asyncio reads one per readiness
 * event: the receive callback stops reading after each datagram and the
 * ready entry delivering it starts again, so the next poll decides.  That
 * keeps asyncio's interleaving of callbacks between endpoints.
 *
 * libuv gets a dup() of the socket's fd: uv_close() closes the dup and the
 * Python socket object keeps owning its own fd, as asyncio's does. */
#include "io/udp.h"
#include "io/io.h"
#include "io/uvcall.h"
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* asyncio's _SelectorTransport.max_size: a datagram longer than this is
 * truncated, as recvfrom(max_size) would. */
#define UDP_RECV_SIZE (256 * 1024)

typedef struct {
    PyObject_HEAD
    uv_udp_t udp;
    pyasync_iohandle link;      /* in the loop's list while open */
    LoopObj *loop;
    PyObject *on_datagram;      /* on_datagram(data, addr) */
    PyObject *on_error;         /* on_error(exc) */
    PyObject *on_drained;       /* on_drained(): the send queue emptied */
    /* As asyncio's reader and writer Handles: copies of the context of
     * start_reading() and of the send() that found the queue empty. */
    PyObject *ctx_read;
    PyObject *ctx_write;
    char *rbuf;                 /* raw malloc: alloc_cb runs without GIL */
    size_t pending;             /* bytes queued with uv_udp_send */
    size_t queued;              /* datagrams queued (empty ones count) */
    int family;
    char open;                  /* uv handle initialized, not yet closing */
    char want_read;             /* between start_reading and stop_reading */
    char reading;               /* uv_udp_recv_start active */
} UDPHandleObj;

typedef struct {
    uv_udp_send_t req;
    UDPHandleObj *owner;        /* owned */
    Py_buffer view;             /* keeps the data alive until sent */
} send_req;

/* ---- addresses ------------------------------------------------------ */

/* A received peer address as Python's socket module spells it. */
static PyObject *
sockaddr_to_py(const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN];
    if (sa == NULL) {
        Py_RETURN_NONE;
    }
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, host, sizeof(host));
        return Py_BuildValue("(si)", host, ntohs(in->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, host, sizeof(host));
        return Py_BuildValue("(siII)", host, ntohs(in6->sin6_port),
                             (unsigned int)ntohl(in6->sin6_flowinfo),
                             (unsigned int)in6->sin6_scope_id);
    }
    case AF_UNIX: {
        /* libuv does not pass the length: names end at the first NUL,
         * abstract ones (leading NUL) at the last non-NUL byte. */
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t max = sizeof(un->sun_path);
        if (un->sun_path[0] == '\0') {
            size_t n = max;
            while (n > 1 && un->sun_path[n - 1] == '\0') {
                n--;
            }
            if (n == 1) {
                Py_RETURN_NONE;          /* an unbound sender */
            }
            return PyBytes_FromStringAndSize(un->sun_path, (Py_ssize_t)n);
        }
        return PyUnicode_DecodeFSDefaultAndSize(un->sun_path,
                                                (Py_ssize_t)strnlen(
                                                    un->sun_path, max));
    }
    default:
        Py_RETURN_NONE;
    }
}

static int
inet_to_sockaddr(PyObject *addr, int family, struct sockaddr_storage *ss)
{
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyTuple_Check(addr)
        || !PyArg_ParseTuple(addr, "si|II", &host, &port, &flowinfo,
                             &scope_id)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "an address tuple is required");
        }
        return -1;
    }
    int err;
    if (family == AF_INET) {
        err = uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
    }
    else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        err = uv_ip6_addr(host, port, in6);
        if (err == 0) {
            in6->sin6_flowinfo = htonl(flowinfo);
            if (scope_id) {
                in6->sin6_scope_id = scope_id;
            }
        }
    }
    if (err != 0) {
        uvcall_raise(err);
        return -1;
    }
    return 0;
}

static int
unix_to_sockaddr(PyObject *addr, struct sockaddr_storage *ss)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    PyObject *b;
    if (PyUnicode_Check(addr)) {
        b = PyUnicode_EncodeFSDefault(addr);
    }
    else if (PyBytes_Check(addr)) {
        b = Py_NewRef(addr);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "a str or bytes path is required");
        return -1;
    }
    if (b == NULL) {
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(b);
    if ((size_t)n >= sizeof(un->sun_path)) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_OSError, "AF_UNIX path too long");
        return -1;
    }
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, PyBytes_AS_STRING(b), (size_t)n);
    Py_DECREF(b);
    return 0;
}

/* A destination for uv_udp_send.  Numeric hosts only: the Python side
 * sends through the socket first, which resolves names itself. */
static int
py_to_sockaddr(PyObject *addr, int family, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET || family == AF_INET6) {
        return inet_to_sockaddr(addr, family, ss);
    }
    if (family == AF_UNIX) {
        return unix_to_sockaddr(addr, ss);
    }
    PyErr_Format(PyExc_OSError, "unsupported address family %d", family);
    return -1;
}

/* ---- libuv callbacks ------------------------------------------------ */

static void
udp_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    UDPHandleObj *self = handle->data;
    if (self->rbuf == NULL) {
        self->rbuf = PyMem_RawMalloc(UDP_RECV_SIZE);
    }
    *buf = uv_buf_init(self->rbuf, self->rbuf ? UDP_RECV_SIZE : 0);
}

static int
udp_recv_start(UDPHandleObj *self);

/* The ready entry for a receive: read again (next poll), then
 * callable(*args). */
static int
udp_deliver(PyObject *obj, PyObject *call)
{
    UDPHandleObj *self = (UDPHandleObj *)obj;
    if (self->open && self->want_read && !self->reading
        && udp_recv_start(self) < 0) {
        return -1;
    }
    PyObject *r = PyObject_Call(PyTuple_GET_ITEM(call, 0),
                                PyTuple_GET_ITEM(call, 1), NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
udp_queue_recv(UDPHandleObj *self, PyObject *callable, PyObject *args)
{
    PyObject *call = PyTuple_Pack(2, callable, args);
    if (call == NULL) {
        return -1;
    }
    int r = ready_push(&self->loop->ready, udp_deliver, (PyObject *)self,
                       call, self->ctx_read);
    Py_DECREF(call);
    return r;
}

static int
udp_queue_datagram(UDPHandleObj *self, const uv_buf_t *buf, ssize_t nread,
                   const struct sockaddr *addr)
{
    PyObject *args = Py_BuildValue("(y#N)", buf->base, (Py_ssize_t)nread,
                                   sockaddr_to_py(addr));
    if (args == NULL) {
        return -1;
    }
    int r = udp_queue_recv(self, self->on_datagram, args);
    Py_DECREF(args);
    return r;
}

static int
udp_queue_error(UDPHandleObj *self, int status, int from_recv)
{
    PyObject *exc = uvcall_oserror(status);
    if (exc == NULL) {
        return -1;
    }
    PyObject *args = PyTuple_Pack(1, exc);
    Py_DECREF(exc);
    if (args == NULL) {
        return -1;
    }
    int r = from_recv ? udp_queue_recv(self, self->on_error, args)
                      : uvcall_schedule_in(self->loop, self->on_error, args,
                                           self->ctx_write);
    Py_DECREF(args);
    return r;
}

static void
udp_recv_cb(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
            const struct sockaddr *addr, unsigned flags)
{
    UDPHandleObj *self = udp->data;
    if (nread == 0 && addr == NULL) {
        return;                     /* nothing more to read for now */
    }
    PyGILState_STATE g = PyGILState_Ensure();
    int r;
    if (nread == UV_ENOBUFS) {
        r = (PyErr_NoMemory(), -1);
    }
    else if (nread < 0) {
        r = udp_queue_error(self, (int)nread, 1);
    }
    else {
        r = udp_queue_datagram(self, buf, nread, addr);
    }
    if (r == 0) {
        uv_udp_recv_stop(udp);      /* until the entry is delivered */
        self->reading = 0;
    }
    else {
        uvcall_unraisable((PyObject *)self);
    }
    PyGILState_Release(g);
}

static void
udp_send_cb(uv_udp_send_t *req, int status)
{
    send_req *sr = (send_req *)req;
    UDPHandleObj *self = sr->owner;
    PyGILState_STATE g = PyGILState_Ensure();
    self->pending -= (size_t)sr->view.len;
    self->queued--;
    PyBuffer_Release(&sr->view);
    int r = 0;
    /* UV_ECANCELED: the handle closed with the datagram unsent, as
     * abort() drops asyncio's buffer. */
    if (status < 0 && status != UV_ECANCELED) {
        r = udp_queue_error(self, status, 0);
    }
    else if (status == 0 && self->queued == 0 && self->open) {
        PyObject *args = PyTuple_New(0);
        r = args ? uvcall_schedule_in(self->loop, self->on_drained, args,
                                      self->ctx_write)
                 : -1;
        Py_XDECREF(args);
    }
    if (r < 0) {
        uvcall_unraisable((PyObject *)self);
    }
    PyMem_Free(sr);
    Py_DECREF(self);
    PyGILState_Release(g);
}

/* The handle is gone: drop the reference it held on us. */
static void
udp_close_cb(uv_handle_t *handle)
{
    UDPHandleObj *self = handle->data;
    PyGILState_STATE g = PyGILState_Ensure();
    PyMem_RawFree(self->rbuf);
    self->rbuf = NULL;
    Py_DECREF(self);
    PyGILState_Release(g);
}

static void
udp_close(UDPHandleObj *self)
{
    if (!self->open) {
        return;
    }
    self->open = 0;
    self->reading = self->want_read = 0;
    pyasync_io_unlink(&self->link);
    uv_close((uv_handle_t *)&self->udp, udp_close_cb);
}

/* Loop close: close the handle if the transport did not. */
static void
udp_force_close(pyasync_iohandle *link)
{
    udp_close((UDPHandleObj *)((char *)link
                               - offsetof(UDPHandleObj, link)));
}

/* ---- methods -------------------------------------------------------- */

static int
udp_recv_start(UDPHandleObj *self)
{
    int err = uv_udp_recv_start(&self->udp, udp_alloc_cb, udp_recv_cb);
    if (err < 0) {
        uvcall_raise(err);
        return -1;
    }
    self->reading = 1;
    return 0;
}

static int
udp_check_open(UDPHandleObj *self)
{
    if (!self->open) {
        PyErr_SetString(PyExc_RuntimeError, "UDP handle is closed");
        return -1;
    }
    return 0;
}

static PyObject *
UDPHandle_start_reading(UDPHandleObj *self, PyObject *Py_UNUSED(ignored))
{
    if (udp_check_open(self) < 0) {
        return NULL;
    }
    PyObject *ctx = PyContext_CopyCurrent();
    if (ctx == NULL) {
        return NULL;
    }
    Py_XSETREF(self->ctx_read, ctx);
    self->want_read = 1;
    if (!self->reading && udp_recv_start(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
UDPHandle_stop_reading(UDPHandleObj *self, PyObject *Py_UNUSED(ignored))
{
    self->want_read = 0;
    if (self->open && self->reading) {
        uv_udp_recv_stop(&self->udp);
        self->reading = 0;
    }
    Py_RETURN_NONE;
}

/* send(data, addr): queue a datagram behind the ones already queued;
 * addr None on a connected socket. */
static PyObject *
UDPHandle_send(UDPHandleObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send(data, addr)");
        return NULL;
    }
    if (udp_check_open(self) < 0) {
        return NULL;
    }
    if (args[1] != Py_None) {
        if (py_to_sockaddr(args[1], self->family, &ss) < 0) {
            return NULL;
        }
        sa = (const struct sockaddr *)&ss;
    }
    send_req *sr = PyMem_Malloc(sizeof(*sr));
    if (sr == NULL) {
        return PyErr_NoMemory();
    }
    if (PyObject_GetBuffer(args[0], &sr->view, PyBUF_SIMPLE) < 0) {
        PyMem_Free(sr);
        return NULL;
    }
    if (self->queued == 0) {
        PyObject *ctx = PyContext_CopyCurrent();
        if (ctx == NULL) {
            PyBuffer_Release(&sr->view);
            PyMem_Free(sr);
            return NULL;
        }
        Py_XSETREF(self->ctx_write, ctx);
    }
    uv_buf_t buf = uv_buf_init(sr->view.buf, (unsigned int)sr->view.len);
    int err = uv_udp_send(&sr->req, &self->udp, &buf, 1, sa, udp_send_cb);
    if (err < 0) {
        PyBuffer_Release(&sr->view);
        PyMem_Free(sr);
        return uvcall_raise(err);
    }
    sr->owner = (UDPHandleObj *)Py_NewRef(self);
    self->pending += (size_t)sr->view.len;
    self->queued++;
    Py_RETURN_NONE;
}

static PyObject *
UDPHandle_close(UDPHandleObj *self, PyObject *Py_UNUSED(ignored))
{
    udp_close(self);
    Py_RETURN_NONE;
}

static PyObject *
UDPHandle_get_pending(UDPHandleObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->pending);
}

static PyObject *
UDPHandle_get_queued(UDPHandleObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->queued);
}

static PyObject *
UDPHandle_get_closed(UDPHandleObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(!self->open);
}

static PyObject *
UDPHandle_get_reading(UDPHandleObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->want_read);
}

/* ---- type ----------------------------------------------------------- */

static int
udp_open_fd(UDPHandleObj *self, int fd)
{
    if (io_check_thread(self->loop) < 0) {  /* (see pyasync_stream_new) */
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->family = ss.ss_family;
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    io_poll_forget_stale(self->loop->io, dupfd);
    int err = uv_udp_init(&self->loop->uv, &self->udp);
    if (err < 0) {
        close(dupfd);
        uvcall_raise(err);
        return -1;
    }
    self->udp.data = self;
    self->open = 1;
    Py_INCREF(self);                /* dropped by udp_close_cb */
    self->link.close_fn = udp_force_close;
    pyasync_io_link(self->loop, &self->link);
    if ((err = uv_udp_open(&self->udp, dupfd)) < 0) {
        close(dupfd);
        udp_close(self);
        uvcall_raise(err);
        return -1;
    }
    return 0;
}

/* UDPHandle(loop, fd, on_datagram, on_error, on_drained) */
static PyObject *
UDPHandle_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "fd", "on_datagram", "on_error",
                             "on_drained", NULL};
    PyObject *loop, *on_datagram, *on_error, *on_drained;
    int fd;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OiOOO:UDPHandle", kwlist,
                                     &loop, &fd, &on_datagram, &on_error,
                                     &on_drained)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_type(tp);
    if (st == NULL) {
        return NULL;
    }
    if (!pyasync_is_loop(st, loop)) {
        PyErr_SetString(PyExc_TypeError, "a pyasync loop is required");
        return NULL;
    }
    if (((LoopObj *)loop)->closed || !((LoopObj *)loop)->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    UDPHandleObj *self = (UDPHandleObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop = (LoopObj *)Py_NewRef(loop);
    self->on_datagram = Py_NewRef(on_datagram);
    self->on_error = Py_NewRef(on_error);
    self->on_drained = Py_NewRef(on_drained);
    if (udp_open_fd(self, fd) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
UDPHandle_traverse(UDPHandleObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->on_datagram);
    Py_VISIT(self->on_error);
    Py_VISIT(self->on_drained);
    Py_VISIT(self->ctx_read);
    Py_VISIT(self->ctx_write);
    return 0;
}

/* Callbacks only: the loop stays until dealloc, libuv may still need it. */
static int
UDPHandle_clear(UDPHandleObj *self)
{
    Py_CLEAR(self->on_datagram);
    Py_CLEAR(self->on_error);
    Py_CLEAR(self->on_drained);
    Py_CLEAR(self->ctx_read);
    Py_CLEAR(self->ctx_write);
    return 0;
}

static void
UDPHandle_dealloc(UDPHandleObj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    UDPHandle_clear(self);
    PyMem_RawFree(self->rbuf);
    Py_CLEAR(self->loop);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef UDPHandle_methods[] = {
    {"start_reading", (PyCFunction)UDPHandle_start_reading, METH_NOARGS,
     NULL},
    {"stop_reading", (PyCFunction)UDPHandle_stop_reading, METH_NOARGS, NULL},
    {"send", (PyCFunction)(void (*)(void))UDPHandle_send, METH_FASTCALL,
     "Queue a datagram behind those already queued."},
    {"close", (PyCFunction)UDPHandle_close, METH_NOARGS,
     "Close the libuv handle (and its dup of the fd); idempotent."},
    {NULL},
};

static PyGetSetDef UDPHandle_getset[] = {
    {"pending", (getter)UDPHandle_get_pending, NULL,
     "Bytes queued with uv_udp_send and not sent yet.", NULL},
    {"queued", (getter)UDPHandle_get_queued, NULL,
     "datagrams queued and not yet sent", NULL},
    {"closed", (getter)UDPHandle_get_closed, NULL, NULL, NULL},
    {"reading", (getter)UDPHandle_get_reading, NULL, NULL, NULL},
    {NULL},
};

static PyType_Slot UDPHandle_slots[] = {
    {Py_tp_new, UDPHandle_new},
    {Py_tp_dealloc, UDPHandle_dealloc},
    {Py_tp_traverse, UDPHandle_traverse},
    {Py_tp_clear, UDPHandle_clear},
    {Py_tp_methods, UDPHandle_methods},
    {Py_tp_getset, UDPHandle_getset},
    {Py_tp_doc, "A libuv UDP handle on a dup of a datagram socket's fd."},
    {0, NULL},
};

static PyType_Spec UDPHandle_spec = {
    .name = "pyasync._core.UDPHandle",
    .basicsize = sizeof(UDPHandleObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = UDPHandle_slots,
};

int
pyasync_udp_init(PyObject *module, pyasync_state *st)
{
    (void)st;
    PyObject *tp = PyType_FromModuleAndSpec(module, &UDPHandle_spec, NULL);
    if (tp == NULL) {
        return -1;
    }
    int r = PyModule_AddType(module, (PyTypeObject *)tp);
    Py_DECREF(tp);
    return r;
}
