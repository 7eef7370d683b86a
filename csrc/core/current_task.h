/* current_task.h: the slot asyncio.current_task() reads, per loop
 * (current_task.c). */
#ifndef PYASYNC_CURRENT_TASK_H
#define PYASYNC_CURRENT_TASK_H

#include "pyasync.h"

/* At module init: find asyncio's slot for this Python.  0 or -1. */
int current_task_setup(pyasync_state *st);

/* asyncio's _enter_task(loop, task): RuntimeError when another task is
 * current on loop.  0 or -1. */
int current_task_enter(pyasync_state *st, PyObject *loop, PyObject *task);

/* asyncio's _leave_task(loop, task): RuntimeError when task is not the
 * current one.  0 or -1. */
int current_task_leave(pyasync_state *st, PyObject *loop, PyObject *task);

/* asyncio's _swap_current_task(loop, task): make task (NULL: none) the
 * loop's current task; *prev gets the one before (new reference, or NULL
 * when there was none).  0 or -1. */
int current_task_swap(pyasync_state *st, PyObject *loop, PyObject *task,
                      PyObject **prev);

/* asyncio.current_task(loop): the loop's current task, or None.  New
 * reference, or NULL on error. */
PyObject *current_task_get(pyasync_state *st, PyObject *loop);

#if PY_VERSION_HEX >= 0x030E0000
/* asyncio.events._get_running_loop(): this thread's running loop, or
 * None.  New reference, or NULL on error. */
PyObject *current_running_loop(pyasync_state *st);
#endif

#endif /* PYASYNC_CURRENT_TASK_H */
