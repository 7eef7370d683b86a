/* introspect.h: read-only views of C objects for pyasync/graph.py.
 *
 * The call graph (capture_call_graph, format_tasks) needs to see inside
 * the C coroutines and combinator states: what a sleep waits for and
 * until when, which primitive a Lock.acquire() is blocked on, which
 * futures a wait() or a shield() follows.  Each file that owns such a
 * struct registers a view of its type at module init (sleep, the
 * primitives' waits in sync/waiter.c, wait, wait_for, as_completed,
 * shield, gather); introspect.c exposes them as _core._c_view(obj).
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

/* A view: a new dict of what obj (of the registered type) holds. */
typedef PyObject *(*pyasync_view_fn)(PyObject *obj);

/* Called by the file that owns tp, from its init: _c_view() of an object
 * of exactly type tp returns view(obj).  0, or -1 with an exception. */
int pyasync_register_view(pyasync_state *st, PyTypeObject *tp,
                          pyasync_view_fn view);

int pyasync_introspect_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_INTROSPECT_H */
