/* shield.c: shield(arg), asyncio 3.11's: the outer future follows the
 * inner one, and cancelling the outer only detaches it.  Both callbacks
 * are builtins bound to one small state object holding inner and outer,
 * so a fresh _inner_done_callback compares equal to the added one.
 *
 * 3.14 adds two things: the calling task is recorded as awaiting the
 * inner future (the call graph) until the inner is done, and an inner
 * left running by a cancelled outer reports an exception it ends with
 * to the loop's exception handler ("... exception in shielded future"),
 * once however many shields were cancelled. */
#include "comb/combinator.h"
#include "core/current_task.h"
#include "core/awaited_by.h"
#include "diag/introspect.h"

typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *inner;
    PyObject *outer;
    PyObject *cur_task;         /* 3.14+: the task awaiting inner, or NULL */
} ShieldStateObj;

/* Copy the inner outcome onto the outer future. */
static int
shield_inner_done(ShieldStateObj *ss, PyObject *inner)
{
    pyasync_state *st = ss->st;
    PyObject *outer = ss->outer;
    if (outer == NULL || ss->inner == NULL) {
        return 0;  /* cleared by the GC */
    }
    int cancelled = comb_fut_cancelled(st, outer);
    if (cancelled < 0) {
        return -1;
    }
    int inner_cancelled = comb_fut_cancelled(st, inner);
    if (inner_cancelled < 0) {
        return -1;
    }
    if (cancelled) {
        if (!inner_cancelled) {
            /* Mark the inner exception as retrieved. */
            PyObject *exc = comb_fut_exception(st, inner);
            if (exc == NULL) {
                return -1;
            }
            Py_DECREF(exc);
        }
        return 0;
    }
    if (inner_cancelled) {
        return comb_fut_cancel(st, outer, NULL) < 0 ? -1 : 0;
    }
    PyObject *exc = comb_fut_exception(st, inner);
    if (exc == NULL) {
        return -1;
    }
    int rc;
    if (exc != Py_None) {
        rc = comb_fut_set_exception(st, outer, exc);
    }
    else {
        PyObject *res = comb_fut_result(st, inner);
        rc = res == NULL ? -1 : comb_fut_set_result(st, outer, res);
        Py_XDECREF(res);
    }
    Py_DECREF(exc);
    return rc;
}

static PyObject *
shield_inner_done_callback(PyObject *self, PyObject *inner)
{
    Py_INCREF(self);
    int rc = shield_inner_done((ShieldStateObj *)self, inner);
    Py_DECREF(self);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef inner_done_def = {
    "_inner_done_callback", shield_inner_done_callback, METH_O, NULL,
};

/* The outer is done (cancelled, usually): stop following the inner. */
static PyObject *
shield_outer_done_callback(PyObject *self, PyObject *outer)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    pyasync_state *st = ss->st;
    if (ss->inner == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    PyObject *inner = Py_NewRef(ss->inner);
    int done = comb_fut_done(st, inner);
    int rc = done;
    if (done == 0) {
        PyObject *cb = PyCFunction_New(&inner_done_def, self);
        rc = cb == NULL ? -1 : comb_fut_remove_done_callback(st, inner, cb);
        Py_XDECREF(cb);
#if PY_VERSION_HEX >= 0x030E0000
        /* One logging callback, however many shields were cancelled. */
        if (rc >= 0) {
            rc = comb_fut_remove_done_callback(st, inner,
                                               st->shield_log_on_exception);
        }
        if (rc >= 0) {
            rc = comb_fut_add_done_callback(st, inner,
                                            st->shield_log_on_exception);
        }
#endif
    }
    Py_DECREF(inner);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef outer_done_def = {
    "_outer_done_callback", shield_outer_done_callback, METH_O, NULL,
};

#if PY_VERSION_HEX >= 0x030E0000
/* The inner is done: its caller no longer awaits it. */
static PyObject *
shield_clear_awaited_by_callback(PyObject *self, PyObject *inner)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    if (ss->cur_task != NULL
        && awaited_by_discard(ss->st, inner, ss->cur_task) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef clear_awaited_by_def = {
    "_clear_awaited_by_callback", shield_clear_awaited_by_callback, METH_O,
    NULL,
};

/* asyncio.tasks._log_on_exception(fut): the exception an inner future
 * ended with after its shield was cancelled, to the loop's handler. */
static PyObject *
shield_log_on_exception(PyObject *module, PyObject *fut)
{
    pyasync_state *st = pyasync_state_from_module(module);
    int cancelled = comb_fut_cancelled(st, fut);
    if (cancelled != 0) {
        return cancelled < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *exc = comb_fut_exception(st, fut);
    if (exc == NULL || exc == Py_None) {
        return exc;
    }
    PyObject *context = Py_BuildValue(
        "{s:N,s:O,s:O}", "message",
        PyUnicode_FromFormat("%s exception in shielded future",
                             _PyType_Name(Py_TYPE(exc))),
        "exception", exc, "future", fut);
    Py_DECREF(exc);
    if (context == NULL) {
        return NULL;
    }
    PyObject *res = NULL, *loop = NULL;
    PyObject *tb = PyObject_GetAttrString(fut, "_source_traceback");
    if (tb == NULL) {
        goto done;
    }
    int has_tb = PyObject_IsTrue(tb);
    if (has_tb < 0 || (has_tb && PyDict_SetItemString(
                           context, "source_traceback", tb) < 0)) {
        goto done;
    }
    loop = PyObject_GetAttrString(fut, "_loop");
    if (loop != NULL) {
        res = PyObject_CallMethod(loop, "call_exception_handler", "(O)",
                                  context);
    }
done:
    Py_XDECREF(tb);
    Py_XDECREF(loop);
    Py_DECREF(context);
    return res;
}
#endif

static int
shield_state_traverse(PyObject *self, visitproc visit, void *arg)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(ss->inner);
    Py_VISIT(ss->outer);
    Py_VISIT(ss->cur_task);
    return 0;
}

static int
shield_state_clear(PyObject *self)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    Py_CLEAR(ss->inner);
    Py_CLEAR(ss->outer);
    Py_CLEAR(ss->cur_task);
    return 0;
}

static PyType_Slot shield_state_slots[] = {
    {Py_tp_dealloc, comb_gc_dealloc},
    {Py_tp_traverse, shield_state_traverse},
    {Py_tp_clear, shield_state_clear},
    {0, NULL},
};

static PyType_Spec shield_state_spec = {
    .name = "pyasync._core._ShieldState",
    .basicsize = sizeof(ShieldStateObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = shield_state_slots,
};

/* Add fn bound to ss as a done-callback of fut. */
static int
add_bound_callback(PyObject *fut, PyMethodDef *fn, ShieldStateObj *ss)
{
    pyasync_state *st = ss->st;
    PyObject *cb = PyCFunction_New(fn, (PyObject *)ss);
    if (cb == NULL) {
        return -1;
    }
    int rc = comb_fut_add_done_callback(st, fut, cb);
    Py_DECREF(cb);
    return rc;
}

static PyObject *
shield(PyObject *module, PyObject *arg)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *inner = comb_ensure_future(st, arg, NULL);
    if (inner == NULL) {
        return NULL;
    }
    int done = comb_fut_done(st, inner);
    if (done != 0) {
        if (done < 0) {
            Py_CLEAR(inner);
        }
        return inner;
    }
    PyObject *loop = comb_fut_get_loop(st, inner);
    if (loop == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    PyObject *outer = comb_create_future(st, loop);
    if (outer == NULL) {
        Py_DECREF(loop);
        Py_DECREF(inner);
        return NULL;
    }
    ShieldStateObj *ss = PyObject_GC_New(ShieldStateObj, st->ShieldState_Type);
    if (ss == NULL) {
        Py_DECREF(loop);
        Py_DECREF(inner);
        Py_DECREF(outer);
        return NULL;
    }
    ss->st = st;
    ss->inner = inner;                 /* reference moved */
    ss->outer = Py_NewRef(outer);
    ss->cur_task = NULL;
    PyObject_GC_Track(ss);
#if PY_VERSION_HEX >= 0x030E0000
    PyObject *cur_task = current_task_get(st, loop);
    Py_DECREF(loop);
    if (cur_task == NULL) {
        Py_DECREF(ss);
        Py_DECREF(outer);
        return NULL;
    }
    if (cur_task != Py_None) {
        ss->cur_task = cur_task;       /* reference moved */
        if (awaited_by_add(st, inner, cur_task) < 0
            || add_bound_callback(inner, &clear_awaited_by_def, ss) < 0) {
            Py_DECREF(ss);
            Py_DECREF(outer);
            return NULL;
        }
    }
    else {
        Py_DECREF(cur_task);
    }
#else
    Py_DECREF(loop);
#endif
    if (add_bound_callback(inner, &inner_done_def, ss) < 0
        || add_bound_callback(outer, &outer_done_def, ss) < 0) {
        Py_CLEAR(outer);
    }
    Py_DECREF(ss);
    return outer;
}

static PyMethodDef shield_methods[] = {
    {"shield", shield, METH_O,
     "shield(arg)\n--\n\nWait for a future, shielding it from cancellation."},
#if PY_VERSION_HEX >= 0x030E0000
    {"_log_on_exception", shield_log_on_exception, METH_O,
     "_log_on_exception(fut)\n--\n\nReport the exception fut ended with "
     "after its shield was cancelled."},
#endif
    {NULL, NULL, 0, NULL},
};

static PyObject *
shield_state_view(PyObject *obj)
{
    ShieldStateObj *ss = (ShieldStateObj *)obj;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "shield",
                         "inner", view_field(ss->inner),
                         "outer", view_field(ss->outer));
}

int
pyasync_shield_init(PyObject *module, pyasync_state *st)
{
    st->ShieldState_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &shield_state_spec, NULL);
    if (st->ShieldState_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->ShieldState_Type,
                              shield_state_view) < 0) {
        return -1;
    }
    if (PyModule_AddFunctions(module, shield_methods) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030E0000
    st->shield_log_on_exception = PyObject_GetAttrString(module,
                                                         "_log_on_exception");
    if (st->shield_log_on_exception == NULL) {
        return -1;
    }
#endif
    return 0;
}
