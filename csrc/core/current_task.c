/* current_task.c: the slot asyncio.current_task() reads.
 *
 * A task is its loop's current task while its step runs (and during an
 * eager first step, inside Task()).  asyncio.current_task() must see
 * pyasync's tasks, so they go where asyncio keeps its own:
 *
 *   3.11-3.13  the dict asyncio.tasks._current_tasks, loop -> task (the C
 *              _asyncio module's own dict on those versions);
 *   3.14+      a slot in each thread state, next to the running loop.
 *              _asyncio publishes where, for debuggers (asyncio_offsets.c);
 *              at import we check those offsets against _asyncio's own
 *              _set_running_loop/_swap_current_task, and then read and
 *              write the slot as _asyncio's _enter_task/_leave_task do
 *              (a step then costs no call).  Where the offsets cannot be
 *              read or do not check out, we call those functions.  Both
 *              refuse a loop that is not this thread's running loop, as
 *              asyncio's tasks would.
 *
 * The errors and their messages are asyncio's. */
#include "pyasync.h"
#include "core/current_task.h"
#include "core/asyncio_offsets.h"

#if PY_VERSION_HEX >= 0x030E0000

static inline PyObject **
ts_slot(Py_ssize_t offset)
{
    return (PyObject **)((char *)PyThreadState_Get() + offset);
}

/* Do the published offsets name the slots _asyncio's own functions
 * write?  Probed with two stand-ins while no loop runs (at import).
 * 1 yes, 0 no, -1 error. */
static int
offsets_check_out(pyasync_state *st, const asyncio_thread_offsets *off)
{
    if (off->running_loop % sizeof(void *) || off->running_task
        % sizeof(void *) || off->running_loop + sizeof(void *)
        > off->thread_state_size || off->running_task + sizeof(void *)
        > off->thread_state_size || off->running_loop == off->running_task) {
        return 0;
    }
    PyObject **loop_slot = ts_slot((Py_ssize_t)off->running_loop);
    PyObject **task_slot = ts_slot((Py_ssize_t)off->running_task);
    PyObject *set_loop = pyasync_import_attr("_asyncio", "_set_running_loop");
    PyObject *loop = PyDict_New(), *task = PyDict_New();
    int ok = -1;
    if (set_loop == NULL || loop == NULL || task == NULL) {
        goto done;
    }
    if (*loop_slot != NULL || *task_slot != NULL) {
        ok = 0;                     /* a loop runs: no probing under it */
        goto done;
    }
    if (pyasync_call_for_effect(set_loop, loop, NULL) < 0) {
        goto done;
    }
    ok = *loop_slot == loop;
    if (pyasync_call_for_effect(st->asyncio_swap_task, loop, task) == 0) {
        ok = ok && *task_slot == task;
        if (pyasync_call_for_effect(st->asyncio_swap_task, loop,
                                    Py_None) == 0) {
            ok = ok && *task_slot == NULL;
        }
        else {
            ok = -1;
        }
    }
    else {
        ok = -1;
    }
    if (pyasync_call_for_effect(set_loop, Py_None, NULL) < 0) {
        ok = -1;
    }
    if (ok == 1 && *loop_slot != NULL) {
        ok = 0;
    }
done:
    Py_XDECREF(set_loop);
    Py_XDECREF(loop);
    Py_XDECREF(task);
    return ok;
}

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
    st->ts_running_loop_off = st->ts_running_task_off = -1;
    asyncio_thread_offsets off;
    if (asyncio_offsets_read(st->asyncio_enter_task, &off)) {
        int ok = offsets_check_out(st, &off);
        if (ok < 0) {
            return -1;
        }
        if (ok) {
            st->ts_running_loop_off = (Py_ssize_t)off.running_loop;
            st->ts_running_task_off = (Py_ssize_t)off.running_task;
        }
    }
    return 0;
}

/* Whether the running-task slot is read and written directly. */
static inline int
direct(pyasync_state *st)
{
    return st->ts_running_task_off >= 0;
}

/* loop is this thread's running loop, or RuntimeError as asyncio says. */
static inline int
check_running(pyasync_state *st, PyObject *loop)
{
    if (*ts_slot(st->ts_running_loop_off) != loop) {
        PyErr_Format(PyExc_RuntimeError, "loop %R is not the running loop",
                     loop);
        return -1;
    }
    return 0;
}

int
current_task_enter(pyasync_state *st, PyObject *loop, PyObject *task)
{
    if (!direct(st)) {
        return pyasync_call_for_effect(st->asyncio_enter_task, loop, task);
    }
    if (check_running(st, loop) < 0) {
        return -1;
    }
    PyObject **slot = ts_slot(st->ts_running_task_off);
    if (*slot != NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "Cannot enter into task %R while another task %R "
                     "is being executed.", task, *slot);
        return -1;
    }
    *slot = Py_NewRef(task);
    return 0;
}

int
current_task_leave(pyasync_state *st, PyObject *loop, PyObject *task)
{
    if (!direct(st)) {
        return pyasync_call_for_effect(st->asyncio_leave_task, loop, task);
    }
    if (check_running(st, loop) < 0) {
        return -1;
    }
    PyObject **slot = ts_slot(st->ts_running_task_off);
    if (*slot != task) {
        PyErr_Format(PyExc_RuntimeError,
                     "Invalid attempt to leave task %R while task %R "
                     "is entered.", task, *slot != NULL ? *slot : Py_None);
        return -1;
    }
    Py_CLEAR(*slot);
    return 0;
}

int
current_task_swap(pyasync_state *st, PyObject *loop, PyObject *task,
                  PyObject **prev)
{
    if (direct(st)) {
        if (check_running(st, loop) < 0) {
            return -1;
        }
        PyObject **slot = ts_slot(st->ts_running_task_off);
        *prev = *slot;              /* the slot's reference moves out */
        *slot = Py_XNewRef(task);
        return 0;
    }
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
