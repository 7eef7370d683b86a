/* gather.c: gather(*coros_or_futures, return_exceptions=False) with
 * asyncio 3.11's _GatheringFuture and _done_callback.
 *
 * Outcomes, as in 3.11:
 *   - a child fails or is cancelled and return_exceptions is false: the
 *     outer future gets that exception (a cancelled child gives its
 *     _make_cancelled_error()), so outer.cancelled() is False;
 *   - outer.cancel() cancels the children; once all are done the outer gets
 *     the CancelledError made by the *last* child (3.11's loop variable);
 *   - otherwise the results (exceptions in place with return_exceptions).
 *
 * _GatheringFuture is a C subclass of asyncio.Future (the C
 * _asyncio.Future, looked up at import): it overrides cancel() and adds
 * _children and _cancel_requested after the base's fields, whose size is
 * known only at run time.  When pyasync's own Future merges, the base
 * becomes st->Future_Type; only gathering_type_new() changes. */
#include <stddef.h>
#include "comb/combinator.h"
#include "core/current_task.h"
#include "core/awaited_by.h"
#include "core/future.h"
#include "core/task.h"
#include "diag/introspect.h"

/* Appended at base->tp_basicsize. */
typedef struct {
    PyObject *children;       /* list */
    char cancel_requested;
} GatheringFields;

static inline GatheringFields *
gathering_fields(PyObject *self)
{
    /* The type cannot be subclassed, so its base is the Future. */
    Py_ssize_t base_size = Py_TYPE(self)->tp_base->tp_basicsize;
    return (GatheringFields *)((char *)self + base_size);
}

/* The shared state of one gather(): what _done_callback closes over. */
typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *children;       /* list, shared with the outer future */
    PyObject *outer;          /* NULL until every child is set up */
    Py_ssize_t nfuts;
    Py_ssize_t nfinished;
    char return_exceptions;
    PyObject *cur_task;       /* 3.14+: the task awaiting the children (the
                                 call graph's record), or NULL */
} GatherStateObj;

/* ---- _GatheringFuture ----------------------------------------------- */

static PyObject *
gathering_cancel(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"msg", NULL};
    PyObject *msg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:cancel", kwlist,
                                     &msg)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    int done = comb_fut_done(st, self);
    if (done < 0) {
        return NULL;
    }
    if (done) {
        Py_RETURN_FALSE;
    }
    GatheringFields *gf = gathering_fields(self);
    if (gf->children == NULL) {
        Py_RETURN_FALSE;  /* cleared by the GC */
    }
    PyObject *children = Py_NewRef(gf->children);
    int ret = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(children); i++) {
        PyObject *child = Py_NewRef(PyList_GET_ITEM(children, i));
        int r = comb_fut_cancel(st, child, msg);
        Py_DECREF(child);
        if (r < 0) {
            Py_DECREF(children);
            return NULL;
        }
        ret |= r;
    }
    Py_DECREF(children);
    if (ret) {
        gathering_fields(self)->cancel_requested = 1;
    }
    return PyBool_FromLong(ret);
}

static PyObject *
gathering_get_children(PyObject *self, void *closure)
{
    PyObject *children = gathering_fields(self)->children;
    return Py_NewRef(children ? children : Py_None);
}

static PyObject *
gathering_get_cancel_requested(PyObject *self, void *closure)
{
    return PyBool_FromLong(gathering_fields(self)->cancel_requested);
}

static int
gathering_set_cancel_requested(PyObject *self, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
        return -1;
    }
    int r = PyObject_IsTrue(value);
    if (r < 0) {
        return -1;
    }
    gathering_fields(self)->cancel_requested = (char)r;
    return 0;
}

static int
gathering_traverse(PyObject *self, visitproc visit, void *arg)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_VISIT(tp);
    Py_VISIT(gathering_fields(self)->children);
    return tp->tp_base->tp_traverse(self, visit, arg);
}

static int
gathering_clear(PyObject *self)
{
    Py_CLEAR(gathering_fields(self)->children);
    return Py_TYPE(self)->tp_base->tp_clear(self);
}

/* The base's dealloc runs the finalizer only for exact Futures and does
 * not release a heap type, so both happen here. */
static void
gathering_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_finalize != NULL
        && PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;  /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    Py_CLEAR(gathering_fields(self)->children);
    /* The base is asyncio's C Future: a static type up to 3.11, whose
     * dealloc leaves our heap type's reference to us; a heap type since
     * 3.12, whose dealloc drops the reference to Py_TYPE(self) itself. */
    int base_drops_type = PyType_HasFeature(tp->tp_base, Py_TPFLAGS_HEAPTYPE);
    tp->tp_base->tp_dealloc(self);
    if (!base_drops_type) {
        Py_DECREF(tp);
    }
}

static PyMethodDef gathering_methods[] = {
    {"cancel", (PyCFunction)(void (*)(void))gathering_cancel,
     METH_VARARGS | METH_KEYWORDS,
     "cancel(msg=None)\n--\n\nCancel the children; True if any was."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef gathering_getset[] = {
    {"_children", gathering_get_children, NULL, NULL, NULL},
    {"_cancel_requested", gathering_get_cancel_requested,
     gathering_set_cancel_requested, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject *
gathering_type_new(PyObject *module, pyasync_state *st)
{
    PyTypeObject *base = (PyTypeObject *)st->comb_future_base;
    PyType_Slot slots[] = {
        {Py_tp_dealloc, gathering_dealloc},
        {Py_tp_traverse, gathering_traverse},
        {Py_tp_clear, gathering_clear},
        {Py_tp_methods, gathering_methods},
        {Py_tp_getset, gathering_getset},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "pyasync._core._GatheringFuture",
        .basicsize = (int)(base->tp_basicsize + sizeof(GatheringFields)),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
                 | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = slots,
    };
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec,
                                                    (PyObject *)base);
}

/* _GatheringFuture(children, loop=loop) */
static PyObject *
gathering_new(pyasync_state *st, PyObject *children, PyObject *loop)
{
    PyTypeObject *tp = st->GatheringFuture_Type;
    PyObject *fut = tp->tp_alloc(tp, 0);
    if (fut == NULL) {
        return NULL;
    }
    GatheringFields *gf = gathering_fields(fut);
    gf->children = Py_NewRef(children);
    gf->cancel_requested = 0;
    PyObject *args = PyTuple_New(0);
    PyObject *kwargs = Py_BuildValue("{sO}", "loop", loop);
    if (args == NULL || kwargs == NULL
        || tp->tp_init(fut, args, kwargs) < 0) {
        Py_XDECREF(args);
        Py_XDECREF(kwargs);
        Py_DECREF(fut);
        return NULL;
    }
    Py_DECREF(args);
    Py_DECREF(kwargs);
    return fut;
}

/* ---- _done_callback ------------------------------------------------- */

/* A pyasync Future or Task, initialised, on a pyasync loop: calling its
 * methods runs no Python code. */
static inline FutureObj *
plain_child(pyasync_state *st, PyObject *fut)
{
    if ((Py_IS_TYPE(fut, st->Future_Type) || Py_IS_TYPE(fut, st->Task_Type))
        && ((FutureObj *)fut)->loop != NULL
        && ((FutureObj *)fut)->loop_is_pyasync) {
        return (FutureObj *)fut;
    }
    return NULL;
}

/* fut.exception() of a done child, read from the fields when we can. */
static PyObject *
child_exception(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = plain_child(st, fut);
    if (f == NULL || f->state != FUTURE_FINISHED) {
        return comb_fut_exception(st, fut);
    }
    if (f->exception == NULL) {
        Py_RETURN_NONE;
    }
    f->log_traceback = 0;       /* retrieved, as exception() marks it */
    return Py_NewRef(f->exception);
}

/* CancelledError('' if msg is None else msg) for a cancelled child in the
 * results list. */
static PyObject *
child_cancelled_result(pyasync_state *st, PyObject *fut)
{
    PyObject *msg = comb_fut_cancel_message(st, fut);
    if (msg == NULL) {
        return NULL;
    }
    if (msg == Py_None) {
        Py_SETREF(msg, PyUnicode_FromString(""));
        if (msg == NULL) {
            return NULL;
        }
    }
    PyObject *exc = PyObject_CallOneArg(st->CancelledError, msg);
    Py_DECREF(msg);
    return exc;
}

/* outer.set_exception(fut._make_cancelled_error()) */
static int
set_cancelled_error_of(pyasync_state *st, PyObject *outer, PyObject *fut)
{
    PyObject *exc = comb_fut_make_cancelled_error(st, fut);
    if (exc == NULL) {
        return -1;
    }
    int rc = comb_fut_set_exception(st, outer, exc);
    Py_DECREF(exc);
    return rc;
}

static PyObject *
gather_results(GatherStateObj *gs)
{
    pyasync_state *st = gs->st;
    PyObject *children = gs->children;
    Py_ssize_t n = PyList_GET_SIZE(children);
    PyObject *results = PyList_New(n);
    if (results == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *fut = PyList_GET_ITEM(children, i);
        PyObject *res;
        int cancelled = comb_fut_cancelled(st, fut);
        if (cancelled < 0) {
            goto error;
        }
        if (cancelled) {
            res = child_cancelled_result(gs->st, fut);
        }
        else {
            res = child_exception(st, fut);
            if (res == Py_None) {
                Py_DECREF(res);
                res = comb_fut_result(st, fut);
            }
        }
        if (res == NULL) {
            goto error;
        }
        PyList_SET_ITEM(results, i, res);
    }
    return results;
error:
    Py_DECREF(results);
    return NULL;
}

static int
gather_on_child_done(GatherStateObj *gs, PyObject *fut)
{
    pyasync_state *st = gs->st;
    gs->nfinished++;
#if PY_VERSION_HEX >= 0x030E0000
    if (gs->cur_task != NULL
        && awaited_by_discard(st, fut, gs->cur_task) < 0) {
        return -1;
    }
#endif
    PyObject *outer = gs->outer;
    int done = outer == NULL ? 1 : comb_fut_done(st, outer);
    if (done < 0) {
        return -1;
    }
    if (done) {
        /* Mark the child's exception retrieved. */
        int cancelled = comb_fut_cancelled(st, fut);
        if (cancelled < 0) {
            return -1;
        }
        if (!cancelled) {
            PyObject *exc = child_exception(st, fut);
            if (exc == NULL) {
                return -1;
            }
            Py_DECREF(exc);
        }
        return 0;
    }
    if (!gs->return_exceptions) {
        int cancelled = comb_fut_cancelled(st, fut);
        if (cancelled < 0) {
            return -1;
        }
        if (cancelled) {
            return set_cancelled_error_of(st, outer, fut);
        }
        PyObject *exc = child_exception(st, fut);
        if (exc == NULL) {
            return -1;
        }
        if (exc != Py_None) {
            int rc = comb_fut_set_exception(st, outer, exc);
            Py_DECREF(exc);
            return rc;
        }
        Py_DECREF(exc);
    }
    if (gs->nfinished != gs->nfuts) {
        return 0;
    }
    PyObject *results = gather_results(gs);
    if (results == NULL) {
        return -1;
    }
    int rc;
    if (gathering_fields(outer)->cancel_requested) {
        /* 3.11 asks the last child, the loop variable left behind. */
        Py_ssize_t n = PyList_GET_SIZE(gs->children);
        PyObject *last = Py_NewRef(PyList_GET_ITEM(gs->children, n - 1));
        rc = set_cancelled_error_of(st, outer, last);
        Py_DECREF(last);
    }
    else {
        rc = comb_fut_set_result(st, outer, results);
    }
    Py_DECREF(results);
    return rc;
}

static PyObject *
gather_done_callback(PyObject *self, PyObject *fut)
{
    GatherStateObj *gs = (GatherStateObj *)self;
    if (gs->children == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    Py_INCREF(gs);  /* the callbacks may drop the last other reference */
    int rc = gather_on_child_done(gs, fut);
    Py_DECREF(gs);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef done_callback_def = {
    "_done_callback", gather_done_callback, METH_O, NULL,
};

static int
gather_state_traverse(PyObject *self, visitproc visit, void *arg)
{
    GatherStateObj *gs = (GatherStateObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(gs->children);
    Py_VISIT(gs->outer);
    Py_VISIT(gs->cur_task);
    return 0;
}

static int
gather_state_clear(PyObject *self)
{
    GatherStateObj *gs = (GatherStateObj *)self;
    Py_CLEAR(gs->children);
    Py_CLEAR(gs->outer);
    Py_CLEAR(gs->cur_task);
    return 0;
}

static PyType_Slot gather_state_slots[] = {
    {Py_tp_dealloc, comb_gc_dealloc},
    {Py_tp_traverse, gather_state_traverse},
    {Py_tp_clear, gather_state_clear},
    {0, NULL},
};

static PyType_Spec gather_state_spec = {
    .name = "pyasync._core._GatherState",
    .basicsize = sizeof(GatherStateObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = gather_state_slots,
};

/* ---- gather() ------------------------------------------------------- */

static PyObject *
gather_empty(pyasync_state *st)
{
    PyObject *loop = comb_get_event_loop(st);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *outer = comb_create_future(st, loop);
    Py_DECREF(loop);
    PyObject *empty = PyList_New(0);
    if (outer == NULL || empty == NULL
        || comb_fut_set_result(st, outer, empty) < 0) {
        Py_XDECREF(outer);
        Py_XDECREF(empty);
        return NULL;
    }
    Py_DECREF(empty);
    return outer;
}

/* What gather() needs while it turns its arguments into children. */
typedef struct {
    GatherStateObj *gs;
    PyObject *cb;           /* the shared _done_callback */
    PyObject *loop;         /* owned once known */
    PyObject *arg_to_fut;   /* dict, made when first needed */
    PyObject *ctx;          /* context for plain children, made when needed */
    char plain_args;        /* every argument is a plain_child() */
} GatherBuild;

/* 1 if cb is among fut's pending done-callbacks (a wake-up item holds a
 * task, never cb, so identity is enough). */
static int
has_callback(FutureObj *fut, PyObject *cb)
{
    if (fut->callback0 == cb) {
        return 1;
    }
    if (fut->callbacks != NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(fut->callbacks); i++) {
            if (PyTuple_GET_ITEM(PyList_GET_ITEM(fut->callbacks, i), 0)
                == cb) {
                return 1;
            }
        }
    }
    return 0;
}

/* fut.add_done_callback(_done_callback).  asyncio runs it in a copy of
 * the current context; for a plain child the callback runs C code only
 * (no Python code can see which context it is), so one copy serves every
 * plain child of this gather. */
static int
gather_add_callback(GatherBuild *b, PyObject *fut)
{
    pyasync_state *st = b->gs->st;
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14: the caller awaits each child not done yet. */
    if (b->gs->cur_task != NULL) {
        int done = comb_fut_done(st, fut);
        if (done < 0 || (done == 0 && awaited_by_add(st, fut,
                                                     b->gs->cur_task) < 0)) {
            return -1;
        }
    }
#endif
    FutureObj *f = plain_child(st, fut);
    if (f == NULL) {
        return comb_fut_add_done_callback(st, fut, b->cb);
    }
    if (b->ctx == NULL && (b->ctx = PyContext_CopyCurrent()) == NULL) {
        return -1;
    }
    return future_add_done_callback(f, b->cb, b->ctx);
}

/* The future for one argument: reused when the argument repeats. */
static PyObject *
gather_child(GatherBuild *b, PyObject *arg)
{
    GatherStateObj *gs = b->gs;
    pyasync_state *st = gs->st;
    PyObject *fut;
    if (b->plain_args && ((FutureObj *)arg)->state == FUTURE_PENDING
        && (b->loop == NULL || ((FutureObj *)arg)->loop == b->loop)) {
        /* Only C code runs while the arguments are set up, so a pending
         * future seen before still holds our callback: no dict needed. */
        if (has_callback((FutureObj *)arg, b->cb)) {
            return Py_NewRef(arg);
        }
        if (b->loop == NULL) {
            b->loop = Py_NewRef(((FutureObj *)arg)->loop);
        }
        gs->nfuts++;
        if (gather_add_callback(b, arg) < 0) {
            return NULL;
        }
        return Py_NewRef(arg);
    }
    if (b->arg_to_fut == NULL && (b->arg_to_fut = PyDict_New()) == NULL) {
        return NULL;
    }
    fut = PyDict_GetItemWithError(b->arg_to_fut, arg);
    if (fut != NULL) {
        return Py_NewRef(fut);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    fut = comb_ensure_future(st, arg, b->loop);
    if (fut == NULL) {
        return NULL;
    }
    if (b->loop == NULL && (b->loop = comb_fut_get_loop(st, fut)) == NULL) {
        goto error;
    }
    if (fut != arg) {
        if (Py_IS_TYPE(fut, st->Task_Type)) {
            ((TaskObj *)fut)->log_destroy_pending = 0;
        }
        else if (PyObject_SetAttrString(fut, "_log_destroy_pending",
                                        Py_False) < 0) {
            goto error;
        }
    }
    gs->nfuts++;
    if (PyDict_SetItem(b->arg_to_fut, arg, fut) < 0
        || gather_add_callback(b, fut) < 0) {
        goto error;
    }
    return fut;
error:
    Py_DECREF(fut);
    return NULL;
}

static PyObject *
gather(PyObject *module, PyObject *args, PyObject *kwargs)
{
    pyasync_state *st = pyasync_state_from_module(module);
    int return_exceptions = 0;
    if (kwargs != NULL) {
        PyObject *key;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kwargs, &pos, &key, NULL)) {
            if (!PyUnicode_Check(key)
                || PyUnicode_CompareWithASCIIString(
                       key, "return_exceptions") != 0) {
                PyErr_Format(PyExc_TypeError,
                             "gather() got an unexpected keyword argument "
                             "'%S'", key);
                return NULL;
            }
        }
        PyObject *v = PyDict_GetItemString(kwargs, "return_exceptions");
        if (v != NULL && (return_exceptions = PyObject_IsTrue(v)) < 0) {
            return NULL;
        }
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs == 0) {
        return gather_empty(st);
    }
    GatherStateObj *gs = PyObject_GC_New(GatherStateObj, st->GatherState_Type);
    if (gs == NULL) {
        return NULL;
    }
    gs->st = st;
    gs->outer = NULL;
    gs->nfuts = gs->nfinished = 0;
    gs->return_exceptions = (char)return_exceptions;
    gs->cur_task = NULL;
    gs->children = PyList_New(0);
    PyObject_GC_Track(gs);

    GatherBuild b = {.gs = gs, .plain_args = 1};
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14 takes the running loop for every child (a future of another
     * loop is refused at once) and records its current task as the
     * children's waiter. */
    b.loop = current_running_loop(st);
    if (b.loop == NULL) {
        Py_DECREF(gs);
        return NULL;
    }
    if (b.loop == Py_None) {
        Py_CLEAR(b.loop);
    }
    else {
        PyObject *cur = current_task_get(st, b.loop);
        if (cur == NULL) {
            Py_DECREF(b.loop);
            Py_DECREF(gs);
            return NULL;
        }
        if (cur == Py_None) {
            Py_DECREF(cur);
        }
        else {
            gs->cur_task = cur;
        }
    }
#endif
    for (Py_ssize_t i = 0; i < nargs && b.plain_args; i++) {
        b.plain_args = plain_child(st, PyTuple_GET_ITEM(args, i)) != NULL;
    }
    PyObject *outer = NULL;
    b.cb = PyCFunction_New(&done_callback_def, (PyObject *)gs);
    if (gs->children == NULL || b.cb == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject *fut = gather_child(&b, PyTuple_GET_ITEM(args, i));
        if (fut == NULL) {
            goto done;
        }
        int rc = PyList_Append(gs->children, fut);
        Py_DECREF(fut);
        if (rc < 0) {
            goto done;
        }
    }
    outer = gathering_new(st, gs->children, b.loop);
    if (outer != NULL) {
        gs->outer = Py_NewRef(outer);
    }
done:
    Py_XDECREF(b.cb);
    Py_XDECREF(b.ctx);
    Py_XDECREF(b.arg_to_fut);
    Py_XDECREF(b.loop);
    Py_DECREF(gs);
    return outer;
}

static PyMethodDef gather_methods[] = {
    {"gather", (PyCFunction)(void (*)(void))gather,
     METH_VARARGS | METH_KEYWORDS,
     "gather(*coros_or_futures, return_exceptions=False)\n--\n\n"
     "Return a future aggregating results from the given coroutines/futures."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
gather_state_view(PyObject *obj)
{
    GatherStateObj *gs = (GatherStateObj *)obj;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "gather",
                         "children", view_field(gs->children),
                         "outer", view_field(gs->outer));
}

int
pyasync_gather_init(PyObject *module, pyasync_state *st)
{
    st->GatheringFuture_Type = gathering_type_new(module, st);
    if (st->GatheringFuture_Type == NULL) {
        return -1;
    }
    st->GatherState_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &gather_state_spec, NULL);
    if (st->GatherState_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->GatherState_Type,
                              gather_state_view) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, gather_methods);
}
