/* task.h: the Task object's layout and what other files may call.
 *
 * TaskObj extends FutureObj (future.h); its type is made with
 * st->Future_Type as base, so every future_* function applies to a task. */
#ifndef PYASYNC_TASK_H
#define PYASYNC_TASK_H

#include "core/future.h"

typedef struct {
    FutureObj fut;
    PyObject *coro;              /* the coroutine driven by the task */
    PyObject *context;           /* contextvars.Context every step runs in */
    PyObject *name;              /* str, or NULL until asked for */
    uint64_t name_number;        /* N of a default name Task-N, or 0 */
    PyObject *fut_waiter;        /* the future being awaited, or NULL */
    PyObject *wakeup;            /* cached done-callback bound to the task;
                                    cleared once the task is done */
    pyasync_task_node all_node;  /* in st->task_rings (all_tasks.c) */
    int num_cancels_requested;   /* cancel() calls minus uncancel() calls */
    char must_cancel;            /* throw CancelledError at the next step */
    char log_destroy_pending;    /* report "destroyed but it is pending" */
} TaskObj;

/* Run one step: send None into the coroutine, or throw exc (NULL: none).
 * Must run on the task's loop with no other task running.  0 or -1. */
int task_step(TaskObj *task, PyObject *exc);

/* Task.cancel(msg): 1 if the request was taken, 0 if the task is done,
 * -1 on error.  msg may be NULL or None. */
int task_cancel(TaskObj *task, PyObject *msg);

/* The task's wake-up callable (borrowed; NULL on error): called with the
 * awaited future once it is done, it resumes the task. */
PyObject *task_get_wakeup(TaskObj *task);

/* Task(coro, loop=loop, name=name, context=context) for the exact
 * pyasync Task type, without building keyword arguments (what
 * loop.create_task() does).  None for name/context as in Python. */
PyObject *task_create(pyasync_state *st, PyObject *coro, PyObject *loop,
                      PyObject *name, PyObject *context);
/* The same with eager_start (3.12+; ignored before): the first step runs
 * now when the loop is running. */
PyObject *task_create_ex(pyasync_state *st, PyObject *coro, PyObject *loop,
                         PyObject *name, PyObject *context, int eager_start);

#if PY_VERSION_HEX >= 0x030E0000
/* Task(coro, loop=loop, **kwds) as 3.14's loop.create_task() and task
 * factories make it: made directly when kwds (NULL or a dict, borrowed)
 * holds only name, context and eager_start (eager_default when absent);
 * otherwise the Task type is called, for its own errors.  New reference. */
PyObject *task_create_kw(pyasync_state *st, PyObject *coro, PyObject *loop,
                         PyObject *kwds, int eager_default);
#endif

/* For future.c's stored wake-ups (future_add_task_wakeup):
 * a ready-queue entry resuming task once fut is done; */
int task_wakeup_ready(PyObject *task, PyObject *fut);
/* a new callable equal to the task's wake-up (NULL on error); */
PyObject *task_new_wakeup(PyObject *task);
/* the context the wake-up runs in (borrowed, may be NULL). */
PyObject *task_wakeup_context(PyObject *task);

#endif /* PYASYNC_TASK_H */
