/* handle.h: Handle and TimerHandle, asyncio.Handle's API in C.
 *
 * A Handle is what call_soon() returns; on a pyasync loop it sits in the
 * ready queue as the entry handle_run(handle, NULL).  TimerHandle adds the
 * deadline and sits in the loop's timer heap until it is due. */
#ifndef PYASYNC_HANDLE_H
#define PYASYNC_HANDLE_H

#include "pyasync.h"
#include "core/context_share.h"

typedef struct HandleObj {
    PyObject_HEAD
    PyObject *callback;          /* NULL once cancelled */
    PyObject *args;              /* tuple; NULL once cancelled */
    PyObject *loop;
    PyObject *context;
    /* What context belongs to while it is shared with other handles
     * (context_share.h); NULL when context is the handle's own. */
    SharedContext *shared;
    PyObject *source_traceback;  /* list in debug mode, else NULL */
    PyObject *repr;              /* kept by cancel() in debug mode */
    PyObject *weakreflist;
    char cancelled;
    char own_context;            /* context is the copy handle_fill made */
    char running_shared;         /* its callback runs in the shared context */
    pyasync_state *st;
} HandleObj;

typedef struct {
    HandleObj base;
    PyObject *when;              /* exactly what call_at() was given */
    char scheduled;              /* in a loop's timer heap */
} TimerHandleObj;

/* New Handle (tp: Handle_Type) for callback(*args) on loop.  context NULL
 * or None: a copy of the current context.  In debug mode the handle
 * records the Python stack it was created from. */
PyObject *handle_new(pyasync_state *st, PyObject *callback, PyObject *args,
                     PyObject *loop, PyObject *context);
PyObject *timer_handle_new(pyasync_state *st, PyObject *when,
                           PyObject *callback, PyObject *args,
                           PyObject *loop, PyObject *context);

/* A handle for a loop's ready queue or timer heap: as handle_new() and
 * timer_handle_new(), but neither the handle nor the context it copies is
 * tracked by the GC (see "Queued handles and the GC" in handle.c).  debug
 * is the loop's debug flag.  Only handle_unqueue() may drop the queue's
 * reference. */
PyObject *handle_new_queued(pyasync_state *st, PyObject *callback,
                            PyObject *args, PyObject *loop, PyObject *context,
                            int debug);
PyObject *timer_handle_new_queued(pyasync_state *st, PyObject *when,
                                  PyObject *callback, PyObject *args,
                                  PyObject *loop, PyObject *context,
                                  int debug);

/* The queue's part of the owner's tp_traverse for a queued handle. */
int handle_traverse_queued(PyObject *handle, visitproc visit, void *arg);

/* Track a queued handle that someone besides its queue holds, so that the
 * next collection sees the cycles through it.  Called for the queues of
 * every live loop before a full collection (pyasync/loop.py). */
void handle_track_if_shared(PyObject *handle);

/* Drop the queue's reference to a handle (stolen): a handle that outlives
 * its queue is tracked by the GC again. */
void handle_unqueue(PyObject *handle);

/* The ready-queue function of a handle: runs it in its context unless it
 * was cancelled, reports a failure to the loop's exception handler.
 * -1 only for KeyboardInterrupt/SystemExit. */
int handle_run(PyObject *handle, PyObject *unused);

/* Report the current exception, raised by callback(*args), through
 * loop.call_exception_handler() as asyncio's Handle._run does.  handle
 * may be NULL: one is made for the report.  Returns 0 with the exception
 * cleared, or -1 leaving KeyboardInterrupt/SystemExit set. */
int handle_report_exception(pyasync_state *st, PyObject *loop,
                            PyObject *handle, PyObject *callback,
                            PyObject *args);

static inline int
handle_is_cancelled(PyObject *h)
{
    return FT_LOAD_CHAR(((HandleObj *)h)->cancelled);
}

#endif /* PYASYNC_HANDLE_H */
