/* wait.c: wait(fs, *, timeout=None, return_when=ALL_COMPLETED), a C
 * coroutine with asyncio 3.11's checks and _wait():  a done-callback on
 * every future counts completions and releases one waiter; on the way out
 * the timer is cancelled and the callbacks removed, and the futures are
 * split into (done, pending) sets. */
#include "comb/combinator.h"
#include "diag/introspect.h"

enum { RW_ALL_COMPLETED = 0, RW_FIRST_COMPLETED, RW_FIRST_EXCEPTION };

typedef struct {
    CombCoro base;
    PyObject *fs;             /* the argument, then set(fs) */
    PyObject *timeout;
    PyObject *return_when;
    PyObject *waiter;
    PyObject *timeout_handle; /* or NULL */
    Py_ssize_t counter;
    int when;                 /* RW_* */
} WaitObj;

enum { W_START = 0, W_WAITING };

/* _on_completion(f); the coroutine is the callback's self, so the
 * callbacks made for adding and for removing compare equal. */
static PyObject *
wait_on_completion(PyObject *self, PyObject *f)
{
    WaitObj *w = (WaitObj *)self;
    pyasync_state *st = w->base.st;
    if (w->waiter == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    w->counter--;
    int release = w->counter <= 0 || w->when == RW_FIRST_COMPLETED;
    if (!release && w->when == RW_FIRST_EXCEPTION) {
        int cancelled = comb_fut_cancelled(st, f);
        if (cancelled < 0) {
            return NULL;
        }
        if (!cancelled) {
            PyObject *exc = comb_fut_exception(st, f);
            if (exc == NULL) {
                return NULL;
            }
            release = exc != Py_None;
            Py_DECREF(exc);
        }
    }
    if (release) {
        if (w->timeout_handle != NULL
            && comb_handle_cancel(st, w->timeout_handle) < 0) {
            return NULL;
        }
        int done = comb_fut_done(st, w->waiter);
        if (done < 0
            || (!done && comb_fut_set_result(st, w->waiter, Py_None) < 0)) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef on_completion_def = {
    "_on_completion", wait_on_completion, METH_O, NULL,
};

static int
wait_check_args(WaitObj *w)
{
    pyasync_state *st = w->base.st;
    int r = comb_isfuture(st, w->fs);
    if (r == 0) {
        r = comb_iscoroutine(st, w->fs);
    }
    if (r < 0) {
        return -1;
    }
    if (r) {
        PyObject *name = PyType_GetName(Py_TYPE(w->fs));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError, "expect a list of futures, not %U",
                         name);
            Py_DECREF(name);
        }
        return -1;
    }
    r = PyObject_Not(w->fs);
    if (r < 0) {
        return -1;
    }
    if (r) {
        PyErr_SetString(PyExc_ValueError, "Set of Tasks/Futures is empty.");
        return -1;
    }
    static const char *const names[] = {
        [RW_ALL_COMPLETED] = "ALL_COMPLETED",
        [RW_FIRST_COMPLETED] = "FIRST_COMPLETED",
        [RW_FIRST_EXCEPTION] = "FIRST_EXCEPTION",
    };
    /* return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION,
     * ALL_COMPLETED), compared in that order */
    static const int order[] = {
        RW_FIRST_COMPLETED, RW_FIRST_EXCEPTION, RW_ALL_COMPLETED,
    };
    for (int i = 0; i < 3; i++) {
        PyObject *name = PyUnicode_FromString(names[order[i]]);
        if (name == NULL) {
            return -1;
        }
        r = name == w->return_when
            || PyObject_RichCompareBool(w->return_when, name, Py_EQ);
        Py_DECREF(name);
        if (r < 0) {
            return -1;
        }
        if (r) {
            w->when = order[i];
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "Invalid return_when value: %S",
                 w->return_when);
    return -1;
}

/* fs = set(fs), refusing coroutines. */
static int
wait_make_set(WaitObj *w)
{
    Py_SETREF(w->fs, PySet_New(w->fs));
    if (w->fs == NULL) {
        return -1;
    }
    PyObject *it = PyObject_GetIter(w->fs);
    if (it == NULL) {
        return -1;
    }
    PyObject *f;
    int found = 0;
    while (!found && (f = PyIter_Next(it)) != NULL) {
        found = comb_iscoroutine(w->base.st, f);
        Py_DECREF(f);
    }
    Py_DECREF(it);
    if (found < 0 || PyErr_Occurred()) {
        return -1;
    }
    if (found) {
        PyErr_SetString(
            PyExc_TypeError,
            "Passing coroutines is forbidden, use tasks explicitly.");
        return -1;
    }
    return 0;
}

/* Call add_ or remove_done_callback(_on_completion) on every future. */
static int
wait_each(WaitObj *w,
          int (*op)(pyasync_state *, PyObject *, PyObject *))
{
    PyObject *cb = PyCFunction_New(&on_completion_def, (PyObject *)w);
    if (cb == NULL) {
        return -1;
    }
    PyObject *it = PyObject_GetIter(w->fs);
    if (it == NULL) {
        Py_DECREF(cb);
        return -1;
    }
    PyObject *f;
    int rc = 0;
    while (rc == 0 && (f = PyIter_Next(it)) != NULL) {
        rc = op(w->base.st, f, cb);
        Py_DECREF(f);
    }
    Py_DECREF(it);
    Py_DECREF(cb);
    return rc < 0 || PyErr_Occurred() ? -1 : 0;
}

static int
wait_start(WaitObj *w, PyObject **out)
{
    pyasync_state *st = w->base.st;
    if (wait_check_args(w) < 0 || wait_make_set(w) < 0) {
        return COMB_ERROR;
    }
    PyObject *loop = comb_get_running_loop(st);
    if (loop == NULL) {
        return COMB_ERROR;
    }
    w->waiter = comb_create_future(st, loop);
    if (w->waiter == NULL) {
        Py_DECREF(loop);
        return COMB_ERROR;
    }
    if (w->timeout != Py_None) {
        PyObject *release = comb_release_waiter_new(w->waiter);
        if (release == NULL) {
            Py_DECREF(loop);
            return COMB_ERROR;
        }
        w->timeout_handle = comb_call_later(st, loop, w->timeout, release);
        Py_DECREF(release);
        if (w->timeout_handle == NULL) {
            Py_DECREF(loop);
            return COMB_ERROR;
        }
    }
    Py_DECREF(loop);
    w->counter = PySet_GET_SIZE(w->fs);
    if (wait_each(w, comb_fut_add_done_callback) < 0) {
        return COMB_ERROR;
    }
    w->base.state = W_WAITING;
    *out = Py_NewRef(w->waiter);
    return COMB_AWAIT;
}

/* (done, pending) */
static PyObject *
wait_split(WaitObj *w)
{
    pyasync_state *st = w->base.st;
    PyObject *done = PySet_New(NULL), *pending = PySet_New(NULL);
    PyObject *it = PyObject_GetIter(w->fs);
    if (done == NULL || pending == NULL || it == NULL) {
        goto error;
    }
    PyObject *f;
    while ((f = PyIter_Next(it)) != NULL) {
        int r = comb_fut_done(st, f);
        if (r >= 0) {
            r = PySet_Add(r ? done : pending, f);
        }
        Py_DECREF(f);
        if (r < 0) {
            goto error;
        }
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    Py_DECREF(it);
    PyObject *res = PyTuple_Pack(2, done, pending);
    Py_DECREF(done);
    Py_DECREF(pending);
    return res;
error:
    Py_XDECREF(it);
    Py_XDECREF(done);
    Py_XDECREF(pending);
    return NULL;
}

static int
wait_step(CombCoro *co, PyObject *value, PyObject **out)
{
    WaitObj *w = (WaitObj *)co;
    pyasync_state *st = co->st;
    if (co->state == W_START) {
        return wait_start(w, out);
    }
    /* finally: cancel the timer, remove the callbacks */
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int rc = 0;
    if (w->timeout_handle != NULL) {
        rc = comb_handle_cancel(st, w->timeout_handle);
    }
    if (rc == 0) {
        rc = wait_each(w, comb_fut_remove_done_callback);
    }
    comb_restore_chained(t, v, tb);
    if (rc < 0 || value == NULL) {
        return COMB_ERROR;
    }
    *out = wait_split(w);
    return *out == NULL ? COMB_ERROR : COMB_RETURN;
}

static int
wait_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitObj *w = (WaitObj *)self;
    Py_VISIT(w->fs);
    Py_VISIT(w->timeout);
    Py_VISIT(w->return_when);
    Py_VISIT(w->waiter);
    Py_VISIT(w->timeout_handle);
    return comb_coro_traverse(&w->base, visit, arg);
}

static int
wait_clear(PyObject *self)
{
    WaitObj *w = (WaitObj *)self;
    Py_CLEAR(w->fs);
    Py_CLEAR(w->timeout);
    Py_CLEAR(w->return_when);
    Py_CLEAR(w->waiter);
    Py_CLEAR(w->timeout_handle);
    comb_coro_clear(&w->base);
    return 0;
}

static PyObject *
wait(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fs", "timeout", "return_when", NULL};
    PyObject *fs, *timeout = Py_None, *return_when = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OO:wait", kwlist,
                                     &fs, &timeout, &return_when)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    WaitObj *w = (WaitObj *)comb_coro_alloc(st, st->Wait_Type, wait_step);
    if (w == NULL) {
        return NULL;
    }
    w->fs = Py_NewRef(fs);
    w->timeout = Py_NewRef(timeout);
    w->return_when = return_when != NULL
        ? Py_NewRef(return_when) : PyUnicode_FromString("ALL_COMPLETED");
    if (w->return_when == NULL) {
        Py_DECREF(w);
        return NULL;
    }
    return (PyObject *)w;
}

static PyMethodDef wait_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))wait, METH_VARARGS | METH_KEYWORDS,
     "wait(fs, *, timeout=None, return_when=ALL_COMPLETED)\n--\n\n"
     "Wait for the Futures or Tasks in fs; return (done, pending)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
wait_view(PyObject *coro)
{
    WaitObj *w = (WaitObj *)coro;
    return Py_BuildValue("{s:s,s:O,s:O,s:O}", "kind", "wait",
                         "fs", view_field(w->fs),
                         "waiter", view_field(w->waiter),
                         "timeout_handle", view_field(w->timeout_handle));
}

int
pyasync_wait_init(PyObject *module, pyasync_state *st)
{
    st->Wait_Type = comb_coro_type_new(module, "pyasync._core.wait",
                                       sizeof(WaitObj), wait_traverse,
                                       wait_clear);
    if (st->Wait_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->Wait_Type, wait_view) < 0) {
        return -1;
    }
    if (PyModule_AddFunctions(module, wait_methods) < 0) {
        return -1;
    }
    return PyModule_AddStringConstant(module, "ALL_COMPLETED", "ALL_COMPLETED")
        || PyModule_AddStringConstant(module, "FIRST_COMPLETED",
                                      "FIRST_COMPLETED")
        || PyModule_AddStringConstant(module, "FIRST_EXCEPTION",
                                      "FIRST_EXCEPTION") ? -1 : 0;
}
