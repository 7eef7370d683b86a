/* awaited_by.h: who awaits a future, for 3.14's call graph
 * (awaited_by.c).  Nothing of it exists before 3.14. */
#ifndef PYASYNC_AWAITED_BY_H
#define PYASYNC_AWAITED_BY_H

#include "pyasync.h"

#if PY_VERSION_HEX >= 0x030E0000
/* At module init, before the Future type is made.  0 or -1. */
int awaited_by_setup(pyasync_state *st);

/* asyncio.future_add_to_awaited_by(fut, waiter) /
 * future_discard_from_awaited_by(fut, waiter): record or forget that
 * waiter awaits fut.  A pyasync future keeps the record itself; any other
 * goes to asyncio's functions (which ignore non-native futures).  0 or -1. */
int awaited_by_add(pyasync_state *st, PyObject *fut, PyObject *waiter);
int awaited_by_discard(pyasync_state *st, PyObject *fut, PyObject *waiter);

/* Future._asyncio_awaited_by: a frozenset of the waiters, or None. */
PyObject *awaited_by_get(PyObject *fut, void *closure);
#endif

#endif /* PYASYNC_AWAITED_BY_H */
