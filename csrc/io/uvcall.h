/* uvcall.h: what udp.c and process.c share for handing libuv results to
 * Python.
 *
 * libuv callbacks run inside uv_run() with the GIL released.  They take
 * the GIL and queue the Python side's callback on the loop's ready queue
 * (never run protocol code from inside uv_run), so protocol callbacks keep
 * asyncio's order. */
#ifndef PYASYNC_IO_UVCALL_H
#define PYASYNC_IO_UVCALL_H

#include "core/loop.h"

/* Queue callable(*args) on the loop; steals nothing.  0, or -1 with an
 * exception set. */
int uvcall_schedule(LoopObj *loop, PyObject *callable, PyObject *args);

/* The same, run inside context (NULL: the loop's own). */
int uvcall_schedule_in(LoopObj *loop, PyObject *callable, PyObject *args,
                       PyObject *context);

/* The OSError (the errno subclass, e.g. ConnectionRefusedError) for a
 * negative libuv status.  A new reference, or NULL with an exception. */
PyObject *uvcall_oserror(int status);

/* Raise uvcall_oserror(status); always returns NULL. */
PyObject *uvcall_raise(int status);

/* Report an exception raised where nobody can catch it (a libuv callback
 * failing to allocate): unraisable, with the object concerned. */
void uvcall_unraisable(PyObject *obj);

#endif /* PYASYNC_IO_UVCALL_H */
