/* combinator.h: what the combinator files (gather.c, shield.c, wait.c,
 * wait_for.c, as_completed.c, threads.c) share; implemented in comb_coro.c.
 *
 * Two pieces:
 *
 * 1. CombCoro, a C coroutine (the engine is ccoro.c, shared with the
 *    primitives).  asyncio's wait(), wait_for(), to_thread() are
 *    `async def`s; here each is an object whose step function is a small
 *    state machine.  A step "awaits" by returning COMB_AWAIT with an
 *    awaitable and is called again with the result, or with NULL and the
 *    exception set.
 *
 * 2. The future operations, behind small helpers.  Today they speak the
 *    generic asyncio protocol (method calls), so they work with any loop's
 *    futures; a fast path for pyasync's own Future (future.h) is a change
 *    inside these helpers only. */
#ifndef PYASYNC_COMBINATOR_H
#define PYASYNC_COMBINATOR_H

#include "pyasync.h"
#include "core/ccoro.h"

/* ---- C coroutines (ccoro.h) ----------------------------------------- */

enum {
    COMB_ERROR = CCORO_ERROR,
    COMB_RETURN = CCORO_RETURN,
    COMB_AWAIT = CCORO_AWAIT,
};

/* A combinator's coroutine struct starts with `CombCoro base;`. */
typedef struct ccoro CombCoro;
typedef ccoro_step_fn comb_step_fn;

/* A coroutine type: its own struct (starting with CombCoro), traverse
 * (which must call comb_coro_traverse) and clear (comb_coro_clear). */
PyTypeObject *comb_coro_type_new(PyObject *module, const char *name,
                                 Py_ssize_t basicsize, traverseproc traverse,
                                 inquiry clear);
/* A new coroutine of type tp (fields zeroed, GC-tracked) with step. */
CombCoro *comb_coro_alloc(pyasync_state *st, PyTypeObject *tp,
                          comb_step_fn step);
#define comb_coro_traverse ccoro_traverse
#define comb_coro_clear ccoro_clear

/* tp_dealloc for GC heap types whose tp_clear drops every reference. */
void comb_gc_dealloc(PyObject *self);

/* ---- errors --------------------------------------------------------- */

/* Restore a fetched exception as a `finally:` clause would: when a new
 * exception is set, it wins with the saved one as its __context__. */
void comb_restore_chained(PyObject *type, PyObject *value, PyObject *tb);
/* Set `raise exc_type() from <current exception>`; returns -1. */
int comb_raise_from_current(PyObject *exc_type);

/* ---- loops and futures (the generic protocol) ----------------------- */

int comb_isfuture(pyasync_state *st, PyObject *obj);
int comb_iscoroutine(pyasync_state *st, PyObject *obj);
/* inspect.isawaitable(obj).  1/0/-1. */
int comb_isawaitable(pyasync_state *st, PyObject *obj);
PyObject *comb_get_running_loop(pyasync_state *st);
/* pyasync's get_event_loop(): the running loop, else the policy's. */
PyObject *comb_get_event_loop(pyasync_state *st);
/* futures._get_loop(fut): fut.get_loop(), else fut._loop. */
PyObject *comb_fut_get_loop(pyasync_state *st, PyObject *fut);
/* ensure_future(obj, loop=loop); loop may be NULL. */
PyObject *comb_ensure_future(pyasync_state *st, PyObject *obj,
                             PyObject *loop);
PyObject *comb_create_future(pyasync_state *st, PyObject *loop);
/* loop.call_later(delay, callback) */
PyObject *comb_call_later(pyasync_state *st, PyObject *loop, PyObject *delay,
                          PyObject *callback);

/* 1/0, or -1 with an exception. */
int comb_fut_done(pyasync_state *st, PyObject *fut);
int comb_fut_cancelled(pyasync_state *st, PyObject *fut);
/* cancel(msg=msg); msg NULL: cancel().  1/0/-1. */
int comb_fut_cancel(pyasync_state *st, PyObject *fut, PyObject *msg);
PyObject *comb_fut_result(pyasync_state *st, PyObject *fut);
PyObject *comb_fut_exception(pyasync_state *st, PyObject *fut);
int comb_fut_set_result(pyasync_state *st, PyObject *fut, PyObject *result);
int comb_fut_set_exception(pyasync_state *st, PyObject *fut, PyObject *exc);
int comb_fut_add_done_callback(pyasync_state *st, PyObject *fut,
                               PyObject *cb);
int comb_fut_remove_done_callback(pyasync_state *st, PyObject *fut,
                                  PyObject *cb);
/* fut._make_cancelled_error(), fut._cancel_message */
PyObject *comb_fut_make_cancelled_error(pyasync_state *st, PyObject *fut);
PyObject *comb_fut_cancel_message(pyasync_state *st, PyObject *fut);
/* handle.cancel(), for timer handles. */
int comb_handle_cancel(pyasync_state *st, PyObject *handle);

/* A callable cb(*args) that does `if not waiter.done():
 * waiter.set_result(None)` (asyncio's _release_waiter).  Two made for the
 * same waiter compare equal. */
PyObject *comb_release_waiter_new(PyObject *waiter);

/* ---- each file's init (called from module_exec) --------------------- */
int pyasync_comb_coro_init(PyObject *module, pyasync_state *st);
int pyasync_gather_init(PyObject *module, pyasync_state *st);
int pyasync_shield_init(PyObject *module, pyasync_state *st);
int pyasync_wait_init(PyObject *module, pyasync_state *st);
int pyasync_wait_for_init(PyObject *module, pyasync_state *st);
int pyasync_as_completed_init(PyObject *module, pyasync_state *st);
int pyasync_threads_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_COMBINATOR_H */
