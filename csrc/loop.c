/* loop.c: placeholder until its implementation lands. */
#include "pyasync.h"

int
pyasync_loop_init(PyObject *module, pyasync_state *st)
{
    (void)module;
    (void)st;
    return 0;
}

int
pyasync_is_loop(pyasync_state *st, PyObject *loop)
{
    return st->Loop_Type != NULL && PyObject_TypeCheck(loop, st->Loop_Type);
}

int
pyasync_loop_schedule(PyObject *loop, pyasync_ready_fn fn, PyObject *obj,
                      PyObject *arg, PyObject *context)
{
    (void)loop; (void)fn; (void)obj; (void)arg; (void)context;
    PyErr_SetString(PyExc_RuntimeError, "pyasync loop not built yet");
    return -1;
}

int
pyasync_call_soon(pyasync_state *st, PyObject *loop, PyObject *callback,
                  PyObject *arg, PyObject *context)
{
    (void)st;
    PyObject *meth = PyObject_GetAttrString(loop, "call_soon");
    if (meth == NULL) {
        return -1;
    }
    PyObject *kwnames = NULL;
    PyObject *args[3] = {callback, arg, context};
    if (context != NULL && (kwnames = Py_BuildValue("(s)", "context")) == NULL) {
        Py_DECREF(meth);
        return -1;
    }
    PyObject *res = PyObject_Vectorcall(meth, args, 2, kwnames);
    Py_XDECREF(kwnames);
    Py_DECREF(meth);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}
