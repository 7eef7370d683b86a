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
    return st->diag_loops > 0 && st->diag_hooks != NULL;
}

/* lock was acquired by the current task / released.  Never fail: a
 * broken hook is reported as unraisable, the primitive goes on. */
void pyasync_diag_acquired(pyasync_state *st, PyObject *lock);
void pyasync_diag_released(pyasync_state *st, PyObject *lock);
/* The current task is about to wait for lock (a primitive whose loop is
 * bound through *loop_slot): -1 with DeadlockError set when the wait can
 * never end.  The loop is bound first, so a wrong loop's error wins. */
int pyasync_diag_before_wait(pyasync_state *st, PyObject *lock,
                             PyObject **loop_slot);
/* Its wait ended (woken, cancelled or failed). */
void pyasync_diag_wait_ended(pyasync_state *st, PyObject *lock);
/* task finished (result, exception or cancelled). */
void pyasync_diag_task_done(pyasync_state *st, PyObject *task);
/* The loop has nothing ready and nothing that could make anything ready:
 * the hooks may fail the waits that can never end.  0 or -1. */
int pyasync_diag_loop_idle(pyasync_state *st, PyObject *loop);

#endif /* PYASYNC_LOCK_DIAG_H */
