/* poll.c: add_reader/add_writer and their removal on one uv_poll per fd.
 *
 * asyncio's selector loop is the spec: a reader and a writer of one fd
 * share a registration; replacing one cancels the old Handle; the event
 * of a cancelled Handle removes it.
 *
 * asyncio's EpollSelector registers a *file* (epoll_ctl ADD at
 * add_reader time) and the kernel drops that registration when the file
 * is closed, while the selector keeps the fd's key.  libuv defers its
 * epoll_ctl to the next poll, so closing a socket and opening another on
 * the same fd number in between would hand the old reader the new
 * socket's events.  We keep asyncio's model instead: each poll remembers
 * the file (st_dev, st_ino) it was first added for; a poll whose fd no
 * longer holds that file is "dead" (stopped: no events, as the kernel
 * dropped asyncio's registration), and a mask change, asyncio's
 * epoll_ctl MOD, fails as MOD would (EBADF closed, ENOENT reused), and
 * drops the key, as EpollSelector.modify() does.
 *
 * Other libuv details: uv_poll_init makes the fd non-blocking (we
 * restore the caller's mode); libuv aborts when epoll_ctl fails inside
 * uv_run, so a mask change restarts the poll (an ADD, never a MOD), and
 * polls started since the last iteration are checked just before
 * polling; libuv stops a poll on POLLERR where epoll keeps reporting
 * (level-triggered), so such a poll is started again after its event. */
#include "io/io.h"
#include "core/handle.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

/* ---- fds ------------------------------------------------------------ */

/* selectors._fileobj_to_fd() without its check of negative fds: asyncio
 * checks whether the loop is closed in between. */
static int
fileobj_to_fd_unchecked(PyObject *fileobj, long *fd)
{
    long v;
    if (PyLong_Check(fileobj)) {
        v = PyLong_AsLong(fileobj);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    else {
        PyObject *r = PyObject_CallMethod(fileobj, "fileno", NULL);
        PyObject *n = r ? PyNumber_Long(r) : NULL;
        Py_XDECREF(r);
        if (n == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError)
                || PyErr_ExceptionMatches(PyExc_TypeError)
                || PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "Invalid file object: %R",
                             fileobj);
            }
            return -1;
        }
        v = PyLong_AsLong(n);
        Py_DECREF(n);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    *fd = v;
    return 0;
}

static int
check_fd(long v, int *fd)
{
    if (v < 0) {
        PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", v);
        return -1;
    }
    if (v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError,
                        "file descriptor is greater than maximum");
        return -1;
    }
    *fd = (int)v;
    return 0;
}

/* selectors._fileobj_to_fd(), messages included. */
int
io_fileobj_to_fd(PyObject *fileobj, int *fd)
{
    long v;
    if (fileobj_to_fd_unchecked(fileobj, &v) < 0) {
        return -1;
    }
    return check_fd(v, fd);
}

/* asyncio's _ensure_fd_no_transport(): the transports' table, if the
 * loop has one (the stream transports keep it in _transports). */
int
io_ensure_fd_no_transport(LoopObj *loop, PyObject *fileobj, int fd)
{
    if (loop->dict == NULL) {
        return 0;
    }
    /* asyncio's table is a WeakValueDictionary: any mapping will do. */
    PyObject *table;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemStringRef(loop->dict, "_transports", &table) < 0) {
        return -1;
    }
#else
    table = Py_XNewRef(PyDict_GetItemString(loop->dict, "_transports"));
#endif
    if (table == NULL || table == Py_None
        || (PyDict_Check(table) && PyDict_GET_SIZE(table) == 0)) {
        Py_XDECREF(table);
        return 0;
    }
    PyObject *key = PyLong_FromLong(fd);
    if (key == NULL) {
        Py_DECREF(table);
        return -1;
    }
    PyObject *tr = PyObject_GetItem(table, key);
    Py_DECREF(table);
    Py_DECREF(key);
    if (tr == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    PyObject *closing = PyObject_CallMethod(tr, "is_closing", NULL);
    int b = closing ? PyObject_IsTrue(closing) : -1;
    Py_XDECREF(closing);
    if (b == 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "File descriptor %R is used by transport %R",
                     fileobj, tr);
    }
    Py_DECREF(tr);
    return b == 0 ? -1 : b < 0 ? -1 : 0;
}

/* ---- the per-fd poll ------------------------------------------------ */

static void
poll_cb(uv_poll_t *uv, int status, int events)
{
    io_poll *p = (io_poll *)uv;
    pyasync_io *io = p->io;
    /* An error (the fd went bad): wake whoever waits, as a selector
     * would, so that their own call sees the error. */
    p->events |= status < 0 ? p->mask : events;
    if (status < 0) {
        p->errored = 1;          /* libuv stopped the poll */
    }
    if (!p->queued) {
        p->queued = 1;
        p->next_ready = NULL;
        *io->ready_polls_tail = p;
        io->ready_polls_tail = &p->next_ready;
    }
}

static void
poll_free_cb(uv_handle_t *uv)
{
    PyMem_RawFree(uv);
}

static io_poll *
poll_lookup(pyasync_io *io, int fd)
{
    return fd < io->npolls ? io->polls[fd] : NULL;
}

static int
poll_table_grow(pyasync_io *io, int fd)
{
    if (fd < io->npolls) {
        return 0;
    }
    int n = io->npolls ? io->npolls : 64;
    while (n <= fd) {
        if (n > INT_MAX / 2) {
            n = INT_MAX;
            break;
        }
        n *= 2;
    }
    io_poll **t = PyMem_Realloc(io->polls, (size_t)n * sizeof(io_poll *));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(t + io->npolls, 0, (size_t)(n - io->npolls) * sizeof(io_poll *));
    io->polls = t;
    io->npolls = n;
    return 0;
}

static PyObject *
poll_init_error(int err, int fd)
{
    if (err == UV_EEXIST) {
        PyErr_Format(PyExc_RuntimeError,
                     "File descriptor %d is used by another libuv handle "
                     "of this loop", fd);
        return NULL;
    }
    return io_uv_error(err);
}

/* fd's poll, made (stopped) when absent. */
static io_poll *
poll_get(pyasync_io *io, int fd)
{
    io_poll *p = poll_lookup(io, fd);
    if (p != NULL) {
        return p;
    }
    if (poll_table_grow(io, fd) < 0) {
        return NULL;
    }
    /* Raw: freed by the close callback, which libuv may run while the loop
     * polls without the GIL (3.12's obmalloc is per-interpreter). */
    p = PyMem_RawCalloc(1, sizeof(io_poll));
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    /* The file asyncio's epoll_ctl(ADD) would register (EBADF if none). */
    struct stat sb;
    /* uv_poll_init sets O_NONBLOCK; asyncio leaves the mode alone. */
    int flags = fstat(fd, &sb) < 0 ? -1 : fcntl(fd, F_GETFL);
    if (flags < 0) {
        PyMem_RawFree(p);
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    p->dev = sb.st_dev;
    p->ino = sb.st_ino;
    int err = uv_poll_init(&io->loop->uv, &p->uv, fd);
    if (err != 0) {
        PyMem_RawFree(p);
        poll_init_error(err, fd);
        return NULL;
    }
    if (!(flags & O_NONBLOCK)) {
        (void)fcntl(fd, F_SETFL, flags);
    }
    p->io = io;
    p->fd = fd;
    io->polls[fd] = p;
    return p;
}

static void
poll_close(pyasync_io *io, io_poll *p)
{
    io->polls[p->fd] = NULL;
    p->closing = 1;
    p->mask = 0;
    PyObject *fileobj = p->fileobj;
    p->fileobj = NULL;
    uv_close((uv_handle_t *)&p->uv, poll_free_cb);
    Py_XDECREF(fileobj);         /* last: may close a socket */
}

/* The fd of the poll first added with fileobj itself: selectors'
 * _fileobj_lookup() finds a registration by its object once the object
 * has no fd (a closed socket's fileno() is -1).  -1 if none. */
static int
poll_fd_of_object(pyasync_io *io, PyObject *fileobj)
{
    for (int fd = 0; io != NULL && fd < io->npolls; fd++) {
        io_poll *p = io->polls[fd];
        if (p != NULL && p->fileobj == fileobj) {
            return fd;
        }
    }
    return -1;
}

/* 0 if fd still holds the file p was added for, else the errno
 * epoll_ctl(MOD) would give asyncio: EBADF (closed), ENOENT (reused). */
static int
poll_file_changed(io_poll *p)
{
    struct stat sb;
    if (fstat(p->fd, &sb) < 0) {
        return errno;
    }
    return sb.st_dev == p->dev && sb.st_ino == p->ino ? 0 : ENOENT;
}

/* EpollSelector.modify() failed: the key goes, its Handles dropped
 * without cancel(), as asyncio's super().unregister() drops them. */
static void
poll_drop(pyasync_io *io, io_poll *p)
{
    PyObject *reader = p->reader, *writer = p->writer;
    p->reader = p->writer = NULL;
    poll_close(io, p);
    /* Last: a Handle's finalizer may call back into the loop. */
    Py_XDECREF(reader);
    Py_XDECREF(writer);
}

/* (Re)start libuv's poll for p->mask unless p is dead. */
static int
poll_start(pyasync_io *io, io_poll *p)
{
    p->errored = 0;
    if (p->dead) {
        return 0;
    }
    int err = uv_poll_start(&p->uv, p->mask, poll_cb);
    if (err != 0) {
        io_uv_error(err);
        return -1;
    }
    if (!p->dirty) {
        p->dirty = 1;
        p->next_dirty = io->dirty_polls;
        io->dirty_polls = p;
    }
    return 0;
}

/* Start or stop p for the callbacks it holds; closes it when empty.
 * -1 with OSError if libuv refuses to start it (p->mask unchanged);
 * -2 with OSError if asyncio's MOD would fail: p was dropped. */
static int
poll_update(pyasync_io *io, io_poll *p)
{
    int mask = (p->reader ? UV_READABLE : 0) | (p->writer ? UV_WRITABLE : 0);
    if (mask == p->mask) {
        return 0;                /* asyncio: only the key's data changes */
    }
    if (mask == 0) {
        poll_close(io, p);       /* asyncio's DEL ignores errors */
        return 0;
    }
    if (p->mask != 0) {
        int e = poll_file_changed(p);
        if (e != 0) {
            poll_drop(io, p);
            errno = e;
            PyErr_SetFromErrno(PyExc_OSError);
            return -2;
        }
        uv_poll_stop(&p->uv);
    }
    int old = p->mask;
    p->mask = mask;
    if (poll_start(io, p) < 0) {
        p->mask = old;
        if (old != 0) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            (void)poll_start(io, p);
            PyErr_Restore(type, value, tb);
        }
        return -1;
    }
    return 0;
}

/* Cancel a Handle we dropped, as asyncio does: handle.cancel(). */
static int
cancel_handle(PyObject *h)
{
    PyObject *r = PyObject_CallMethod(h, "cancel", NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int
io_poll_set(LoopObj *loop, int fd, int writer, PyObject *handle)
{
    pyasync_io *io = io_get(loop);
    if (io == NULL) {
        return -1;
    }
    io_poll *p = poll_get(io, fd);
    if (p == NULL) {
        return -1;
    }
    PyObject **slot = writer ? &p->writer : &p->reader;
    PyObject *old = *slot;
    *slot = Py_NewRef(handle);
    int r = poll_update(io, p);
    if (r == -2) {
        Py_XDECREF(old);         /* dropped with the key, not cancelled */
        return -1;
    }
    if (r < 0) {
        /* Put things back as they were. */
        Py_SETREF(*slot, old);
        if (p->reader == NULL && p->writer == NULL) {
            poll_close(io, p);
        }
        return -1;
    }
    if (old != NULL) {
        int r = cancel_handle(old);
        Py_DECREF(old);
        return r;
    }
    return 0;
}

int
io_poll_remove(LoopObj *loop, int fd, int writer)
{
    pyasync_io *io = loop->io;
    io_poll *p = io ? poll_lookup(io, fd) : NULL;
    if (p == NULL) {
        return 0;
    }
    PyObject **slot = writer ? &p->writer : &p->reader;
    PyObject *old = *slot;
    if (old == NULL) {
        return 0;
    }
    *slot = NULL;
    /* Stopping, or restarting a smaller mask: asyncio's MOD, which fails
     * (the key dropped, old not cancelled) if fd's file changed. */
    int r = poll_update(io, p);
    if (r == -2) {
        Py_DECREF(old);
        return -1;
    }
    if (r < 0) {
        /* libuv refused the smaller mask: the fd is unusable anyway. */
        PyErr_Clear();
    }
    r = cancel_handle(old);
    Py_DECREF(old);
    return r < 0 ? -1 : 1;
}

/* ---- the loop's hooks ----------------------------------------------- */

/* Polls started since the last iteration: libuv's ADD happens now, but
 * asyncio's happened when the callback was added, for the file then at
 * fd.  If that file has left fd since (closed; maybe fd reused), the
 * kernel would have dropped asyncio's registration: stop the poll (and
 * spare libuv an epoll_ctl that aborts on a closed fd).  Its callbacks
 * stay registered, as the selector keeps the key, and never fire. */
void
io_poll_before_poll(pyasync_io *io)
{
    io_poll *p = io->dirty_polls;
    io->dirty_polls = NULL;
    while (p != NULL) {
        io_poll *next = p->next_dirty;
        p->dirty = 0;
        if (!p->closing && !p->dead && p->mask != 0
            && poll_file_changed(p) != 0) {
            uv_poll_stop(&p->uv);
            p->dead = 1;
        }
        p = next;
    }
}

/* fd is a new descriptor (just returned by dup): a poll still on that
 * number is a dead one, or one whose file was closed after libuv
 * registered it.  libuv must not see it beside the new handle (events
 * of fd would reach it, and its close would epoll_ctl(DEL) the new
 * one's registration): close it now, while fd is not yet registered,
 * and cancel its Handles, which could only ever fire for the wrong
 * file.  asyncio has no such clash: its transports use the socket's
 * own fd, whose reader replaces the old one. */
void
io_poll_forget_stale(pyasync_io *io, int fd)
{
    io_poll *p = io ? poll_lookup(io, fd) : NULL;
    if (p == NULL) {
        return;
    }
    PyObject *reader = p->reader, *writer = p->writer;
    p->reader = p->writer = NULL;
    poll_close(io, p);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (reader != NULL && cancel_handle(reader) < 0) {
        PyErr_WriteUnraisable(reader);
    }
    if (writer != NULL && cancel_handle(writer) < 0) {
        PyErr_WriteUnraisable(writer);
    }
    PyErr_Restore(type, value, tb);
    Py_XDECREF(reader);
    Py_XDECREF(writer);
}

/* Queue one side's Handle, or drop it when it was cancelled. */
static int
poll_dispatch(pyasync_io *io, io_poll *p, int writer)
{
    PyObject *h = writer ? p->writer : p->reader;
    if (h == NULL) {
        return 0;
    }
    if (handle_is_cancelled(h)) {
        return io_poll_remove(io->loop, p->fd, writer) < 0 ? -1 : 0;
    }
    return ready_push(&io->loop->ready, handle_run, h, NULL, NULL);
}

void
io_poll_flush(pyasync_io *io, int *failed)
{
    io_poll *p = io->ready_polls;
    io->ready_polls = NULL;
    io->ready_polls_tail = &io->ready_polls;
    while (p != NULL) {
        io_poll *next = p->next_ready;
        int events = p->events;
        p->events = 0;
        p->queued = 0;
        /* A poll closed meanwhile is freed only by a later uv_run. */
        if (!p->closing) {
            int fd = p->fd;
            if ((events & UV_READABLE) && poll_dispatch(io, p, 0) < 0) {
                *failed = 1;
            }
            /* Removing the reader may have closed the poll. */
            p = poll_lookup(io, fd);
            if (p != NULL && (events & UV_WRITABLE)
                && poll_dispatch(io, p, 1) < 0) {
                *failed = 1;
            }
            p = poll_lookup(io, fd);
            /* epoll reports an error again next time: so must libuv. */
            if (p != NULL && p->errored && p->mask != 0
                && poll_start(io, p) < 0) {
                *failed = 1;
            }
        }
        p = next;
    }
}

void
io_poll_clear(pyasync_io *io)
{
    for (int fd = 0; fd < io->npolls; fd++) {
        io_poll *p = io->polls[fd];
        if (p != NULL) {
            Py_CLEAR(p->reader);
            Py_CLEAR(p->writer);
            Py_CLEAR(p->fileobj);
        }
    }
}

void
io_poll_close_all(pyasync_io *io)
{
    io_poll_clear(io);
    for (int fd = 0; fd < io->npolls; fd++) {
        io_poll *p = io->polls[fd];
        if (p != NULL) {
            poll_close(io, p);
        }
    }
    io->dirty_polls = NULL;
    io->ready_polls = NULL;
    io->ready_polls_tail = &io->ready_polls;
}

int
io_poll_traverse(pyasync_io *io, visitproc visit, void *arg)
{
    for (int fd = 0; fd < io->npolls; fd++) {
        io_poll *p = io->polls[fd];
        if (p != NULL) {
            Py_VISIT(p->reader);
            Py_VISIT(p->writer);
            Py_VISIT(p->fileobj);
        }
    }
    return 0;
}

/* ---- Python methods ------------------------------------------------- */

static int
check_closed(LoopObj *self)
{
    if (self->closed || !self->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return 0;
}

/* add_reader(fd, callback, *args) and friends; returns the Handle. */
static PyObject *
poll_add(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
         const char *name, int writer, int check_transport,
         PyObject *context)
{
    int fd;
    long v;
    if (nargs < 2) {
        PyErr_Format(PyExc_TypeError,
                     "%s() missing required positional argument", name);
        return NULL;
    }
    if (fileobj_to_fd_unchecked(args[0], &v) < 0
        || (check_transport && v >= 0 && v <= INT_MAX
            && io_ensure_fd_no_transport(self, args[0], (int)v) < 0)
        || check_closed(self) < 0
        || check_fd(v, &fd) < 0
        || io_check_thread(self) < 0) {
        return NULL;
    }
    PyObject *cbargs = PyTuple_New(nargs - 2);
    if (cbargs == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 2; i < nargs; i++) {
        PyTuple_SET_ITEM(cbargs, i - 2, Py_NewRef(args[i]));
    }
    PyObject *h = handle_new(self->st, args[1], cbargs, (PyObject *)self,
                             context);
    Py_DECREF(cbargs);
    if (h == NULL) {
        return NULL;
    }
    int fresh = self->io == NULL || poll_lookup(self->io, fd) == NULL;
    if (io_poll_set(self, fd, writer, h) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    /* The selector's key keeps the object it was registered with. */
    io_poll *p = fresh ? poll_lookup(self->io, fd) : NULL;
    if (p != NULL && !PyLong_Check(args[0])) {
        Py_XSETREF(p->fileobj, Py_NewRef(args[0]));
    }
    return h;
}

static PyObject *
poll_remove_impl(LoopObj *self, PyObject *fileobj, int writer,
                 int check_transport)
{
    int fd;
    long v = -1;
    int no_fd = fileobj_to_fd_unchecked(fileobj, &v) < 0;
    /* Without the transport check (which raises that ValueError too),
     * the selector looks an object without an fd up (below). */
    if (no_fd
        && (check_transport || !PyErr_ExceptionMatches(PyExc_ValueError))) {
        return NULL;
    }
    if (!no_fd && check_transport && v >= 0 && v <= INT_MAX
        && io_ensure_fd_no_transport(self, fileobj, (int)v) < 0) {
        return NULL;
    }
    if (self->closed) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    if (no_fd || check_fd(v, &fd) < 0) {
        /* A closed socket: its registration, found by identity. */
        fd = poll_fd_of_object(self->io, fileobj);
        if (fd < 0) {
            return NULL;
        }
        PyErr_Clear();
    }
    if (io_check_thread(self) < 0) {
        return NULL;
    }
    int r = io_poll_remove(self, fd, writer);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
poll_remove(LoopObj *self, PyObject *fileobj, int writer)
{
    return poll_remove_impl(self, fileobj, writer, 1);
}

static PyObject *
none_or_null(PyObject *h)
{
    if (h == NULL) {
        return NULL;
    }
    Py_DECREF(h);
    Py_RETURN_NONE;
}

static PyObject *
Loop_add_reader(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    return none_or_null(poll_add(self, args, nargs, "add_reader", 0, 1, NULL));
}

static PyObject *
Loop_add_writer(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    return none_or_null(poll_add(self, args, nargs, "add_writer", 1, 1, NULL));
}

/* The selector loop's _add_reader()/_add_writer(): no transport check
 * (asyncio's transports call them for their own fd), the Handle
 * returned. */
#if PY_VERSION_HEX >= 0x030F0000
/* 3.15's take context= (a transport's own context, for its Handle). */
static PyObject *
poll_add_kw(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames, const char *name, int writer)
{
    PyObject *context = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(kw, "context") != 0) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'",
                         name, kw);
            return NULL;
        }
        context = args[nargs + i];
    }
    return poll_add(self, args, nargs, name, writer, 0,
                    context == Py_None ? NULL : context);
}

static PyObject *
Loop__add_reader(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    return poll_add_kw(self, args, nargs, kwnames, "_add_reader", 0);
}

static PyObject *
Loop__add_writer(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    return poll_add_kw(self, args, nargs, kwnames, "_add_writer", 1);
}
#define PRIVATE_ADD_FLAGS (METH_FASTCALL | METH_KEYWORDS)
#else
static PyObject *
Loop__add_reader(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    return poll_add(self, args, nargs, "_add_reader", 0, 0, NULL);
}

static PyObject *
Loop__add_writer(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    return poll_add(self, args, nargs, "_add_writer", 1, 0, NULL);
}
#define PRIVATE_ADD_FLAGS METH_FASTCALL
#endif

static PyObject *
Loop_remove_reader(LoopObj *self, PyObject *fileobj)
{
    return poll_remove(self, fileobj, 0);
}

/* _add_wake_reader(fd, callback, *args): _add_reader() for a poll that
 * only wakes the loop (pyasync/remote.py): unreferenced, so the loop's
 * idle checks (the virtual clock's jumps, the deadlock diagnosis) do not
 * count it as I/O that could make work. */
static PyObject *
Loop__add_wake_reader(LoopObj *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *h = poll_add(self, args, nargs, "_add_wake_reader", 0, 0, NULL);
    if (h == NULL) {
        return NULL;
    }
    long v;
    if (fileobj_to_fd_unchecked(args[0], &v) == 0) {
        pyasync_io *io = io_get(self);
        io_poll *p = io != NULL ? poll_lookup(io, (int)v) : NULL;
        if (p != NULL) {
            uv_unref((uv_handle_t *)&p->uv);
        }
    }
    PyErr_Clear();
    return h;
}

/* The selector loop's _remove_reader()/_remove_writer(): no transport
 * check (asyncio 3.14's pidfd child watcher calls them). */
static PyObject *
Loop__remove_reader(LoopObj *self, PyObject *fileobj)
{
    return poll_remove_impl(self, fileobj, 0, 0);
}

static PyObject *
Loop__remove_writer(LoopObj *self, PyObject *fileobj)
{
    return poll_remove_impl(self, fileobj, 1, 0);
}

static PyObject *
Loop_remove_writer(LoopObj *self, PyObject *fileobj)
{
    return poll_remove(self, fileobj, 1);
}

/* _poll_mask(fd): the events fd's uv_poll is started for (0: none),
 * for the tests. */
static PyObject *
Loop__poll_mask(LoopObj *self, PyObject *fileobj)
{
    int fd;
    if (io_fileobj_to_fd(fileobj, &fd) < 0) {
        return NULL;
    }
    io_poll *p = self->io ? poll_lookup(self->io, fd) : NULL;
    int mask = p == NULL || p->dead ? 0 : p->mask;
    return PyLong_FromLong(mask);
}

/* asyncio's _ensure_fd_no_transport(fd), for Python code that calls it. */
static PyObject *
Loop__ensure_fd_no_transport(LoopObj *self, PyObject *fileobj)
{
    long v;
    if (fileobj_to_fd_unchecked(fileobj, &v) < 0) {
        return NULL;
    }
    if (v >= 0 && v <= INT_MAX
        && io_ensure_fd_no_transport(self, fileobj, (int)v) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef poll_methods[] = {
    {"_ensure_fd_no_transport", (PyCFunction)Loop__ensure_fd_no_transport,
     METH_O, NULL},
    {"add_reader", (PyCFunction)(void (*)(void))Loop_add_reader,
     METH_FASTCALL, "Call callback(*args) whenever fd is readable."},
    {"add_writer", (PyCFunction)(void (*)(void))Loop_add_writer,
     METH_FASTCALL, "Call callback(*args) whenever fd is writable."},
    {"_add_reader", (PyCFunction)(void (*)(void))Loop__add_reader,
     PRIVATE_ADD_FLAGS, NULL},
    {"_add_writer", (PyCFunction)(void (*)(void))Loop__add_writer,
     PRIVATE_ADD_FLAGS, NULL},
    {"_add_wake_reader", (PyCFunction)(void (*)(void))Loop__add_wake_reader,
     METH_FASTCALL, NULL},
    {"_remove_reader", (PyCFunction)Loop__remove_reader, METH_O, NULL},
    {"_remove_writer", (PyCFunction)Loop__remove_writer, METH_O, NULL},
    {"remove_reader", (PyCFunction)Loop_remove_reader, METH_O,
     "Stop watching fd for reading; True if it was watched."},
    {"remove_writer", (PyCFunction)Loop_remove_writer, METH_O,
     "Stop watching fd for writing; True if it was watched."},
    {"_poll_mask", (PyCFunction)Loop__poll_mask, METH_O, NULL},
    {NULL},
};

int
pyasync_io_poll_init(PyObject *module, pyasync_state *st)
{
    return io_install_methods(st, poll_methods);
}
