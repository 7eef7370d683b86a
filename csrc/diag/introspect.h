/* introspect.h: read-only views of C objects for pyasync/graph.py.
 *
 * The call graph (capture_call_graph, format_tasks) needs to see inside
 * the C coroutines and combinator states: what a sleep waits for and
 * until when, which primitive a Lock.acquire() is blocked on, which
 * futures a wait() or a shield() follows.  Each file that owns such a
 * struct exports one *_view function; introspect.c dispatches on the type
 * and exposes it as _core._c_view(obj).
 *
 * A view is a new dict {'kind': str, ...fields} whose missing fields are
 * None; it is made only when asked for, so nothing here runs on a hot
 * path. */
#ifndef PYASYNC_INTROSPECT_H
#define PYASYNC_INTROSPECT_H

#include "pyasync.h"

/* A borrowed field for Py_BuildValue's "O": None when unset. */
static inline PyObject *
view_field(PyObject *obj)
{
    return obj != NULL ? obj : Py_None;
}

/* sleep.c: {'kind': 'sleep', 'delay', 'future', 'timer'} */
PyObject *pyasync_sleep_view(PyObject *coro);
/* waiter.c: {'kind': 'sync', 'qualname', 'self' (the primitive), 'fut'
 * (the waiter future), 'arg'} */
PyObject *pyasync_sync_coro_view(PyObject *coro);
/* wait.c: {'kind': 'wait', 'fs', 'waiter', 'timeout_handle'} */
PyObject *pyasync_wait_view(PyObject *coro);
/* wait_for.c: {'kind': 'wait_for', 'fut', 'waiter', 'timeout_handle'} and
 * {'kind': 'cancel_and_wait', 'fut', 'waiter'} */
PyObject *pyasync_wait_for_view(PyObject *coro);
PyObject *pyasync_cancel_and_wait_view(PyObject *coro);
/* as_completed.c: {'kind': 'as_completed', 'todo'} for the iterator and
 * for one of its _wait_for_one() coroutines (then also 'getter') */
PyObject *pyasync_as_completed_view(PyObject *obj);
PyObject *pyasync_wait_for_one_view(PyObject *coro);
/* shield.c: {'kind': 'shield', 'inner', 'outer'} */
PyObject *pyasync_shield_state_view(PyObject *obj);
/* gather.c: {'kind': 'gather', 'children', 'outer'} */
PyObject *pyasync_gather_state_view(PyObject *obj);

int pyasync_introspect_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_INTROSPECT_H */
