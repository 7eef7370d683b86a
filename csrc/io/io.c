/* io.c: the loop's I/O state and its hooks into the loop's iterations.
 * See io.h for why libuv callbacks only link records into lists. */
#include "io/io.h"
#include <string.h>

static void
io_free_names(pyasync_io *io)
{
    Py_CLEAR(io->str_data_received);
    Py_CLEAR(io->str_eof_received);
    Py_CLEAR(io->str_get_buffer);
    Py_CLEAR(io->str_buffer_updated);
}

pyasync_io *
io_get(LoopObj *loop)
{
    if (loop->io != NULL) {
        return loop->io;
    }
    pyasync_io *io = PyMem_Calloc(1, sizeof(pyasync_io));
    if (io == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if ((io->str_data_received = PyUnicode_InternFromString(
             "data_received")) == NULL
        || (io->str_eof_received = PyUnicode_InternFromString(
                "eof_received")) == NULL
        || (io->str_get_buffer = PyUnicode_InternFromString(
                "get_buffer")) == NULL
        || (io->str_buffer_updated = PyUnicode_InternFromString(
                "buffer_updated")) == NULL) {
        io_free_names(io);
        PyMem_Free(io);
        return NULL;
    }
    io->loop = loop;
    io->ready_polls_tail = &io->ready_polls;
    io->done_dns_tail = &io->done_dns;
    loop->io = io;
    return io;
}

int
io_check_thread(LoopObj *loop)
{
    if (FT_LOAD_CHAR(loop->running)
        && PyThread_get_thread_ident() != FT_LOAD_ULONG(loop->thread_id)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Non-thread-safe operation invoked on an event loop "
                        "other than the current one");
        return -1;
    }
    return 0;
}

void
pyasync_io_before_poll(LoopObj *self)
{
    if (self->io != NULL) {
        io_poll_before_poll(self->io);
    }
}

/* Everything libuv reported joins the ready queue.  A failure (memory)
 * does not stop the other records from being flushed. */
int
pyasync_io_after_poll(LoopObj *self)
{
    pyasync_io *io = self->io;
    if (io == NULL) {
        return 0;
    }
    int failed = 0;
    io_poll_flush(io, &failed);
    io_signal_flush(io, &failed);
    io_dns_flush(io, &failed);
    return failed ? -1 : 0;
}

void
pyasync_io_close(LoopObj *self)
{
    pyasync_io *io = self->io;
    if (io == NULL) {
        return;
    }
    io_poll_close_all(io);
    io_signal_close_all(io);
    io_dns_close_all(io);
}

void
pyasync_io_free(LoopObj *self)
{
    pyasync_io *io = self->io;
    if (io == NULL) {
        return;
    }
    io_dns_free_all(io);
    io_sock_clear(io);
    io_free_names(io);
    Py_CLEAR(io->rbuf);
    Py_CLEAR(io->rbuf_spare);
    Py_CLEAR(io->rbulk);
    PyMem_Free(io->polls);
    PyMem_Free(io);
    self->io = NULL;
}

int
pyasync_io_traverse(LoopObj *self, visitproc visit, void *arg)
{
    pyasync_io *io = self->io;
    if (io == NULL) {
        return 0;
    }
    if (io_poll_traverse(io, visit, arg) < 0
        || io_signal_traverse(io, visit, arg) < 0
        || io_dns_traverse(io, visit, arg) < 0
        || io_sock_traverse(io, visit, arg) < 0) {
        return -1;
    }
    return 0;
}

void
pyasync_io_clear(LoopObj *self)
{
    pyasync_io *io = self->io;
    if (io == NULL) {
        return;
    }
    io_poll_clear(io);
    io_signal_clear(io);
    io_dns_clear(io);
    io_sock_clear(io);
}

int
io_install_methods(pyasync_state *st, PyMethodDef *defs)
{
    PyTypeObject *tp = st->Loop_Type;
    for (PyMethodDef *d = defs; d->ml_name != NULL; d++) {
        PyObject *descr = PyDescr_NewMethod(tp, d);
        if (descr == NULL) {
            return -1;
        }
        int r = PyObject_SetAttrString((PyObject *)tp, d->ml_name, descr);
        Py_DECREF(descr);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

PyObject *
io_uv_error(int err)
{
    /* libuv's codes are negated errnos on Unix: OSError picks the
     * subclass (ConnectionRefusedError, PermissionError, ...). */
    PyObject *args = Py_BuildValue("(is)", -err, strerror(-err));
    if (args != NULL) {
        PyErr_SetObject(PyExc_OSError, args);
        Py_DECREF(args);
    }
    return NULL;
}
