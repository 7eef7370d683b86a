/* awaited_by.c: who awaits a future, for 3.14's call graph.
 *
 * asyncio 3.14 records, on each native future, the tasks awaiting it
 * (asyncio.capture_call_graph() walks these records upwards): a task
 * blocked on a future, gather()'s, wait()'s and shield()'s caller, a
 * TaskGroup's parent.  pyasync's futures keep their own record, one
 * waiter inline or a set of them, as asyncio's do, so a task's step pays
 * a pointer store, not a call.
 *
 * pyasync's futures are also _asyncio.Future instances, so asyncio's own
 * future_add_to_awaited_by() (asyncio's TaskGroup calls it) writes the
 * base part's record instead.  Future._asyncio_awaited_by reports both;
 * each writer discards what it added, so the two never need merging. */
#include "pyasync.h"
#include "core/future.h"
#include "core/awaited_by.h"

#if PY_VERSION_HEX >= 0x030E0000

int
awaited_by_setup(pyasync_state *st)
{
    st->asyncio_awaited_by_add = pyasync_import_attr(
        "_asyncio", "future_add_to_awaited_by");
    st->asyncio_awaited_by_discard = pyasync_import_attr(
        "_asyncio", "future_discard_from_awaited_by");
    PyObject *base = pyasync_import_attr("_asyncio", "Future");
    if (base == NULL || st->asyncio_awaited_by_add == NULL
        || st->asyncio_awaited_by_discard == NULL) {
        Py_XDECREF(base);
        return -1;
    }
    st->asyncio_awaited_by_getter = PyObject_GetAttrString(
        base, "_asyncio_awaited_by");
    Py_DECREF(base);
    if (st->asyncio_awaited_by_getter == NULL) {
        return -1;
    }
    if (Py_TYPE(st->asyncio_awaited_by_getter)->tp_descr_get == NULL) {
        PyErr_SetString(PyExc_ImportError, "_asyncio.Future."
                        "_asyncio_awaited_by is not a descriptor");
        return -1;
    }
    return 0;
}

static inline int
is_pyasync_future(pyasync_state *st, PyObject *obj)
{
    return Py_IS_TYPE(obj, st->Future_Type) || Py_IS_TYPE(obj, st->Task_Type)
           || PyObject_TypeCheck(obj, st->Future_Type);
}

/* The record of a pyasync future, under its critical section as
 * asyncio's is: other threads may read it (the getter below). */
static int
record_add(FutureObj *fut, PyObject *waiter)
{
    if (fut->awaited_by == NULL) {
        fut->awaited_by = Py_NewRef(waiter);
        return 0;
    }
    if (fut->awaited_by_is_set) {
        return PySet_Add(fut->awaited_by, waiter);
    }
    /* A second waiter: both go into a set. */
    PyObject *set = PySet_New(NULL);
    if (set == NULL) {
        return -1;
    }
    if (PySet_Add(set, fut->awaited_by) < 0 || PySet_Add(set, waiter) < 0) {
        Py_DECREF(set);
        return -1;
    }
    Py_SETREF(fut->awaited_by, set);
    fut->awaited_by_is_set = 1;
    return 0;
}

static int
record_discard(FutureObj *fut, PyObject *waiter)
{
    if (fut->awaited_by == NULL) {
        return 0;
    }
    if (fut->awaited_by_is_set) {
        return PySet_Discard(fut->awaited_by, waiter) < 0 ? -1 : 0;
    }
    if (fut->awaited_by == waiter) {
        Py_CLEAR(fut->awaited_by);
    }
    return 0;
}

int
awaited_by_add(pyasync_state *st, PyObject *obj, PyObject *waiter)
{
    if (!is_pyasync_future(st, obj)) {
        return pyasync_call_for_effect(st->asyncio_awaited_by_add, obj, waiter);
    }
    int rc;
    Py_BEGIN_CRITICAL_SECTION(obj);
    rc = record_add((FutureObj *)obj, waiter);
    Py_END_CRITICAL_SECTION();
    return rc;
}

int
awaited_by_discard(pyasync_state *st, PyObject *obj, PyObject *waiter)
{
    if (!is_pyasync_future(st, obj)) {
        return pyasync_call_for_effect(st->asyncio_awaited_by_discard, obj, waiter);
    }
    int rc;
    Py_BEGIN_CRITICAL_SECTION(obj);
    rc = record_discard((FutureObj *)obj, waiter);
    Py_END_CRITICAL_SECTION();
    return rc;
}

/* Add every item of iterable to set.  0 or -1. */
static int
set_add_all(PyObject *set, PyObject *iterable)
{
    PyObject *it = PyObject_GetIter(iterable);
    if (it == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = PySet_Add(set, item);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

PyObject *
awaited_by_get(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    pyasync_state *st = fut->st;
    PyObject *base = NULL;
    if (st != NULL) {
        /* What asyncio's own future_add_to_awaited_by() recorded. */
        PyObject *descr = st->asyncio_awaited_by_getter;
        base = Py_TYPE(descr)->tp_descr_get(descr, self,
                                            (PyObject *)Py_TYPE(self));
        if (base == NULL) {
            return NULL;
        }
    }
    /* The record and its kind, read together (another thread may be
     * turning one waiter into a set); then read outside the section. */
    PyObject *record;
    int is_set;
    Py_BEGIN_CRITICAL_SECTION(self);
    record = Py_XNewRef(fut->awaited_by);
    is_set = fut->awaited_by_is_set;
    Py_END_CRITICAL_SECTION();
    if (record == NULL) {
        return base != NULL ? base : Py_NewRef(Py_None);
    }
    /* A set is copied in one step (the loop's thread may be adding to
     * it; iterating it could see it change size). */
    PyObject *set = PySet_New(is_set ? record : NULL);
    if (set == NULL) {
        Py_DECREF(record);
        Py_XDECREF(base);
        return NULL;
    }
    int rc = is_set ? 0 : PySet_Add(set, record);
    Py_DECREF(record);
    if (rc == 0 && base != NULL && base != Py_None) {
        rc = set_add_all(set, base);
    }
    Py_XDECREF(base);
    if (rc < 0) {
        Py_DECREF(set);
        return NULL;
    }
    PyObject *frozen = PyFrozenSet_New(set);
    Py_DECREF(set);
    return frozen;
}

#endif
