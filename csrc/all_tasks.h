/* all_tasks.h: tasks in asyncio's _all_tasks WeakSet without Python code
 * (all_tasks.c). */
#ifndef PYASYNC_ALL_TASKS_H
#define PYASYNC_ALL_TASKS_H

#include "pyasync.h"

/* At module init, after st->all_tasks is looked up.  0 or -1. */
int all_tasks_setup(pyasync_state *st);

/* _all_tasks.add(task).  0 or -1. */
int all_tasks_add(pyasync_state *st, PyObject *task);

/* From a task's tp_dealloc, before its weak references are cleared:
 * drop its _all_tasks entry without running the Python callback.
 * Never fails; keeps any exception set. */
void all_tasks_forget(pyasync_state *st, PyObject *weakreflist);

#endif /* PYASYNC_ALL_TASKS_H */
