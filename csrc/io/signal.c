/* signal.c: add_signal_handler() on uv_signal.
 *
 * pyasync/_io.py does asyncio's checks and tells Python's signal module
 * (signal.signal, set_wakeup_fd: the main-thread rule and the refusal of
 * SIGKILL come from there); then _signal_start() lets libuv take the
 * signal.  libuv's handler writes to libuv's pipe, which wakes the poll;
 * our callback only files the watcher, and after the poll the handler's
 * Handle joins the ready queue (or, if it was cancelled, the signal's
 * handler is removed as asyncio's _handle_signal does). */
#include "io/io.h"
#include "core/handle.h"

static void
signal_cb(uv_signal_t *uv, int signum)
{
    io_signal *s = (io_signal *)uv;
    if (!s->queued) {
        s->queued = 1;
        s->next_ready = s->io->ready_signals;
        s->io->ready_signals = s;
    }
}

static void
signal_free_cb(uv_handle_t *uv)
{
    PyMem_RawFree(uv);
}

static io_signal **
signal_find(pyasync_io *io, int signum)
{
    io_signal **sp = &io->signals;
    while (*sp != NULL && (*sp)->signum != signum) {
        sp = &(*sp)->next;
    }
    return sp;
}

static void
signal_unqueue(pyasync_io *io, io_signal *s)
{
    if (!s->queued) {
        return;
    }
    io_signal **sp = &io->ready_signals;
    while (*sp != s) {
        sp = &(*sp)->next_ready;
    }
    *sp = s->next_ready;
    s->queued = 0;
}

static void
signal_close(pyasync_io *io, io_signal *s)
{
    signal_unqueue(io, s);
    Py_CLEAR(s->handle);
    s->closing = 1;
    uv_close((uv_handle_t *)&s->uv, signal_free_cb);
}

/* asyncio reads the signal from its self-pipe in a reader callback,
 * which queues the handler's Handle: the handler runs one iteration
 * after the poll that saw the signal.  This entry is that reader
 * callback; a cancelled handler is removed instead, as _handle_signal
 * does. */
static int
signal_relay(PyObject *handle, PyObject *sig)
{
    PyObject *loop = ((HandleObj *)handle)->loop;
    if (handle_is_cancelled(handle)) {
        PyObject *r = call_method1(loop, "remove_signal_handler", sig);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
        return 0;
    }
    if (loop == NULL || ((LoopObj *)loop)->closed) {
        return 0;
    }
    return ready_push(&((LoopObj *)loop)->ready, handle_run, handle, NULL,
                      NULL);
}

void
io_signal_flush(pyasync_io *io, int *failed)
{
    /* The list is LIFO: reverse it to deliver in arrival order. */
    io_signal *s = io->ready_signals, *fifo = NULL;
    io->ready_signals = NULL;
    while (s != NULL) {
        io_signal *next = s->next_ready;
        s->next_ready = fifo;
        fifo = s;
        s = next;
    }
    for (s = fifo; s != NULL; s = s->next_ready) {
        s->queued = 0;
        if (s->handle == NULL) {
            continue;
        }
        PyObject *sig = PyLong_FromLong(s->signum);
        int r = sig ? ready_push(&io->loop->ready, signal_relay, s->handle,
                                 sig, NULL) : -1;
        Py_XDECREF(sig);
        if (r < 0) {
            *failed = 1;
        }
    }
}

void
io_signal_close_all(pyasync_io *io)
{
    io_signal *s = io->signals;
    io->signals = NULL;
    while (s != NULL) {
        io_signal *next = s->next;
        signal_close(io, s);
        s = next;
    }
    io->ready_signals = NULL;
}

int
io_signal_traverse(pyasync_io *io, visitproc visit, void *arg)
{
    for (io_signal *s = io->signals; s != NULL; s = s->next) {
        Py_VISIT(s->handle);
    }
    return 0;
}

void
io_signal_clear(pyasync_io *io)
{
    for (io_signal *s = io->signals; s != NULL; s = s->next) {
        Py_CLEAR(s->handle);
    }
}

/* _signal_start(sig, handle): route sig to handle (replacing). */
static PyObject *
Loop__signal_start(LoopObj *self, PyObject *args)
{
    int signum;
    PyObject *handle;
    if (!PyArg_ParseTuple(args, "iO!:_signal_start", &signum,
                          self->st->Handle_Type, &handle)) {
        return NULL;
    }
    if (self->closed || !self->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    pyasync_io *io = io_get(self);
    if (io == NULL || io_check_thread(self) < 0) {
        return NULL;
    }
    io_signal *s = *signal_find(io, signum);
    if (s != NULL) {
        Py_SETREF(s->handle, Py_NewRef(handle));
        Py_RETURN_NONE;
    }
    /* Raw: freed by the close callback, which libuv may run while the loop
     * polls without the GIL (3.12's obmalloc is per-interpreter). */
    s = PyMem_RawCalloc(1, sizeof(io_signal));
    if (s == NULL) {
        return PyErr_NoMemory();
    }
    int err = uv_signal_init(&self->uv, &s->uv);
    if (err != 0) {
        PyMem_RawFree(s);
        return io_uv_error(err);
    }
    s->io = io;
    s->signum = signum;
    err = uv_signal_start(&s->uv, signal_cb, signum);
    if (err != 0) {
        s->closing = 1;
        uv_close((uv_handle_t *)&s->uv, signal_free_cb);
        return io_uv_error(err);
    }
    /* Not an active handle for libuv's accounting: a signal watcher
     * must not keep uv_run(UV_RUN_DEFAULT) alive at close. */
    uv_unref((uv_handle_t *)&s->uv);
    s->handle = Py_NewRef(handle);
    s->next = io->signals;
    io->signals = s;
    Py_RETURN_NONE;
}

/* _signal_stop(sig): give sig back (libuv restores SIG_DFL when its last
 * watcher of sig stops; the caller then reinstalls Python's handler). */
static PyObject *
Loop__signal_stop(LoopObj *self, PyObject *arg)
{
#if PY_VERSION_HEX >= 0x030D0000
    int signum = PyLong_AsInt(arg);
#else
    int signum = _PyLong_AsInt(arg);    /* public as PyLong_AsInt in 3.13 */
#endif
    if (signum == -1 && PyErr_Occurred()) {
        return NULL;
    }
    pyasync_io *io = self->io;
    if (io == NULL) {
        Py_RETURN_FALSE;
    }
    if (io_check_thread(self) < 0) {
        return NULL;
    }
    io_signal **sp = signal_find(io, signum);
    io_signal *s = *sp;
    if (s == NULL) {
        Py_RETURN_FALSE;
    }
    *sp = s->next;
    uv_signal_stop(&s->uv);
    signal_close(io, s);
    Py_RETURN_TRUE;
}

static PyMethodDef signal_methods[] = {
    {"_signal_start", (PyCFunction)Loop__signal_start, METH_VARARGS, NULL},
    {"_signal_stop", (PyCFunction)Loop__signal_stop, METH_O, NULL},
    {NULL},
};

int
pyasync_io_signal_init(PyObject *module, pyasync_state *st)
{
    return io_install_methods(st, signal_methods);
}
