/* as_completed.c: as_completed(fs, *, timeout=None), asyncio 3.11's.
 *
 * In asyncio it is a generator: nothing happens until the first next(),
 * which wraps fs in futures, adds _on_completion to each and starts the
 * timer; each next() then gives a _wait_for_one() coroutine.  Completed
 * futures (or None, for the timeout) go through a queue with
 * asyncio.Queue's get()/put_nowait() behaviour: FIFO items, FIFO getters,
 * one getter woken per item.  Here the iterator object holds the queue.
 *
 * 3.13 makes it a class, _AsCompletedIterator: all of the above happens at
 * the call, an awaitable fs is a TypeError there, and besides next() (the
 * same _wait_for_one() coroutines) it is an async iterator whose
 * __anext__() gives the completed futures themselves. */
#include "comb/combinator.h"
#include "diag/introspect.h"

typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *fs;             /* the argument until started */
    PyObject *timeout;
    PyObject *todo;           /* set of pending futures */
    PyObject *done;           /* list: the queue's items (None: timeout) */
    Py_ssize_t done_head;     /* index of the first item in done */
    PyObject *getters;        /* list of waiter futures */
    PyObject *timeout_handle; /* or NULL */
    Py_ssize_t remaining;     /* _wait_for_one()s still to give */
    char started;
} AsCompletedObj;

/* ---- the queue ------------------------------------------------------ */

static int
queue_empty(AsCompletedObj *ac)
{
    return ac->done_head >= PyList_GET_SIZE(ac->done);
}

/* _wakeup_next(getters): wake the first getter not yet done. */
static int
queue_wakeup_next(AsCompletedObj *ac)
{
    pyasync_state *st = ac->st;
    while (PyList_GET_SIZE(ac->getters) > 0) {
        PyObject *waiter = Py_NewRef(PyList_GET_ITEM(ac->getters, 0));
        if (PySequence_DelItem(ac->getters, 0) < 0) {
            Py_DECREF(waiter);
            return -1;
        }
        int done = comb_fut_done(st, waiter);
        if (done == 0) {
            done = comb_fut_set_result(st, waiter, Py_None) < 0 ? -1 : 1;
        }
        else {
            done = done < 0 ? -1 : 0;
        }
        Py_DECREF(waiter);
        if (done != 0) {
            return done < 0 ? -1 : 0;
        }
    }
    return 0;
}

static int
queue_put(AsCompletedObj *ac, PyObject *item)
{
    if (PyList_Append(ac->done, item) < 0) {
        return -1;
    }
    return queue_wakeup_next(ac);
}

/* The first item, a new reference; the queue is not empty. */
static PyObject *
queue_pop(AsCompletedObj *ac)
{
    PyObject *item = Py_NewRef(PyList_GET_ITEM(ac->done, ac->done_head));
    ac->done_head++;
    if (queue_empty(ac)) {
        /* Reuse the list once it is drained. */
        ac->done_head = 0;
        if (PyList_SetSlice(ac->done, 0, PyList_GET_SIZE(ac->done),
                            NULL) < 0) {
            Py_DECREF(item);
            return NULL;
        }
    }
    return item;
}

/* ---- callbacks ------------------------------------------------------ */

static PyMethodDef on_completion_def;

static PyObject *
as_completed_on_completion(PyObject *self, PyObject *f)
{
    AsCompletedObj *ac = (AsCompletedObj *)self;
    pyasync_state *st = ac->st;
    if (ac->todo == NULL || PySet_GET_SIZE(ac->todo) == 0) {
        Py_RETURN_NONE;  /* _on_timeout() was here first */
    }
    /* todo.remove(f) */
    int r = PySet_Discard(ac->todo, f);
    if (r <= 0) {
        if (r == 0) {
            PyErr_SetObject(PyExc_KeyError, f);
        }
        return NULL;
    }
    if (queue_put(ac, f) < 0) {
        return NULL;
    }
    if (PySet_GET_SIZE(ac->todo) == 0 && ac->timeout_handle != NULL
        && comb_handle_cancel(st, ac->timeout_handle) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef on_completion_def = {
    "_on_completion", as_completed_on_completion, METH_O, NULL,
};

static PyObject *
as_completed_on_timeout(PyObject *self, PyObject *const *args,
                        Py_ssize_t nargs)
{
    AsCompletedObj *ac = (AsCompletedObj *)self;
    pyasync_state *st = ac->st;
    if (ac->todo == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    PyObject *cb = PyCFunction_New(&on_completion_def, self);
    PyObject *it = cb == NULL ? NULL : PyObject_GetIter(ac->todo);
    if (it == NULL) {
        Py_XDECREF(cb);
        return NULL;
    }
    PyObject *f;
    int rc = 0;
    while (rc == 0 && (f = PyIter_Next(it)) != NULL) {
        rc = comb_fut_remove_done_callback(st, f, cb);
        if (rc == 0) {
            rc = queue_put(ac, Py_None);  /* a dummy for _wait_for_one() */
        }
        Py_DECREF(f);
    }
    Py_DECREF(it);
    Py_DECREF(cb);
    if (rc < 0 || PyErr_Occurred()) {
        return NULL;
    }
    if (PySet_Clear(ac->todo) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef on_timeout_def = {
    "_on_timeout", (PyCFunction)(void (*)(void))as_completed_on_timeout,
    METH_FASTCALL, NULL,
};

/* ---- _wait_for_one() ------------------------------------------------ */

typedef struct {
    CombCoro base;
    PyObject *ac;             /* the AsCompletedObj */
    PyObject *getter;         /* the waiter being awaited, or NULL */
    char resolve;             /* return f.result(), not f (3.13's anext) */
} WaitForOneObj;

enum { W1_GET = 0, W1_WAITING };

/* Queue.get()'s clean-up when awaiting the getter raised. */
static int
wait_for_one_abandon(WaitForOneObj *w1)
{
    AsCompletedObj *ac = (AsCompletedObj *)w1->ac;
    pyasync_state *st = ac->st;
    PyObject *getter = w1->getter;
    w1->getter = NULL;
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int rc = comb_fut_cancel(st, getter, NULL);
    if (rc >= 0) {
        PyObject *res = PyObject_CallMethod(ac->getters, "remove", "(O)",
                                            getter);
        if (res != NULL) {
            Py_DECREF(res);
        }
        else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
        }
        else {
            rc = -1;
        }
    }
    if (rc >= 0 && !queue_empty(ac)) {
        rc = comb_fut_cancelled(st, getter);
        if (rc == 0) {
            rc = queue_wakeup_next(ac);
        }
    }
    Py_DECREF(getter);
    comb_restore_chained(t, v, tb);
    return COMB_ERROR;
}

static int
wait_for_one_step(CombCoro *co, PyObject *value, PyObject **out)
{
    WaitForOneObj *w1 = (WaitForOneObj *)co;
    AsCompletedObj *ac = (AsCompletedObj *)w1->ac;
    pyasync_state *st = co->st;
    if (co->state == W1_WAITING) {
        if (value == NULL) {
            return wait_for_one_abandon(w1);
        }
        Py_CLEAR(w1->getter);
    }
    if (queue_empty(ac)) {
        PyObject *loop = comb_get_running_loop(co->st);
        if (loop == NULL) {
            return COMB_ERROR;
        }
        w1->getter = comb_create_future(st, loop);
        Py_DECREF(loop);
        if (w1->getter == NULL || PyList_Append(ac->getters, w1->getter) < 0) {
            return COMB_ERROR;
        }
        co->state = W1_WAITING;
        *out = Py_NewRef(w1->getter);
        return COMB_AWAIT;
    }
    PyObject *f = queue_pop(ac);
    if (f == NULL) {
        return COMB_ERROR;
    }
    if (f == Py_None) {
        Py_DECREF(f);
        PyErr_SetNone(PyExc_TimeoutError);
        return COMB_ERROR;
    }
    if (!w1->resolve) {
        *out = f;  /* the reference moves */
        return COMB_RETURN;
    }
    *out = comb_fut_result(st, f);  /* may raise f's exception */
    Py_DECREF(f);
    return *out == NULL ? COMB_ERROR : COMB_RETURN;
}

#if PY_VERSION_HEX >= 0x030D0000
/* __anext__(): an `async def`, so the count is checked and taken when it
 * first runs, not when it is made; then _wait_for_one() inline. */
static int
anext_step(CombCoro *co, PyObject *value, PyObject **out)
{
    WaitForOneObj *w1 = (WaitForOneObj *)co;
    AsCompletedObj *ac = (AsCompletedObj *)w1->ac;
    if (co->state == W1_GET) {
        if (ac->todo == NULL || ac->remaining <= 0) {
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return COMB_ERROR;
        }
        ac->remaining--;
    }
    return wait_for_one_step(co, value, out);
}
#endif

static int
wait_for_one_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitForOneObj *w1 = (WaitForOneObj *)self;
    Py_VISIT(w1->ac);
    Py_VISIT(w1->getter);
    return comb_coro_traverse(&w1->base, visit, arg);
}

static int
wait_for_one_clear(PyObject *self)
{
    WaitForOneObj *w1 = (WaitForOneObj *)self;
    Py_CLEAR(w1->ac);
    Py_CLEAR(w1->getter);
    comb_coro_clear(&w1->base);
    return 0;
}

/* ---- the iterator --------------------------------------------------- */

static int
as_completed_start(AsCompletedObj *ac)
{
    pyasync_state *st = ac->st;
    int r;
#if PY_VERSION_HEX < 0x030D0000
    /* (3.13 checks at the call, in as_completed()) */
    r = comb_isfuture(st, ac->fs);
    if (r == 0) {
        r = comb_iscoroutine(st, ac->fs);
    }
    if (r < 0) {
        return -1;
    }
    if (r) {
        PyObject *name = PyType_GetName(Py_TYPE(ac->fs));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "expect an iterable of futures, not %U", name);
            Py_DECREF(name);
        }
        return -1;
    }
#endif
    PyObject *loop = comb_get_event_loop(st);
    if (loop == NULL) {
        return -1;
    }
    PyObject *fs = PySet_New(ac->fs);
    PyObject *it = fs == NULL ? NULL : PyObject_GetIter(fs);
    Py_XDECREF(fs);
    Py_CLEAR(ac->fs);
    if (it == NULL) {
        Py_DECREF(loop);
        return -1;
    }
    PyObject *f;
    while ((f = PyIter_Next(it)) != NULL) {
        PyObject *fut = comb_ensure_future(st, f, loop);
        Py_DECREF(f);
        r = fut == NULL ? -1 : PySet_Add(ac->todo, fut);
        Py_XDECREF(fut);
        if (r < 0) {
            break;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(loop);
        return -1;
    }
    PyObject *cb = PyCFunction_New(&on_completion_def, (PyObject *)ac);
    it = cb == NULL ? NULL : PyObject_GetIter(ac->todo);
    r = it == NULL ? -1 : 0;
    while (r == 0 && (f = PyIter_Next(it)) != NULL) {
        r = comb_fut_add_done_callback(st, f, cb);
        Py_DECREF(f);
    }
    Py_XDECREF(it);
    Py_XDECREF(cb);
    if (r < 0 || PyErr_Occurred()) {
        Py_DECREF(loop);
        return -1;
    }
    ac->remaining = PySet_GET_SIZE(ac->todo);
    if (ac->remaining > 0 && ac->timeout != Py_None) {
        PyObject *on_timeout = PyCFunction_New(&on_timeout_def,
                                               (PyObject *)ac);
        if (on_timeout == NULL) {
            Py_DECREF(loop);
            return -1;
        }
        ac->timeout_handle = comb_call_later(st, loop, ac->timeout,
                                             on_timeout);
        Py_DECREF(on_timeout);
        if (ac->timeout_handle == NULL) {
            Py_DECREF(loop);
            return -1;
        }
    }
    Py_DECREF(loop);
    return 0;
}

static WaitForOneObj *
wait_for_one_new(AsCompletedObj *ac, comb_step_fn step, const char *qualname,
                 int resolve)
{
    pyasync_state *st = ac->st;
    WaitForOneObj *w1 = (WaitForOneObj *)comb_coro_alloc(
        st, st->WaitForOne_Type, step);
    if (w1 == NULL) {
        return NULL;
    }
    w1->base.qualname = qualname;
    w1->ac = Py_NewRef((PyObject *)ac);
    w1->resolve = (char)resolve;
    return w1;
}

static PyObject *
as_completed_next(PyObject *self)
{
    AsCompletedObj *ac = (AsCompletedObj *)self;
    if (ac->todo == NULL) {
        return NULL;  /* cleared by the GC: exhausted */
    }
    /* 3.13 starts in as_completed() itself. */
    if (!ac->started) {
        ac->started = 1;
        if (as_completed_start(ac) < 0) {
            ac->remaining = 0;  /* a generator that raised is finished */
            return NULL;
        }
    }
    if (ac->remaining <= 0) {
        return NULL;
    }
    ac->remaining--;
#if PY_VERSION_HEX >= 0x030D0000
    const char *qualname = "_AsCompletedIterator._wait_for_one";
#else
    const char *qualname = NULL;  /* the type's name */
#endif
    return (PyObject *)wait_for_one_new(ac, wait_for_one_step, qualname, 1);
}

#if PY_VERSION_HEX >= 0x030D0000
static PyObject *
as_completed_anext(PyObject *self)
{
    return (PyObject *)wait_for_one_new((AsCompletedObj *)self, anext_step,
                                        "_AsCompletedIterator.__anext__", 0);
}
#endif

static PyObject *
as_completed_iter(PyObject *self)
{
    return Py_NewRef(self);
}

static int
as_completed_traverse(PyObject *self, visitproc visit, void *arg)
{
    AsCompletedObj *ac = (AsCompletedObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(ac->fs);
    Py_VISIT(ac->timeout);
    Py_VISIT(ac->todo);
    Py_VISIT(ac->done);
    Py_VISIT(ac->getters);
    Py_VISIT(ac->timeout_handle);
    return 0;
}

static int
as_completed_clear(PyObject *self)
{
    AsCompletedObj *ac = (AsCompletedObj *)self;
    Py_CLEAR(ac->fs);
    Py_CLEAR(ac->timeout);
    Py_CLEAR(ac->todo);
    Py_CLEAR(ac->done);
    Py_CLEAR(ac->getters);
    Py_CLEAR(ac->timeout_handle);
    return 0;
}

static PyType_Slot as_completed_slots[] = {
    {Py_tp_dealloc, comb_gc_dealloc},
    {Py_tp_traverse, as_completed_traverse},
    {Py_tp_clear, as_completed_clear},
    {Py_tp_iter, as_completed_iter},
    {Py_tp_iternext, as_completed_next},
#if PY_VERSION_HEX >= 0x030D0000
    {Py_am_aiter, as_completed_iter},
    {Py_am_anext, as_completed_anext},
#endif
    {0, NULL},
};

static PyType_Spec as_completed_spec = {
#if PY_VERSION_HEX >= 0x030D0000
    .name = "pyasync._core._AsCompletedIterator",
#else
    .name = "pyasync._core.as_completed",
#endif
    .basicsize = sizeof(AsCompletedObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = as_completed_slots,
};

static PyObject *
as_completed(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fs", "timeout", NULL};
    PyObject *fs, *timeout = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:as_completed",
                                     kwlist, &fs, &timeout)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
#if PY_VERSION_HEX >= 0x030D0000
    int r = comb_isawaitable(st, fs);
    if (r != 0) {
        if (r > 0) {
            PyObject *name = PyType_GetName(Py_TYPE(fs));
            if (name != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "expects an iterable of awaitables, not %U",
                             name);
                Py_DECREF(name);
            }
        }
        return NULL;
    }
#endif
    AsCompletedObj *ac = PyObject_GC_New(AsCompletedObj, st->AsCompleted_Type);
    if (ac == NULL) {
        return NULL;
    }
    ac->st = st;
    ac->fs = Py_NewRef(fs);
    ac->timeout = Py_NewRef(timeout);
    ac->todo = PySet_New(NULL);
    ac->done = PyList_New(0);
    ac->done_head = 0;
    ac->getters = PyList_New(0);
    ac->timeout_handle = NULL;
    ac->remaining = 0;
    ac->started = 0;
    PyObject_GC_Track(ac);
    if (ac->todo == NULL || ac->done == NULL || ac->getters == NULL) {
        Py_DECREF(ac);
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    ac->started = 1;
    if (as_completed_start(ac) < 0) {
        Py_DECREF(ac);
        return NULL;
    }
#endif
    return (PyObject *)ac;
}

static PyMethodDef as_completed_methods[] = {
    {"as_completed", (PyCFunction)(void (*)(void))as_completed,
     METH_VARARGS | METH_KEYWORDS,
     "as_completed(fs, *, timeout=None)\n--\n\n"
     "Return an iterator of awaitables giving the results as they complete."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
as_completed_view(PyObject *obj)
{
    AsCompletedObj *ac = (AsCompletedObj *)obj;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "as_completed",
                         "todo", view_field(ac->todo),
                         "getter", Py_None);
}

static PyObject *
wait_for_one_view(PyObject *coro)
{
    WaitForOneObj *w1 = (WaitForOneObj *)coro;
    AsCompletedObj *ac = (AsCompletedObj *)w1->ac;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "as_completed",
                         "todo", view_field(ac != NULL ? ac->todo : NULL),
                         "getter", view_field(w1->getter));
}

int
pyasync_as_completed_init(PyObject *module, pyasync_state *st)
{
    st->AsCompleted_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &as_completed_spec, NULL);
    if (st->AsCompleted_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->AsCompleted_Type,
                              as_completed_view) < 0) {
        return -1;
    }
    st->WaitForOne_Type = comb_coro_type_new(
        module, "pyasync._core._wait_for_one", sizeof(WaitForOneObj),
        wait_for_one_traverse, wait_for_one_clear);
    if (st->WaitForOne_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->WaitForOne_Type,
                              wait_for_one_view) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, as_completed_methods);
}
