/* context_share.h: one context copy for many queued callbacks.
 *
 * asyncio gives every call_soon()/call_later() callback its own copy of
 * the current context (contextvars.copy_context()), so that what one
 * callback sets is its own.  Copying is an object allocated, tracked by
 * the GC and freed per callback, yet most callbacks set nothing, and
 * handles come in bursts made in the same context.  So a loop hands one
 * copy, S, to the handles it makes back to back in the same variables,
 * and keeps asyncio's promise when they run instead:
 *
 *  - each handle keeps the variables V (CPython's immutable mapping) that
 *    S had when the handle was made;
 *  - it runs in S only when S still holds V and is not entered; otherwise
 *    it first gets a copy of its own, holding V;
 *  - a run that set a variable in S puts V back into S afterwards; the
 *    handle keeps a copy with its changes if anyone else holds it;
 *  - get_context() gives the handle a copy of its own first (or, called
 *    by its own running callback, S itself, which is then S no longer
 *    shared: the other handles find it changed, or run in it unchanged).
 *
 * What a callback sees is what asyncio gives it; what differs is that
 * contexts nobody asked for are not made.  Reading and swapping a
 * context's variables takes CPython's private PyContext layout, the same
 * from 3.10 to 3.14; ctxshare_probe() checks it at import, and where it
 * does not hold every handle copies the context, as asyncio's. */
#ifndef PYASYNC_CONTEXT_SHARE_H
#define PYASYNC_CONTEXT_SHARE_H

#include "pyasync.h"

/* A loop's current shared copy (both owned, both NULL when none). */
typedef struct {
    PyObject *ctx;    /* S */
    PyObject *vars;   /* the variables S was made with */
} ctxshare_cache;

/* Check the PyContext layout and enable sharing.  -1 only on a Python
 * error; a layout that does not match leaves sharing off. */
int ctxshare_probe(void);

/* Sharing on (1) or off (0), as probed or set by _core._context_sharing. */
int ctxshare_enabled(void);
PyObject *ctxshare_set_enabled(PyObject *module, PyObject *arg);

/* The context for a new queued handle: a copy of the current context,
 * S when the cache's copy has the current variables.  Sets *ctx (new
 * reference) and *vars: a new reference to the variables the handle must
 * run with when *ctx is shared, NULL when *ctx is the handle's own copy.
 * 0, or -1 with an exception set. */
int ctxshare_copy_current(ctxshare_cache *cache, PyObject **ctx,
                          PyObject **vars);

/* True when a handle sharing ctx with variables vars may run in ctx. */
int ctxshare_usable(PyObject *ctx, PyObject *vars);

/* A new context holding vars (a copy of its own for a handle). */
PyObject *ctxshare_own_copy(PyObject *vars);

/* After a run in the shared ctx: if the callback set variables, *changed
 * gets (when want_changed) a new copy holding them, else NULL; ctx gets
 * vars back.  0, or -1 with an exception set. */
int ctxshare_after_run(PyObject *ctx, PyObject *vars, int want_changed,
                       PyObject **changed);

/* ctx is given out as a handle's own: no new handle may share it. */
void ctxshare_forget(ctxshare_cache *cache, PyObject *ctx);

void ctxshare_cache_clear(ctxshare_cache *cache);
int ctxshare_cache_traverse(ctxshare_cache *cache, visitproc visit,
                            void *arg);

#endif /* PYASYNC_CONTEXT_SHARE_H */
