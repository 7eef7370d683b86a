/* lock_diag.h: the primitives' hooks for deadlock diagnosis.
 *
 * In debug mode Lock (and Semaphore(1) used as one) tell
 * pyasync/_deadlock.py who holds them and who waits; it raises
 * DeadlockError where a wait can never end.  The hooks run only while a
 * debug-mode pyasync loop is running (st->diag_loops > 0): outside debug
 * mode a primitive pays one test of that counter. */
#ifndef PYASYNC_LOCK_DIAG_H
#define PYASYNC_LOCK_DIAG_H

#include "pyasync.h"

static inline int
pyasync_diag_active(pyasync_state *st)
{
    return FT_LOAD_SSIZE(st->diag_loops) > 0
           && FT_LOAD_PTR(st->diag_hooks) != NULL;
}

/* What the primitives tell the hooks (pyasync/_deadlock.py's method names
 * in lock_diag.c):
 * - ACQUIRED, RELEASED: obj (a lock) was acquired by the current task, or
 *   released;
 * - WAIT_ENDED: the current task's wait for obj ended (woken, cancelled or
 *   failed);
 * - TASK_DONE: the task obj finished (result, exception or cancelled). */
typedef enum {
    PYASYNC_DIAG_ACQUIRED,
    PYASYNC_DIAG_RELEASED,
    PYASYNC_DIAG_WAIT_ENDED,
    PYASYNC_DIAG_TASK_DONE,
} pyasync_diag_event;

/* Never fails: an error in flight is kept (a primitive may be unwinding),
 * a broken hook is reported as unraisable, the primitive goes on. */
void pyasync_diag_notify(pyasync_state *st, pyasync_diag_event event,
                         PyObject *obj);

/* The current task is about to wait for lock (its loop already bound:
 * sync_diag_before_wait): -1 with DeadlockError set when the wait can
 * never end. */
int pyasync_diag_before_wait(pyasync_state *st, PyObject *lock);
/* The loop has nothing ready and nothing that could make anything ready:
 * the hooks may fail the waits that can never end.  0 or -1. */
int pyasync_diag_loop_idle(pyasync_state *st, PyObject *loop);

#endif /* PYASYNC_LOCK_DIAG_H */
