/* all_tasks.c: registering tasks in asyncio's _all_tasks WeakSet cheaply.
 *
 * asyncio.all_tasks() reads asyncio.tasks._all_tasks, so every task must
 * be in it.  WeakSet.add() is Python code, and so is the weakref callback
 * that drops a dead task: together about a third of creating and freeing
 * a task.  When _all_tasks is exactly a weakref.WeakSet we do the same
 * two things in C: add ref(task, ws._remove) to ws.data, and when the task
 * is freed discard that ref from ws.data ourselves (what ws._remove would
 * do) unless the set is being iterated, in which case the callback runs
 * as usual and defers the removal. */
#include "pyasync.h"
#include "all_tasks.h"

/* 1 if st->all_tasks is an exact weakref.WeakSet, 0 if not, -1 error. */
static int
all_tasks_is_plain_weakset(pyasync_state *st)
{
    PyObject *mod = PyImport_ImportModule("weakref");
    if (mod == NULL) {
        return -1;
    }
    PyObject *cls = PyObject_GetAttrString(mod, "WeakSet");
    Py_DECREF(mod);
    if (cls == NULL) {
        return -1;
    }
    int plain = (PyObject *)Py_TYPE(st->all_tasks) == cls;
    Py_DECREF(cls);
    return plain;
}

int
all_tasks_setup(pyasync_state *st)
{
    int plain = all_tasks_is_plain_weakset(st);
    if (plain <= 0) {
        return plain;
    }
    st->all_tasks_data = PyObject_GetAttrString(st->all_tasks, "data");
    st->all_tasks_remove = PyObject_GetAttrString(st->all_tasks, "_remove");
    st->all_tasks_iterating = PyObject_GetAttrString(st->all_tasks,
                                                     "_iterating");
    if (st->all_tasks_data == NULL || st->all_tasks_remove == NULL
        || st->all_tasks_iterating == NULL) {
        return -1;
    }
    if (!PySet_CheckExact(st->all_tasks_data)
        || !PySet_CheckExact(st->all_tasks_iterating)) {
        /* Not the WeakSet we know: keep to its methods. */
        Py_CLEAR(st->all_tasks_data);
        Py_CLEAR(st->all_tasks_remove);
        Py_CLEAR(st->all_tasks_iterating);
    }
    return 0;
}

int
all_tasks_add(pyasync_state *st, PyObject *task)
{
    if (st->all_tasks_data == NULL) {
        PyObject *res = PyObject_CallMethodOneArg(st->all_tasks, st->str_add,
                                                  task);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
        return 0;
    }
    PyObject *ref = PyWeakref_NewRef(task, st->all_tasks_remove);
    if (ref == NULL) {
        return -1;
    }
    int rc = PySet_Add(st->all_tasks_data, ref);
    Py_DECREF(ref);
    return rc;
}

void
all_tasks_forget(pyasync_state *st, PyObject *weakreflist)
{
    if (st == NULL || st->all_tasks_data == NULL || weakreflist == NULL
        || PySet_GET_SIZE(st->all_tasks_iterating) != 0) {
        return;
    }
    PyWeakReference *ref = (PyWeakReference *)weakreflist;
    while (ref != NULL && ref->wr_callback != st->all_tasks_remove) {
        ref = ref->wr_next;
    }
    if (ref == NULL) {
        return;
    }
    /* Called from dealloc, perhaps with an exception in flight.  The ref's
     * hash was cached when it entered the set, so no call into the dying
     * task; freeing the ref unlinks it from the task's list. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PySet_Discard(st->all_tasks_data, (PyObject *)ref) < 0) {
        PyErr_WriteUnraisable(st->all_tasks);
    }
    PyErr_Restore(type, value, tb);
}
