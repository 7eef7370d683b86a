/* introspect.c: _core._c_view(obj), the read-only views of introspect.h.
 *
 * Returns the view dict of a pyasync C coroutine or combinator state, or
 * None for any other object.  Used by pyasync/graph.py only. */
#include "diag/introspect.h"

int
pyasync_register_view(pyasync_state *st, PyTypeObject *tp,
                      pyasync_view_fn view)
{
    if (st->nviews == PYASYNC_MAX_VIEWS) {
        PyErr_SetString(PyExc_SystemError, "pyasync: too many views");
        return -1;
    }
    st->views[st->nviews].type = tp;
    st->views[st->nviews].view = view;
    st->nviews++;
    return 0;
}

static PyObject *
c_view(PyObject *module, PyObject *obj)
{
    pyasync_state *st = pyasync_state_from_module(module);
    for (int i = 0; i < st->nviews; i++) {
        if (Py_TYPE(obj) == st->views[i].type) {
            return st->views[i].view(obj);
        }
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
