/* process.c: _core.Process, a child process spawned with uv_spawn.
 *
 * libuv reaps its children itself (its own SIGCHLD handling, waitpid on
 * each pid it spawned), so asyncio's child watchers are never involved.
 * The exit callback stores the returncode (-signal when killed, as
 * subprocess does) and queues on_exit(returncode) on the ready queue;
 * the transport (pyasync/_subprocess_io.py, asyncio's
 * BaseSubprocessTransport) does the rest.  The pipes are made and
 * connected in Python; here they are only fds the child inherits. */
#include "io/process.h"
#include "io/io.h"
#include "io/uvcall.h"
#include <limits.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    uv_process_t proc;
    pyasync_iohandle link;      /* in the loop's list while open */
    LoopObj *loop;
    PyObject *on_exit;          /* on_exit(returncode) */
    long pid;
    long returncode;
    char open;                  /* uv handle initialized, not closing */
    char exited;
} ProcessObj;

static void
process_close_cb(uv_handle_t *handle)
{
    ProcessObj *self = handle->data;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF(self);
    PyGILState_Release(g);
}

static void
process_close(ProcessObj *self)
{
    if (!self->open) {
        return;
    }
    self->open = 0;
    pyasync_io_unlink(&self->link);
    uv_close((uv_handle_t *)&self->proc, process_close_cb);
}

/* Loop close with the child still running: stop watching it. */
static void
process_force_close(pyasync_iohandle *link)
{
    process_close((ProcessObj *)((char *)link - offsetof(ProcessObj, link)));
}

static void
process_exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    ProcessObj *self = proc->data;
    PyGILState_STATE g = PyGILState_Ensure();
    self->exited = 1;
    self->returncode = term_signal ? -(long)term_signal : (long)exit_status;
    PyObject *args = Py_BuildValue("(l)", self->returncode);
    if (args == NULL || uvcall_schedule(self->loop, self->on_exit, args) < 0) {
        uvcall_unraisable((PyObject *)self);
    }
    Py_XDECREF(args);
    process_close(self);
    PyGILState_Release(g);
}

/* ---- spawn ---------------------------------------------------------- */

/* An int argument (PyLong_AsInt is 3.13+ public API). */
static int
as_int(PyObject *obj, int *out)
{
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "int out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A NULL-terminated char* array over a sequence of bytes, borrowed from
 * it (the caller keeps the sequence alive).  *out NULL for None. */
static int
bytes_vector(PyObject *seq, const char *what, char ***out)
{
    *out = NULL;
    if (seq == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple of bytes", what);
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    char **v = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (v == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)
            || strlen(PyBytes_AS_STRING(item))
               != (size_t)PyBytes_GET_SIZE(item)) {
            PyMem_Free(v);
            PyErr_Format(PyExc_ValueError,
                         "%s: bytes without embedded null bytes expected",
                         what);
            return -1;
        }
        v[i] = PyBytes_AS_STRING(item);
    }
    *out = v;
    return 0;
}

/* stdio: a tuple of fds, -1 meaning nothing (/dev/null for 0-2). */
static int
stdio_containers(PyObject *stdio, uv_stdio_container_t **out, int *count)
{
    if (!PyTuple_Check(stdio)) {
        PyErr_SetString(PyExc_TypeError, "stdio must be a tuple of ints");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(stdio);
    if (n > 1024) {
        PyErr_SetString(PyExc_ValueError, "too many stdio entries");
        return -1;
    }
    uv_stdio_container_t *c = PyMem_Calloc((size_t)n + 1, sizeof(*c));
    if (c == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int fd;
        if (as_int(PyTuple_GET_ITEM(stdio, i), &fd) < 0) {
            PyMem_Free(c);
            return -1;
        }
        if (fd < 0) {
            c[i].flags = UV_IGNORE;
        }
        else {
            c[i].flags = UV_INHERIT_FD;
            c[i].data.fd = fd;
        }
    }
    *out = c;
    *count = (int)n;
    return 0;
}

static int
process_spawn(ProcessObj *self, PyObject *file, PyObject *args,
              PyObject *env, PyObject *cwd, PyObject *stdio, int detached)
{
    uv_process_options_t opts;
    char **argv = NULL, **envp = NULL;
    uv_stdio_container_t *containers = NULL;
    int r = -1;
    memset(&opts, 0, sizeof(opts));
    if (io_check_thread(self->loop) < 0) {  /* (see pyasync_stream_new) */
        return -1;
    }
    if (bytes_vector(args, "args", &argv) < 0
        || bytes_vector(env, "env", &envp) < 0
        || stdio_containers(stdio, &containers, &opts.stdio_count) < 0) {
        goto done;
    }
    if (argv[0] == NULL) {
        PyErr_SetString(PyExc_ValueError, "args must not be empty");
        goto done;
    }
    opts.exit_cb = process_exit_cb;
    opts.file = PyBytes_AS_STRING(file);
    opts.args = argv;
    opts.env = envp;
    opts.cwd = cwd == Py_None ? NULL : PyBytes_AS_STRING(cwd);
    opts.stdio = containers;
    opts.flags = detached ? UV_PROCESS_DETACHED : 0;
    self->proc.data = self;
    /* libuv forks here (vfork-like, briefly); the handle is in the loop
     * whatever the outcome, so it is closed on failure too. */
    int err = uv_spawn(&self->loop->uv, &self->proc, &opts);
    self->open = 1;
    Py_INCREF(self);                /* dropped by process_close_cb */
    self->link.close_fn = process_force_close;
    pyasync_io_link(self->loop, &self->link);
    if (err < 0) {
        process_close(self);
        uvcall_raise(err);
        goto done;
    }
    self->pid = (long)self->proc.pid;
    r = 0;
done:
    PyMem_Free(argv);
    PyMem_Free(envp);
    PyMem_Free(containers);
    return r;
}

/* Process(loop, file, args, env, cwd, stdio, detached, on_exit):
 * file, args, env items and cwd are bytes (env and cwd may be None). */
static PyObject *
Process_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "file", "args", "env", "cwd", "stdio",
                             "detached", "on_exit", NULL};
    PyObject *loop, *file, *argv, *env, *cwd, *stdio, *on_exit;
    int detached;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OSOOOOpO:Process", kwlist,
                                     &loop, &file, &argv, &env, &cwd, &stdio,
                                     &detached, &on_exit)) {
        return NULL;
    }
    if (cwd != Py_None && !PyBytes_Check(cwd)) {
        PyErr_SetString(PyExc_TypeError, "cwd must be bytes or None");
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
    ProcessObj *self = (ProcessObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop = (LoopObj *)Py_NewRef(loop);
    self->on_exit = Py_NewRef(on_exit);
    self->pid = -1;
    if (process_spawn(self, file, argv, env, cwd, stdio, detached) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ---- methods -------------------------------------------------------- */

/* kill(signum): send a signal.  False when the child has been reaped
 * already (nothing sent), as Popen.send_signal ignores that case. */
static PyObject *
Process_kill(ProcessObj *self, PyObject *arg)
{
    int signum;
    if (as_int(arg, &signum) < 0) {
        return NULL;
    }
    if (self->exited || !self->open) {
        Py_RETURN_FALSE;
    }
    int err = uv_process_kill(&self->proc, signum);
    if (err == UV_ESRCH) {
        Py_RETURN_FALSE;
    }
    if (err < 0) {
        return uvcall_raise(err);
    }
    Py_RETURN_TRUE;
}

static PyObject *
Process_close(ProcessObj *self, PyObject *Py_UNUSED(ignored))
{
    process_close(self);
    Py_RETURN_NONE;
}

static PyObject *
Process_get_pid(ProcessObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->pid);
}

static PyObject *
Process_get_returncode(ProcessObj *self, void *Py_UNUSED(closure))
{
    if (!self->exited) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(self->returncode);
}

/* ---- type ----------------------------------------------------------- */

static int
Process_traverse(ProcessObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->on_exit);
    return 0;
}

static int
Process_clear(ProcessObj *self)
{
    Py_CLEAR(self->on_exit);
    return 0;
}

static void
Process_dealloc(ProcessObj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Process_clear(self);
    Py_CLEAR(self->loop);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef Process_methods[] = {
    {"kill", (PyCFunction)Process_kill, METH_O,
     "Send a signal; False when the child was reaped already."},
    {"close", (PyCFunction)Process_close, METH_NOARGS,
     "Stop watching the child (closes the libuv handle); idempotent."},
    {NULL},
};

static PyGetSetDef Process_getset[] = {
    {"pid", (getter)Process_get_pid, NULL, NULL, NULL},
    {"returncode", (getter)Process_get_returncode, NULL,
     "None while running; -N when killed by signal N.", NULL},
    {NULL},
};

static PyType_Slot Process_slots[] = {
    {Py_tp_new, Process_new},
    {Py_tp_dealloc, Process_dealloc},
    {Py_tp_traverse, Process_traverse},
    {Py_tp_clear, Process_clear},
    {Py_tp_methods, Process_methods},
    {Py_tp_getset, Process_getset},
    {Py_tp_doc, "A child process spawned with libuv's uv_spawn."},
    {0, NULL},
};

static PyType_Spec Process_spec = {
    .name = "pyasync._core.Process",
    .basicsize = sizeof(ProcessObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Process_slots,
};

int
pyasync_process_init(PyObject *module, pyasync_state *st)
{
    (void)st;
    PyObject *tp = PyType_FromModuleAndSpec(module, &Process_spec, NULL);
    if (tp == NULL) {
        return -1;
    }
    int r = PyModule_AddType(module, (PyTypeObject *)tp);
    Py_DECREF(tp);
    return r;
}
