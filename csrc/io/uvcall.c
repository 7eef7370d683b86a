/* uvcall.c: queueing Python callbacks from libuv callbacks (uvcall.h). */
#include "io/uvcall.h"
#include <string.h>

/* The ready entry: callable(*args). */
static int
call_star(PyObject *callable, PyObject *args)
{
    PyObject *r = PyObject_Call(callable, args, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int
uvcall_schedule(LoopObj *loop, PyObject *callable, PyObject *args)
{
    return ready_push(&loop->ready, call_star, callable, args, NULL);
}

int
uvcall_schedule_in(LoopObj *loop, PyObject *callable, PyObject *args,
                   PyObject *context)
{
    return ready_push(&loop->ready, call_star, callable, args, context);
}

PyObject *
uvcall_oserror(int status)
{
    /* libuv's codes are negated errnos on Unix; OSError(errno, msg)
     * picks the subclass. */
    int err = -status;
    return PyObject_CallFunction(PyExc_OSError, "is", err, strerror(err));
}

PyObject *
uvcall_raise(int status)
{
    PyObject *exc = uvcall_oserror(status);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

void
uvcall_unraisable(PyObject *obj)
{
    PyErr_WriteUnraisable(obj);
}
