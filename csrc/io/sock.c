/* sock.c: the loop's low-level socket methods (sock_recv, sock_sendall,
 * sock_connect, sock_accept, ...), readiness-based as asyncio's selector
 * loop: try the call; if it would block, wait on the fd's shared uv_poll
 * with a Handle whose callback retries it, and a done-callback on the
 * future that removes the interest (so cancelling removes it too).
 *
 * pyasync/_io.py wraps each _sock_* method in a coroutine: the method
 * returns (result,) when the call succeeded at once, else the future. */
#include "io/io.h"
#include "core/handle.h"
#include <sys/socket.h>

enum {
    OP_RECV, OP_RECV_INTO, OP_RECVFROM, OP_RECVFROM_INTO,
    OP_SENDTO, OP_SENDALL, OP_CONNECT, OP_ACCEPT, OP_COUNT
};

/* Waits for writability (else readability). */
static const char op_writes[OP_COUNT] = {0, 0, 0, 0, 1, 1, 1, 0};

static int
would_block(void)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError)
        || PyErr_ExceptionMatches(PyExc_InterruptedError)) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* sock.send(view[pos[0]:]); 1 when everything went out. */
static int
sendall_attempt(PyObject *sock, PyObject *view, PyObject *pos)
{
    Py_ssize_t start = PyLong_AsSsize_t(PyList_GET_ITEM(pos, 0));
    if (start == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *rest = PySequence_GetSlice(view, start, PY_SSIZE_T_MAX);
    if (rest == NULL) {
        return -1;
    }
    PyObject *r = call_method1(sock, "send", rest);
    Py_DECREF(rest);
    if (r == NULL) {
        return would_block() ? 0 : -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(r);
    Py_DECREF(r);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    start += n;
    Py_ssize_t len = PyObject_Length(view);
    if (len < 0) {
        return -1;
    }
    if (start == len) {
        return 1;
    }
    PyObject *v = PyLong_FromSsize_t(start);
    if (v == NULL) {
        return -1;
    }
    PyList_SetItem(pos, 0, v);
    return 0;
}

/* A connect in progress finished: SO_ERROR says how. */
static PyObject *
connect_result(PyObject *sock, PyObject *address)
{
    PyObject *r = PyObject_CallMethod(sock, "getsockopt", "ii",
                                      SOL_SOCKET, SO_ERROR);
    if (r == NULL) {
        return NULL;
    }
    long err = PyLong_AsLong(r);
    Py_DECREF(r);
    if (err == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (err != 0) {
        PyObject *msg = PyUnicode_FromFormat("Connect call failed %S",
                                             address);
        PyObject *args = msg ? Py_BuildValue("(lN)", err, msg) : NULL;
        if (args != NULL) {
            PyErr_SetObject(PyExc_OSError, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
accept_result(PyObject *sock)
{
    PyObject *pair = PyObject_CallMethod(sock, "accept", NULL);
    if (pair == NULL) {
        return NULL;
    }
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError,
                        "sock.accept() must return (conn, address)");
        return NULL;
    }
    PyObject *r = call_method1(PyTuple_GET_ITEM(pair, 0), "setblocking",
                               Py_False);
    if (r == NULL) {
        Py_DECREF(pair);
        return NULL;
    }
    Py_DECREF(r);
    return pair;
}

/* One try of op: 1 with *res set, 0 if it would block, -1 on error.
 * a and b are the op's arguments (see the _sock_* methods). */
static int
sock_attempt(int op, PyObject *sock, PyObject *a, PyObject *b,
             PyObject **res)
{
    PyObject *r = NULL;
    switch (op) {
    case OP_RECV:
        r = call_method1(sock, "recv", a);
        break;
    case OP_RECV_INTO:
        r = call_method1(sock, "recv_into", a);
        break;
    case OP_RECVFROM:
        r = call_method1(sock, "recvfrom", a);
        break;
    case OP_RECVFROM_INTO:
        r = PyObject_CallMethod(sock, "recvfrom_into", "OO", a, b);
        break;
    case OP_SENDTO:
        r = PyObject_CallMethod(sock, "sendto", "OiO", a, 0, b);
        break;
    case OP_SENDALL: {
        int done = sendall_attempt(sock, a, b);
        if (done == 1) {
            *res = Py_NewRef(Py_None);
        }
        return done;
    }
    case OP_CONNECT:
        r = connect_result(sock, a);
        break;
    case OP_ACCEPT:
        r = accept_result(sock);
        break;
    }
    if (r == NULL) {
        return would_block() ? 0 : -1;
    }
    *res = r;
    return 1;
}

/* ---- the poll callbacks ------------------------------------------- */

static PyObject *
call_fut(PyObject *fut, const char *meth, PyObject *arg)
{
    return arg ? call_method1(fut, meth, arg)
               : PyObject_CallMethod(fut, meth, NULL);
}

/* The Handle callback: retry op for fut unless fut is already done
 * (cancelled in the previous iteration). */
static PyObject *
sock_ready(int op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "expected (fut, sock, a, b)");
        return NULL;
    }
    PyObject *fut = args[0], *res = NULL, *r;
    r = call_fut(fut, "done", NULL);
    if (r == NULL) {
        return NULL;
    }
    int done = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (done != 0) {
        return done < 0 ? NULL : Py_NewRef(Py_None);
    }
    int st = sock_attempt(op, args[1], args[2], args[3], &res);
    if (st == 0) {
        Py_RETURN_NONE;
    }
    if (st > 0) {
        r = call_fut(fut, "set_result", res);
        Py_DECREF(res);
        return r;
    }
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)
        || PyErr_ExceptionMatches(PyExc_SystemExit)) {
        return NULL;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    r = call_fut(fut, "set_exception", value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return r;
}

#define READY_FN(name, op) \
    static PyObject * \
    name(PyObject *self, PyObject *const *args, Py_ssize_t nargs) \
    { \
        return sock_ready(op, args, nargs); \
    }
READY_FN(ready_recv, OP_RECV)
READY_FN(ready_recv_into, OP_RECV_INTO)
READY_FN(ready_recvfrom, OP_RECVFROM)
READY_FN(ready_recvfrom_into, OP_RECVFROM_INTO)
READY_FN(ready_sendto, OP_SENDTO)
READY_FN(ready_sendall, OP_SENDALL)
READY_FN(ready_connect, OP_CONNECT)
READY_FN(ready_accept, OP_ACCEPT)
#undef READY_FN

#define READY_DEF(name, fn) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, NULL}
static PyMethodDef ready_defs[OP_COUNT] = {
    READY_DEF("_sock_recv", ready_recv),
    READY_DEF("_sock_recv_into", ready_recv_into),
    READY_DEF("_sock_recvfrom", ready_recvfrom),
    READY_DEF("_sock_recvfrom_into", ready_recvfrom_into),
    READY_DEF("_sock_sendto", ready_sendto),
    READY_DEF("_sock_sendall", ready_sendall),
    READY_DEF("_sock_connect_cb", ready_connect),
    READY_DEF("_sock_accept", ready_accept),
};
#undef READY_DEF

/* fut's done-callback, bound to (loop, fd, handle, writes): asyncio's
 * _sock_read_done/_sock_write_done.  The interest goes unless the
 * Handle was replaced (and so cancelled) meanwhile. */
static PyObject *
sock_done(PyObject *self, PyObject *fut)
{
    LoopObj *loop = (LoopObj *)PyTuple_GET_ITEM(self, 0);
    int fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(self, 1));
    PyObject *handle = PyTuple_GET_ITEM(self, 2);
    int writes = PyObject_IsTrue(PyTuple_GET_ITEM(self, 3));
    if (handle_is_cancelled(handle) || loop->closed) {
        Py_RETURN_NONE;
    }
    if (io_poll_remove(loop, fd, writes) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef sock_done_def = {
    "_sock_done", (PyCFunction)sock_done, METH_O, NULL,
};

/* ---- starting an operation ---------------------------------------- */

static PyObject *
sock_callback(pyasync_io *io, int op)
{
    if (io->sock_callbacks[op] == NULL) {
        io->sock_callbacks[op] = PyCFunction_New(&ready_defs[op], NULL);
    }
    return io->sock_callbacks[op];
}

/* asyncio's checks: no SSLSocket; in debug mode, non-blocking only. */
static int
sock_check(LoopObj *self, pyasync_io *io, PyObject *sock)
{
    if (io->check_ssl_socket == NULL) {
        PyObject *be = PyImport_ImportModule("asyncio.base_events");
        if (be == NULL) {
            return -1;
        }
        io->check_ssl_socket = PyObject_GetAttrString(be,
                                                      "_check_ssl_socket");
        Py_DECREF(be);
        if (io->check_ssl_socket == NULL) {
            return -1;
        }
    }
    PyObject *r = PyObject_CallOneArg(io->check_ssl_socket, sock);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    if (!self->debug) {
        return 0;
    }
    r = PyObject_CallMethod(sock, "gettimeout", NULL);
    if (r == NULL) {
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0);
    int ne = zero ? PyObject_RichCompareBool(r, zero, Py_NE) : -1;
    Py_XDECREF(zero);
    Py_DECREF(r);
    if (ne != 0) {
        if (ne > 0) {
            PyErr_SetString(PyExc_ValueError,
                            "the socket must be non-blocking");
        }
        return -1;
    }
    return 0;
}

/* Wait for op on sock: the future its coroutine awaits. */
static PyObject *
sock_wait(LoopObj *self, pyasync_io *io, int op, PyObject *sock,
          PyObject *a, PyObject *b)
{
    int fd;
    PyObject *fut = NULL, *fdobj = NULL, *cbargs = NULL, *handle = NULL;
    PyObject *bound = NULL, *done = NULL, *r = NULL;
    PyObject *callback = sock_callback(io, op);
    if (callback == NULL) {
        return NULL;
    }
    fut = PyObject_CallMethod((PyObject *)self, "create_future", NULL);
    if (fut == NULL) {
        goto fail;
    }
    if ((fdobj = PyObject_CallMethod(sock, "fileno", NULL)) == NULL
        || io_fileobj_to_fd(fdobj, &fd) < 0
        || io_ensure_fd_no_transport(self, fdobj, fd) < 0) {
        goto fail;
    }
    if (self->closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        goto fail;
    }
    if (io_check_thread(self) < 0) {
        goto fail;
    }
    cbargs = PyTuple_Pack(4, fut, sock, a ? a : Py_None, b ? b : Py_None);
    if (cbargs == NULL) {
        goto fail;
    }
    handle = handle_new(self->st, callback, cbargs, (PyObject *)self, NULL);
    if (handle == NULL || io_poll_set(self, fd, op_writes[op], handle) < 0) {
        goto fail;
    }
    bound = Py_BuildValue("(OOOO)", self, fdobj, handle,
                          op_writes[op] ? Py_True : Py_False);
    if (bound == NULL
        || (done = PyCFunction_New(&sock_done_def, bound)) == NULL
        || (r = call_fut(fut, "add_done_callback", done)) == NULL) {
        goto fail;
    }
    Py_DECREF(r);
    Py_DECREF(done);
    Py_DECREF(bound);
    Py_DECREF(handle);
    Py_DECREF(cbargs);
    Py_DECREF(fdobj);
    return fut;
fail:
    Py_XDECREF(done);
    Py_XDECREF(bound);
    Py_XDECREF(handle);
    Py_XDECREF(cbargs);
    Py_XDECREF(fdobj);
    Py_XDECREF(fut);
    return NULL;
}

/* Try op at once; (result,) or the future to await. */
static PyObject *
sock_start(LoopObj *self, int op, PyObject *sock, PyObject *a, PyObject *b)
{
    pyasync_io *io = io_get(self);
    if (io == NULL || sock_check(self, io, sock) < 0) {
        return NULL;
    }
    PyObject *res = NULL;
    int st = sock_attempt(op, sock, a, b, &res);
    if (st < 0) {
        return NULL;
    }
    if (st > 0) {
        return Py_BuildValue("(N)", res);
    }
    return sock_wait(self, io, op, sock, a, b);
}

/* ---- Python methods ------------------------------------------------- */

/* The positional-count check of a fastcall method, with the message
 * CPython's argument clinic gives ("f expected 2 arguments, got 1").
 * Ours because _PyArg_CheckPositional left the public headers in 3.13. */
static int
nargs_exactly(const char *name, Py_ssize_t nargs, Py_ssize_t n)
{
    if (nargs == n) {
        return 1;
    }
    PyErr_Format(PyExc_TypeError, "%.200s expected %zd argument%s, got %zd",
                 name, n, n == 1 ? "" : "s", nargs);
    return 0;
}

static PyObject *
Loop__sock_recv(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_recv", nargs, 2)) {
        return NULL;
    }
    return sock_start(self, OP_RECV, args[0], args[1], NULL);
}

static PyObject *
Loop__sock_recv_into(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_recv_into", nargs, 2)) {
        return NULL;
    }
    return sock_start(self, OP_RECV_INTO, args[0], args[1], NULL);
}

static PyObject *
Loop__sock_recvfrom(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_recvfrom", nargs, 2)) {
        return NULL;
    }
    return sock_start(self, OP_RECVFROM, args[0], args[1], NULL);
}

static PyObject *
Loop__sock_recvfrom_into(LoopObj *self, PyObject *const *args,
                         Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_recvfrom_into", nargs, 3)) {
        return NULL;
    }
    return sock_start(self, OP_RECVFROM_INTO, args[0], args[1], args[2]);
}

static PyObject *
Loop__sock_sendto(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_sendto", nargs, 3)) {
        return NULL;
    }
    return sock_start(self, OP_SENDTO, args[0], args[1], args[2]);
}

static PyObject *
Loop__sock_accept(LoopObj *self, PyObject *sock)
{
    return sock_start(self, OP_ACCEPT, sock, NULL, NULL);
}

/* sendall: one send() first, then wait with the rest as a memoryview
 * and the position in a list, as asyncio does. */
static PyObject *
Loop__sock_sendall(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_sendall", nargs, 2)) {
        return NULL;
    }
    PyObject *sock = args[0], *data = args[1];
    pyasync_io *io = io_get(self);
    if (io == NULL || sock_check(self, io, sock) < 0) {
        return NULL;
    }
    Py_ssize_t n = 0;
    PyObject *r = call_method1(sock, "send", data);
    if (r == NULL) {
        if (!would_block()) {
            return NULL;
        }
    }
    else {
        n = PyLong_AsSsize_t(r);
        Py_DECREF(r);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_ssize_t len = PyObject_Length(data);
    if (len < 0) {
        return NULL;
    }
    if (n == len) {
        return Py_BuildValue("(O)", Py_None);
    }
    PyObject *view = PyMemoryView_FromObject(data);
    PyObject *pos = view ? Py_BuildValue("[n]", n) : NULL;
    PyObject *fut = pos ? sock_wait(self, io, OP_SENDALL, sock, view, pos)
                        : NULL;
    Py_XDECREF(view);
    Py_XDECREF(pos);
    return fut;
}

/* connect to an already resolved address. */
static PyObject *
Loop__sock_connect(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_exactly("_sock_connect", nargs, 2)) {
        return NULL;
    }
    PyObject *sock = args[0], *address = args[1];
    pyasync_io *io = io_get(self);
    if (io == NULL) {
        return NULL;
    }
    PyObject *r = call_method1(sock, "connect", address);
    if (r != NULL) {
        Py_DECREF(r);
        return Py_BuildValue("(O)", Py_None);
    }
    if (!would_block()) {
        return NULL;
    }
    return sock_wait(self, io, OP_CONNECT, sock, address, NULL);
}

/* _sock_check(sock): asyncio's checks, for the Python wrappers. */
static PyObject *
Loop__sock_check(LoopObj *self, PyObject *sock)
{
    pyasync_io *io = io_get(self);
    if (io == NULL || sock_check(self, io, sock) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#define FASTCALL(name, fn) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, NULL}
static PyMethodDef sock_methods[] = {
    FASTCALL("_sock_recv", Loop__sock_recv),
    FASTCALL("_sock_recv_into", Loop__sock_recv_into),
    FASTCALL("_sock_recvfrom", Loop__sock_recvfrom),
    FASTCALL("_sock_recvfrom_into", Loop__sock_recvfrom_into),
    FASTCALL("_sock_sendto", Loop__sock_sendto),
    FASTCALL("_sock_sendall", Loop__sock_sendall),
    FASTCALL("_sock_connect", Loop__sock_connect),
    {"_sock_accept", (PyCFunction)Loop__sock_accept, METH_O, NULL},
    {"_sock_check", (PyCFunction)Loop__sock_check, METH_O, NULL},
    {NULL},
};
#undef FASTCALL

int
io_sock_traverse(pyasync_io *io, visitproc visit, void *arg)
{
    for (int i = 0; i < OP_COUNT; i++) {
        Py_VISIT(io->sock_callbacks[i]);
    }
    Py_VISIT(io->check_ssl_socket);
    return 0;
}

void
io_sock_clear(pyasync_io *io)
{
    for (int i = 0; i < OP_COUNT; i++) {
        Py_CLEAR(io->sock_callbacks[i]);
    }
    Py_CLEAR(io->check_ssl_socket);
}

int
pyasync_io_sock_init(PyObject *module, pyasync_state *st)
{
    return io_install_methods(st, sock_methods);
}
