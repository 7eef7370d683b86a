/* future.h: the Future object's layout and the internals task.c builds on.
 *
 * pyasync.Future is asyncio.Future in C.  Task (task.c) extends this struct,
 * so the fields below are shared by both.  The first done-callback is kept
 * inline (callback0/context0) because most futures only ever get one.
 *
 * The type is a subclass of asyncio's own C Future (_asyncio.Future), so
 * that `isinstance(f, asyncio.Future)` holds for libraries that test it
 * (anyio, tornado): the base's fields come first and stay zeroed, which
 * the base's own methods read as "not initialized" (docs/is_future.md).
 * The instance dict and weak references are the base's slots. */
#ifndef PYASYNC_FUTURE_H
#define PYASYNC_FUTURE_H

#include "pyasync.h"

typedef enum {
    FUTURE_PENDING = 0,
    FUTURE_CANCELLED,
    FUTURE_FINISHED,
} future_state;

/* Room for _asyncio.Future's fields (its tp_basicsize past the object
 * head), checked at import: 3.13 moved the dict and weak references in
 * front of the object; 3.14 added fut_awaited_by and two flags. */
#if PY_VERSION_HEX >= 0x030E0000
#  define PYASYNC_ASYNCIO_FUTURE_WORDS 12
#elif PY_VERSION_HEX >= 0x030D0000
#  define PYASYNC_ASYNCIO_FUTURE_WORDS 11
#else
#  define PYASYNC_ASYNCIO_FUTURE_WORDS 14
#endif

typedef struct {
    PyObject_HEAD
    void *asyncio_base[PYASYNC_ASYNCIO_FUTURE_WORDS];  /* never touched */
    PyObject *loop;              /* owned; any asyncio-compatible loop */
    PyObject *callback0;         /* first done-callback, or NULL */
    PyObject *context0;          /* its context, owned when callback0 is set */
    PyObject *callbacks;         /* list of (callback, context) tuples, or NULL */
    PyObject *result;            /* owned, when FINISHED without exception */
    PyObject *exception;         /* owned, when FINISHED with an exception */
    PyObject *exception_tb;      /* its __traceback__, kept for re-raising */
    PyObject *source_traceback;  /* extract_stack() in debug mode, or NULL */
    PyObject *cancel_message;    /* cancel(msg=...) or NULL */
    PyObject *cancelled_exc;     /* the CancelledError once made, or NULL */
    future_state state;
    char log_traceback;          /* exception set and not yet retrieved */
    char blocking;               /* _asyncio_future_blocking */
    char loop_is_pyasync;        /* loop is a pyasync loop: use the C queue */
    pyasync_state *st;           /* borrowed: the module outlives its types' objects */
#if PY_VERSION_HEX >= 0x030E0000
    PyObject *awaited_by;        /* who awaits it (awaited_by.c): NULL, one
                                    waiter, or a set when awaited_by_is_set */
    char awaited_by_is_set;
#endif
} FutureObj;

/* Initialise a freshly allocated future for loop (None: the current event
 * loop, as asyncio.Future(loop=None) does).  0 or -1. */
int future_init_fields(FutureObj *fut, PyObject *loop);

/* Future(loop=loop) of exactly pyasync's Future type, without building
 * keyword arguments (what loop.create_future() does).  New reference. */
PyObject *future_create(pyasync_state *st, PyObject *loop);

/* The state transitions, with asyncio's errors (InvalidStateError when
 * already done).  Each schedules the done-callbacks.  0 or -1. */
int future_set_result(FutureObj *fut, PyObject *result);
int future_set_exception(FutureObj *fut, PyObject *exc);
/* cancel(msg): returns 1 if cancelled, 0 if already done, -1 on error. */
int future_cancel(FutureObj *fut, PyObject *msg);

/* The future's outcome as a new reference, raising its exception or
 * CancelledError like result() does.  Clears log_traceback. */
PyObject *future_get_result(FutureObj *fut);

/* Add a done-callback run with context (NULL: copy the current context).
 * When the future is done it is scheduled at once.  0 or -1. */
int future_add_done_callback(FutureObj *fut, PyObject *callback,
                             PyObject *context);

/* Add a wake-up of task (a pyasync Task) as a done-callback: what
 * add_done_callback(task's wake-up, context=task's context) does, without
 * a callable object; on a pyasync loop it runs as a C ready entry.  The
 * `_callbacks` view and remove_done_callback see the usual callable. */
int future_add_task_wakeup(FutureObj *fut, PyObject *task);

/* The CancelledError that result() would raise: carries cancel_message. */
PyObject *future_make_cancelled_error(FutureObj *fut);

/* The head of the object's weak reference list (borrowed), or NULL: the
 * base type's slot, wherever the running Python keeps it. */
static inline PyObject *
future_weakrefs(PyObject *self)
{
    return *(PyObject **)((char *)self + Py_TYPE(self)->tp_weaklistoffset);
}

/* tp_traverse / tp_clear / finalize helpers shared with Task.  traverse
 * visits Py_TYPE(self) and the base's part too (its dict, and its fields
 * should someone have run _asyncio.Future.__init__ on the object); clear
 * clears both parts. */
int future_traverse_fields(FutureObj *fut, visitproc visit, void *arg);
void future_clear_fields(FutureObj *fut);
/* Report "exception was never retrieved" through the loop's exception
 * handler; called from tp_finalize of Future and Task. */
void future_finalize(FutureObj *fut);

/* RuntimeError "Future object is not initialized." unless __init__ ran
 * (loop != NULL).  0 or -1. */
int future_ensure_alive(FutureObj *fut);

/* A new FutureIter over fut (what __await__/__iter__ return). */
PyObject *future_new_iter(PyObject *fut);

/* Notes for subclasses (Task):
 * - future_traverse_fields already visits Py_TYPE(self).
 * - Future's tp_new sets fut->st; a subclass with its own tp_new should
 *   call future_init_fields, which sets it too.
 * - Future's tp_dealloc runs the finalizer, untracks, clears weakrefs and
 *   the fields, frees, and drops the type reference. */

/* Task's type is made with Future_Type as its base, so it inherits the
 * Python-visible methods; task.c only adds and overrides. */

#endif /* PYASYNC_FUTURE_H */
