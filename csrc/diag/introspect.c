/* introspect.c: _core._c_view(obj), the read-only views of introspect.h.
 *
 * Returns the view dict of a pyasync C coroutine or combinator state, or
 * None for any other object.  Used by pyasync/graph.py only. */
#include "diag/introspect.h"

static PyObject *
c_view(PyObject *module, PyObject *obj)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == st->Sleep_Type) {
        return pyasync_sleep_view(obj);
    }
    if (tp == (PyTypeObject *)st->SyncCoro_Type) {
        return pyasync_sync_coro_view(obj);
    }
    if (tp == st->Wait_Type) {
        return pyasync_wait_view(obj);
    }
    if (tp == st->WaitFor_Type) {
        return pyasync_wait_for_view(obj);
    }
    if (tp == st->CancelAndWait_Type) {
        return pyasync_cancel_and_wait_view(obj);
    }
    if (tp == st->AsCompleted_Type) {
        return pyasync_as_completed_view(obj);
    }
    if (tp == st->WaitForOne_Type) {
        return pyasync_wait_for_one_view(obj);
    }
    if (tp == st->ShieldState_Type) {
        return pyasync_shield_state_view(obj);
    }
    if (tp == st->GatherState_Type) {
        return pyasync_gather_state_view(obj);
    }
    Py_RETURN_NONE;
}

static PyMethodDef introspect_methods[] = {
    {"_c_view", c_view, METH_O,
     "_c_view(obj)\n--\n\nA dict of what a pyasync C coroutine or combinator "
     "state holds (for pyasync.graph), or None."},
    {NULL, NULL, 0, NULL},
};

int
pyasync_introspect_init(PyObject *module, pyasync_state *st)
{
    return PyModule_AddFunctions(module, introspect_methods);
}
