/* shield.c: shield(arg), asyncio 3.11's: the outer future follows the
 * inner one, and cancelling the outer only detaches it.  Both callbacks
 * are builtins bound to one small state object holding inner and outer,
 * so a fresh _inner_done_callback compares equal to the added one. */
#include "combinator.h"
#include "diag/introspect.h"

typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *inner;
    PyObject *outer;
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

static int
shield_state_traverse(PyObject *self, visitproc visit, void *arg)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(ss->inner);
    Py_VISIT(ss->outer);
    return 0;
}

static int
shield_state_clear(PyObject *self)
{
    ShieldStateObj *ss = (ShieldStateObj *)self;
    Py_CLEAR(ss->inner);
    Py_CLEAR(ss->outer);
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
    Py_DECREF(loop);
    if (outer == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    ShieldStateObj *ss = PyObject_GC_New(ShieldStateObj, st->ShieldState_Type);
    if (ss == NULL) {
        Py_DECREF(inner);
        Py_DECREF(outer);
        return NULL;
    }
    ss->st = st;
    ss->inner = inner;                 /* reference moved */
    ss->outer = Py_NewRef(outer);
    PyObject_GC_Track(ss);
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
    {NULL, NULL, 0, NULL},
};

int
pyasync_shield_init(PyObject *module, pyasync_state *st)
{
    st->ShieldState_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &shield_state_spec, NULL);
    if (st->ShieldState_Type == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, shield_methods);
}

/* ---- introspection (introspect.h) ------------------------------------ */

PyObject *
pyasync_shield_state_view(PyObject *obj)
{
    ShieldStateObj *ss = (ShieldStateObj *)obj;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "shield",
                         "inner", view_field(ss->inner),
                         "outer", view_field(ss->outer));
}
