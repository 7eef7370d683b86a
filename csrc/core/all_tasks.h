/* all_tasks.h: tasks in asyncio's _all_tasks WeakSet without a weak
 * reference per task until someone looks (all_tasks.c). */
#ifndef PYASYNC_ALL_TASKS_H
#define PYASYNC_ALL_TASKS_H

#include "pyasync.h"

/* At module init, after st->all_tasks is looked up.  0 or -1. */
int all_tasks_setup(pyasync_state *st);

/* Once the module exists (before any task): replace _all_tasks.data by
 * the set that lists the ring on demand.  0 or -1. */
int all_tasks_install(PyObject *module, pyasync_state *st);

/* _all_tasks.add(task), node being the task's own ring node (zeroed when
 * not linked).  0 or -1. */
int all_tasks_add(pyasync_state *st, PyObject *task, pyasync_task_node *node);

/* From a task's tp_dealloc, after its finalizer and before its weak
 * references are cleared: drop its _all_tasks entry without running the
 * Python callback.  Never fails; keeps any exception set. */
void all_tasks_forget(pyasync_state *st, pyasync_task_node *node,
                      PyObject *weakreflist);

#endif /* PYASYNC_ALL_TASKS_H */
