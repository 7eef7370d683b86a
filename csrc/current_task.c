/* current_task.c: the slot asyncio.current_task() reads.
 *
 * A task is its loop's current task while its step runs (and during an
 * eager first step, inside Task()).  asyncio.current_task() must see
 * pyasync's tasks, so they go where asyncio keeps its own:
 *
 *   3.11-3.13  the dict asyncio.tasks._current_tasks, loop -> task (the C
 *              _asyncio module's own dict on those versions);
 *   3.14+      a slot in each thread state, which only _asyncio's
 *              _enter_task/_leave_task/_swap_current_task write: we call
 *              them (they refuse a loop that is not this thread's running
 *              loop, as asyncio's tasks would).
 *
 * The errors and their messages are asyncio's. */
#include "pyasync.h"
#include "current_task.h"

#if PY_VERSION_HEX >= 0x030E0000

int
current_task_setup(pyasync_state *st)
{
    st->asyncio_enter_task = pyasync_import_attr("_asyncio", "_enter_task");
    st->asyncio_leave_task = pyasync_import_attr("_asyncio", "_leave_task");
    st->asyncio_swap_task = pyasync_import_attr("_asyncio",
                                                "_swap_current_task");
    st->asyncio_current_task = pyasync_import_attr("_asyncio",
                                                   "current_task");
    st->asyncio_running_loop = pyasync_import_attr("_asyncio",
                                                   "_get_running_loop");
    if (st->asyncio_enter_task == NULL || st->asyncio_leave_task == NULL
        || st->asyncio_swap_task == NULL || st->asyncio_current_task == NULL
        || st->asyncio_running_loop == NULL) {
        return -1;
    }
    return 0;
}

/* fn(loop, task), its None result dropped.  0 or -1. */
static int
call_loop_task(PyObject *fn, PyObject *loop, PyObject *task)
{
    PyObject *args[2] = {loop, task};
    PyObject *res = PyObject_Vectorcall(fn, args, 2, NULL);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
current_task_enter(pyasync_state *st, PyObject *loop, PyObject *task)
{
    return call_loop_task(st->asyncio_enter_task, loop, task);
}

int
current_task_leave(pyasync_state *st, PyObject *loop, PyObject *task)
{
    return call_loop_task(st->asyncio_leave_task, loop, task);
}

int
current_task_swap(pyasync_state *st, PyObject *loop, PyObject *task,
                  PyObject **prev)
{
    PyObject *args[2] = {loop, task != NULL ? task : Py_None};
    PyObject *old = PyObject_Vectorcall(st->asyncio_swap_task, args, 2, NULL);
    if (old == NULL) {
        return -1;
    }
    if (old == Py_None) {
        Py_DECREF(old);
        old = NULL;
    }
    *prev = old;
    return 0;
}

PyObject *
current_task_get(pyasync_state *st, PyObject *loop)
{
    return PyObject_CallOneArg(st->asyncio_current_task, loop);
}

PyObject *
current_running_loop(pyasync_state *st)
{
    return PyObject_CallNoArgs(st->asyncio_running_loop);
}

#else  /* 3.11-3.13: asyncio.tasks._current_tasks */

PyObject *
current_task_get(pyasync_state *st, PyObject *loop)
{
    PyObject *task = PyDict_GetItemWithError(st->current_tasks, loop);
    if (task == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return Py_NewRef(task);
}

int
current_task_setup(pyasync_state *st)
{
    st->current_tasks = pyasync_import_attr("asyncio.tasks", "_current_tasks");
    return st->current_tasks == NULL ? -1 : 0;
}

int
current_task_enter(pyasync_state *st, PyObject *loop, PyObject *task)
{
    PyObject *current = PyDict_SetDefault(st->current_tasks, loop, task);
    if (current == NULL) {
        return -1;
    }
    if (current != task) {
        PyErr_Format(PyExc_RuntimeError,
                     "Cannot enter into task %R while another task %R "
                     "is being executed.", task, current);
        return -1;
    }
    return 0;
}

static void
leave_task_mismatch(PyObject *task, PyObject *current)
{
    PyErr_Format(PyExc_RuntimeError,
                 "Leaving task %R does not match the current task %R.",
                 task, current == NULL ? Py_None : current);
}

int
current_task_leave(pyasync_state *st, PyObject *loop, PyObject *task)
{
#if PY_VERSION_HEX >= 0x030D0000
    /* One lookup on the hot path (PyDict_Pop is public from 3.13): pop,
     * and put back what was not ours. */
    PyObject *current;
    if (PyDict_Pop(st->current_tasks, loop, &current) < 0) {
        return -1;
    }
    if (current == task) {
        Py_DECREF(current);
        return 0;
    }
    if (current == NULL
        || PyDict_SetItem(st->current_tasks, loop, current) == 0) {
        leave_task_mismatch(task, current);
    }
    Py_XDECREF(current);
    return -1;
#else
    PyObject *current = PyDict_GetItemWithError(st->current_tasks, loop);
    if (current == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (current != task) {
        leave_task_mismatch(task, current);
        return -1;
    }
    return PyDict_DelItem(st->current_tasks, loop);
#endif
}

int
current_task_swap(pyasync_state *st, PyObject *loop, PyObject *task,
                  PyObject **prev)
{
    PyObject *old = PyDict_GetItemWithError(st->current_tasks, loop);
    if (old == NULL && PyErr_Occurred()) {
        return -1;
    }
    Py_XINCREF(old);
    int rc = 0;
    if (task != NULL) {
        rc = PyDict_SetItem(st->current_tasks, loop, task);
    }
    else if (old != NULL) {
        rc = PyDict_DelItem(st->current_tasks, loop);
    }
    if (rc < 0) {
        Py_XDECREF(old);
        return -1;
    }
    *prev = old;
    return 0;
}

#endif
