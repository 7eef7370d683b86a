/* lock_diag.c: calling the deadlock-diagnosis hooks (see lock_diag.h). */
#include "diag/lock_diag.h"

/* The hooks, a new reference (NULL: none): another thread may replace
 * them meanwhile. */
static PyObject *
get_hooks(pyasync_state *st)
{
    pyasync_mutex_lock(&st->diag_lock);
    PyObject *hooks = Py_XNewRef(st->diag_hooks);
    pyasync_mutex_unlock(&st->diag_lock);
    return hooks;
}

/* hooks.name(arg); -1 with the hook's error set. */
static int
call_hook(pyasync_state *st, const char *name, PyObject *arg)
{
    PyObject *hooks = get_hooks(st);
    if (hooks == NULL) {
        return 0;           /* removed since pyasync_diag_active() */
    }
    PyObject *r = PyObject_CallMethod(hooks, name, "(O)", arg);
    Py_DECREF(hooks);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static const char *const diag_hook_names[] = {
    [PYASYNC_DIAG_ACQUIRED] = "acquired",
    [PYASYNC_DIAG_RELEASED] = "released",
    [PYASYNC_DIAG_WAIT_ENDED] = "wait_ended",
    [PYASYNC_DIAG_TASK_DONE] = "task_done",
};

void
pyasync_diag_notify(pyasync_state *st, pyasync_diag_event event,
                    PyObject *obj)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (call_hook(st, diag_hook_names[event], obj) < 0) {
        PyObject *hooks = get_hooks(st);
        PyErr_WriteUnraisable(hooks);
        Py_XDECREF(hooks);
    }
    PyErr_Restore(t, v, tb);
}

int
pyasync_diag_before_wait(pyasync_state *st, PyObject *lock)
{
    return call_hook(st, "before_wait", lock);
}

int
pyasync_diag_loop_idle(pyasync_state *st, PyObject *loop)
{
    return call_hook(st, "loop_idle", loop);
}

/* _core._set_lock_diagnostics(hooks): the object whose methods the hooks
 * call (None: none). */
static PyObject *
set_lock_diagnostics(PyObject *module, PyObject *hooks)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *new_hooks = hooks == Py_None ? NULL : Py_NewRef(hooks);
    pyasync_mutex_lock(&st->diag_lock);
    PyObject *old = st->diag_hooks;
    FT_STORE_PTR(st->diag_hooks, new_hooks);
    pyasync_mutex_unlock(&st->diag_lock);
    Py_XDECREF(old);        /* (outside the lock: it may run code) */
    Py_RETURN_NONE;
}

/* _core._debug_loop_running(delta): a debug-mode loop started (+1) or
 * stopped (-1) running; returns how many run. */
static PyObject *
debug_loop_running(PyObject *module, PyObject *delta)
{
    pyasync_state *st = pyasync_state_from_module(module);
    Py_ssize_t d = PyLong_AsSsize_t(delta);
    if (d == -1 && PyErr_Occurred()) {
        return NULL;
    }
    /* Clamped at 0 (a stop without a start), under the lock: loops in
     * other threads count too. */
    pyasync_mutex_lock(&st->diag_lock);
    Py_ssize_t n = FT_LOAD_SSIZE(st->diag_loops) + d;
    if (n < 0) {
        n = 0;
    }
    FT_STORE_SSIZE(st->diag_loops, n);
    pyasync_mutex_unlock(&st->diag_lock);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef lock_diag_functions[] = {
    {"_set_lock_diagnostics", set_lock_diagnostics, METH_O,
     PyDoc_STR("Install the deadlock-diagnosis hooks (None: remove).")},
    {"_debug_loop_running", debug_loop_running, METH_O,
     PyDoc_STR("Count a debug-mode loop starting (+1) or stopping (-1).")},
    {NULL, NULL, 0, NULL},
};

int
pyasync_lock_diag_init(PyObject *module, pyasync_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, lock_diag_functions);
}
