/* dns.c: getaddrinfo() and getnameinfo() on libuv's thread pool.
 *
 * Results and errors are socket.getaddrinfo()'s and socket.getnameinfo()'s:
 * the same 5-tuples with AddressFamily/SocketKind members, the same
 * socket.gaierror(code, gai_strerror(code)).  The libuv callback only
 * files the finished request; pyasync_io_after_poll() queues an entry
 * that settles the future in the run phase. */
#include "io/io.h"
#include <string.h>
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>

/* ---- errors --------------------------------------------------------- */

/* libuv's UV_EAI_* back to the resolver's EAI_*; 0 if not one. */
static int
eai_code(int err)
{
    switch (err) {
#define MAP(name) case UV_##name: return name;
#ifdef EAI_ADDRFAMILY
    MAP(EAI_ADDRFAMILY)
#endif
    MAP(EAI_AGAIN)
    MAP(EAI_BADFLAGS)
    MAP(EAI_FAIL)
    MAP(EAI_FAMILY)
    MAP(EAI_MEMORY)
#ifdef EAI_NODATA
    MAP(EAI_NODATA)
#endif
    MAP(EAI_NONAME)
    MAP(EAI_OVERFLOW)
    MAP(EAI_SERVICE)
    MAP(EAI_SOCKTYPE)
#undef MAP
    }
    return 0;
}

/* socket's set_gaierror(). */
static PyObject *
set_gaierror(int code)
{
    PyObject *sockmod = PyImport_ImportModule("socket");
    if (sockmod == NULL) {
        return NULL;
    }
    PyObject *exc = PyObject_GetAttrString(sockmod, "gaierror");
    Py_DECREF(sockmod);
    if (exc == NULL) {
        return NULL;
    }
    PyObject *args = Py_BuildValue("(is)", code, gai_strerror(code));
    if (args != NULL) {
        PyErr_SetObject(exc, args);
        Py_DECREF(args);
    }
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
set_dns_error(int status)
{
    int code = eai_code(status);
    if (code != 0) {
        return set_gaierror(code);
    }
    if (status == UV_ECANCELED) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    return io_uv_error(status);    /* EAI_SYSTEM: errno, as socket */
}

/* ---- results -------------------------------------------------------- */

static PyObject *
make_sockaddr(const struct sockaddr *sa)
{
    char buf[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
        return Py_BuildValue("(si)", buf, ntohs(in->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
        return Py_BuildValue("(siII)", buf, ntohs(in6->sin6_port),
                             (unsigned int)ntohl(in6->sin6_flowinfo),
                             (unsigned int)in6->sin6_scope_id);
    }
    return Py_BuildValue("(iy#)", sa->sa_family, sa->sa_data,
                         (Py_ssize_t)sizeof(sa->sa_data));
}

/* socket._intenum_converter(value, cls). */
static PyObject *
to_enum(PyObject *sockmod, const char *cls_name, int value)
{
    PyObject *cls = PyObject_GetAttrString(sockmod, cls_name);
    if (cls == NULL) {
        return NULL;
    }
    PyObject *v = PyLong_FromLong(value);
    if (v == NULL) {
        Py_DECREF(cls);
        return NULL;
    }
    PyObject *r = PyObject_CallOneArg(cls, v);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        r = Py_NewRef(v);
    }
    Py_XDECREF(v);
    Py_DECREF(cls);
    return r;
}

static PyObject *
addrinfo_list(const struct addrinfo *res)
{
    PyObject *sockmod = PyImport_ImportModule("socket");
    if (sockmod == NULL) {
        return NULL;
    }
    PyObject *list = PyList_New(0);
    for (const struct addrinfo *ai = res; list && ai; ai = ai->ai_next) {
        PyObject *fam = to_enum(sockmod, "AddressFamily", ai->ai_family);
        PyObject *kind = fam ? to_enum(sockmod, "SocketKind",
                                       ai->ai_socktype) : NULL;
        PyObject *sa = kind ? make_sockaddr(ai->ai_addr) : NULL;
        PyObject *t = sa ? Py_BuildValue("(OOisO)", fam, kind,
                                         ai->ai_protocol,
                                         ai->ai_canonname
                                         ? ai->ai_canonname : "", sa)
                         : NULL;
        Py_XDECREF(fam);
        Py_XDECREF(kind);
        Py_XDECREF(sa);
        if (t == NULL || PyList_Append(list, t) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(t);
    }
    Py_DECREF(sockmod);
    return list;
}

/* ---- requests ------------------------------------------------------- */

static void
dns_unlink(pyasync_io *io, io_dns *d)
{
    if (d->prev) {
        d->prev->next = d->next;
    }
    else {
        io->dns = d->next;
    }
    if (d->next) {
        d->next->prev = d->prev;
    }
    d->prev = d->next = NULL;
}

static void
dns_finished(io_dns *d, int status)
{
    pyasync_io *io = d->io;
    d->status = status;
    d->next_done = NULL;
    *io->done_dns_tail = d;
    io->done_dns_tail = &d->next_done;
}

static void
getaddrinfo_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    io_dns *d = (io_dns *)req;
    d->res = res;
    dns_finished(d, status);
}

static void
getnameinfo_cb(uv_getnameinfo_t *req, int status, const char *host,
               const char *service)
{
    io_dns *d = (io_dns *)req;
    if (status == 0) {
        snprintf(d->host, sizeof(d->host), "%s", host ? host : "");
        snprintf(d->service, sizeof(d->service), "%s",
                 service ? service : "");
    }
    dns_finished(d, status);
}

static void
dns_free(io_dns *d)
{
    if (d->res != NULL) {
        uv_freeaddrinfo(d->res);
    }
    Py_XDECREF(d->future);
    PyMem_Free(d);
}

static io_dns *
dns_new(LoopObj *self, pyasync_io *io)
{
    io_dns *d = PyMem_Calloc(1, sizeof(io_dns));
    if (d == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    d->io = io;
    d->future = PyObject_CallMethod((PyObject *)self, "create_future", NULL);
    if (d->future == NULL) {
        PyMem_Free(d);
        return NULL;
    }
    return d;
}

static void
dns_track(pyasync_io *io, io_dns *d)
{
    d->next = io->dns;
    if (io->dns) {
        io->dns->prev = d;
    }
    io->dns = d;
}

/* The entry that settles fut with a result or exception (obj), unless
 * it was cancelled meanwhile. */
static int
dns_settle(PyObject *fut, PyObject *outcome)
{
    PyObject *r = PyObject_CallMethod(fut, "done", NULL);
    if (r == NULL) {
        return -1;
    }
    int done = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (done != 0) {
        return done < 0 ? -1 : 0;
    }
    int is_exc = PyExceptionInstance_Check(outcome);
    r = call_method1(fut, is_exc ? "set_exception" : "set_result",
                     outcome);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* The outcome of a finished request: the result, or the exception
 * instance. */
static PyObject *
dns_outcome(io_dns *d)
{
    PyObject *res;
    if (d->status != 0) {
        set_dns_error(d->status);
        res = NULL;
    }
    else if (d->is_nameinfo) {
        res = Py_BuildValue("(ss)", d->host, d->service);
    }
    else {
        res = addrinfo_list(d->res);
    }
    if (res != NULL) {
        return res;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

void
io_dns_flush(pyasync_io *io, int *failed)
{
    io_dns *d = io->done_dns;
    io->done_dns = NULL;
    io->done_dns_tail = &io->done_dns;
    while (d != NULL) {
        io_dns *next = d->next_done;
        dns_unlink(io, d);
        if (d->future != NULL) {
            PyObject *outcome = dns_outcome(d);
            if (outcome == NULL
                || ready_push(&io->loop->ready, dns_settle, d->future,
                              outcome, NULL) < 0) {
                *failed = 1;
            }
            Py_XDECREF(outcome);
        }
        dns_free(d);
        d = next;
    }
}

/* Closing the loop: cancel what has not started; uv_run then waits
 * for the rest.  The futures are left pending, as asyncio leaves those
 * of its executor's jobs when the loop is closed. */
void
io_dns_close_all(pyasync_io *io)
{
    for (io_dns *d = io->dns; d != NULL; d = d->next) {
        uv_cancel((uv_req_t *)&d->req);
    }
}

void
io_dns_free_all(pyasync_io *io)
{
    io_dns *d = io->done_dns;
    io->done_dns = NULL;
    io->done_dns_tail = &io->done_dns;
    while (d != NULL) {
        io_dns *next = d->next_done;
        dns_unlink(io, d);
        dns_free(d);
        d = next;
    }
    /* None should be left: uv_run finished them all. */
}

int
io_dns_traverse(pyasync_io *io, visitproc visit, void *arg)
{
    for (io_dns *d = io->dns; d != NULL; d = d->next) {
        Py_VISIT(d->future);
    }
    return 0;
}

void
io_dns_clear(pyasync_io *io)
{
    for (io_dns *d = io->dns; d != NULL; d = d->next) {
        Py_CLEAR(d->future);
    }
}

/* ---- argument encoding, as socket.getaddrinfo ---------------------- */

static int
encode_host(PyObject *host, PyObject **out)
{
    if (host == Py_None) {
        *out = NULL;
        return 0;
    }
    if (PyUnicode_Check(host)) {
        *out = PyUnicode_AsEncodedString(host, "idna", NULL);
        return *out ? 0 : -1;
    }
    if (PyBytes_Check(host)) {
        *out = Py_NewRef(host);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError,
                    "getaddrinfo() argument 1 must be string or None");
    return -1;
}

static int
encode_port(PyObject *port, PyObject **out)
{
    if (port == Py_None) {
        *out = NULL;
        return 0;
    }
    if (PyLong_Check(port)) {
        long v = PyLong_AsLong(port);
        if (v == -1 && PyErr_Occurred()) {
#if PY_VERSION_HEX >= 0x030C0000
            /* 3.12's socket.getaddrinfo passes an int too large for a C
             * long on as its digits: the resolver refuses the service. */
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyObject *digits = PyObject_Str(port);
                if (digits == NULL) {
                    return -1;
                }
                *out = PyUnicode_AsUTF8String(digits);
                Py_DECREF(digits);
                return *out ? 0 : -1;
            }
#endif
            return -1;
        }
        *out = PyBytes_FromFormat("%ld", v);
        return *out ? 0 : -1;
    }
    if (PyUnicode_Check(port)) {
        *out = PyUnicode_AsUTF8String(port);
        return *out ? 0 : -1;
    }
    if (PyBytes_Check(port)) {
        *out = Py_NewRef(port);
        return 0;
    }
    PyErr_SetString(PyExc_OSError, "Int or String expected");
    return -1;
}

static int
check_open(LoopObj *self)
{
    if (self->closed || !self->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return io_check_thread(self);
}

/* _getaddrinfo(host, port, family, type, proto, flags) -> future */
static PyObject *
Loop__getaddrinfo(LoopObj *self, PyObject *args)
{
    PyObject *host, *port, *hbytes = NULL, *pbytes = NULL;
    int family, type, proto, flags;
    if (!PyArg_ParseTuple(args, "OOiiii:_getaddrinfo", &host, &port,
                          &family, &type, &proto, &flags)) {
        return NULL;
    }
    if (check_open(self) < 0) {
        return NULL;
    }
    if (encode_host(host, &hbytes) < 0) {
        return NULL;
    }
    if (encode_port(port, &pbytes) < 0) {
        Py_XDECREF(hbytes);
        return NULL;
    }
    if (hbytes == NULL && pbytes == NULL) {
        /* libuv refuses this; the resolver answers EAI_NONAME. */
        return set_gaierror(EAI_NONAME);
    }
    pyasync_io *io = io_get(self);
    io_dns *d = io ? dns_new(self, io) : NULL;
    if (d == NULL) {
        Py_XDECREF(hbytes);
        Py_XDECREF(pbytes);
        return NULL;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = type;
    hints.ai_protocol = proto;
    hints.ai_flags = flags;
    /* libuv copies node and service before returning. */
    int err = uv_getaddrinfo(&self->uv, &d->req.ai, getaddrinfo_cb,
                             hbytes ? PyBytes_AS_STRING(hbytes) : NULL,
                             pbytes ? PyBytes_AS_STRING(pbytes) : NULL,
                             &hints);
    Py_XDECREF(hbytes);
    Py_XDECREF(pbytes);
    if (err != 0) {
        dns_free(d);
        /* UV_EINVAL here is libuv's IDNA step refusing the name (bytes
         * that are not UTF-8, a label over 63 bytes): names the resolver
         * answers with EAI_NONAME. */
        return set_dns_error(err == UV_EINVAL ? UV_EAI_NONAME : err);
    }
    dns_track(io, d);
    return Py_NewRef(d->future);
}

/* socket.getnameinfo()'s argument checks, then libuv's getnameinfo on
 * the numeric address (resolving it with AI_NUMERICHOST never blocks). */
static PyObject *
Loop__getnameinfo(LoopObj *self, PyObject *args)
{
    PyObject *sa;
    int flags;
    const char *hostp;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyArg_ParseTuple(args, "Oi:_getnameinfo", &sa, &flags)) {
        return NULL;
    }
    if (!PyTuple_Check(sa)) {
        PyErr_SetString(PyExc_TypeError,
                        "getnameinfo() argument 1 must be a tuple");
        return NULL;
    }
    if (!PyArg_ParseTuple(sa, "si|II;getnameinfo(): illegal sockaddr "
                          "argument", &hostp, &port, &flowinfo, &scope_id)) {
        return NULL;
    }
    if (flowinfo > 0xfffff) {
        PyErr_SetString(PyExc_OverflowError,
                        "getnameinfo(): flowinfo must be 0-1048575.");
        return NULL;
    }
    if (check_open(self) < 0) {
        return NULL;
    }
    char pbuf[32];
    snprintf(pbuf, sizeof(pbuf), "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = getaddrinfo(hostp, pbuf, &hints, &res);
    Py_END_ALLOW_THREADS
    if (error) {
        if (error == EAI_SYSTEM) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        return set_gaierror(error);
    }
    PyObject *fut = NULL;
    if (res->ai_next) {
        PyErr_SetString(PyExc_OSError,
                        "sockaddr resolved to multiple addresses");
        goto done;
    }
    if (res->ai_family == AF_INET && PyTuple_GET_SIZE(sa) != 2) {
        PyErr_SetString(PyExc_OSError, "IPv4 sockaddr must be 2 tuple");
        goto done;
    }
    if (res->ai_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)res->ai_addr;
        sin6->sin6_flowinfo = htonl(flowinfo);
        sin6->sin6_scope_id = scope_id;
    }
    pyasync_io *io = io_get(self);
    io_dns *d = io ? dns_new(self, io) : NULL;
    if (d == NULL) {
        goto done;
    }
    d->is_nameinfo = 1;
    int err = uv_getnameinfo(&self->uv, &d->req.ni, getnameinfo_cb,
                             res->ai_addr, flags);
    if (err != 0) {
        dns_free(d);
        set_dns_error(err);
        goto done;
    }
    dns_track(io, d);
    fut = Py_NewRef(d->future);
done:
    freeaddrinfo(res);
    return fut;
}

static PyMethodDef dns_methods[] = {
    {"_getaddrinfo", (PyCFunction)Loop__getaddrinfo, METH_VARARGS, NULL},
    {"_getnameinfo", (PyCFunction)Loop__getnameinfo, METH_VARARGS, NULL},
    {NULL},
};

int
pyasync_io_dns_init(PyObject *module, pyasync_state *st)
{
    return io_install_methods(st, dns_methods);
}
