/* context_share.h: one context copy for many queued callbacks.
 *
 * asyncio gives every call_soon()/call_later() callback its own copy of
 * the current context (contextvars.copy_context()), so that what one
 * callback sets is its own.  Copying is an object allocated, tracked by
 * the GC and freed per callback, yet most callbacks set nothing, and
 * handles come in bursts made in the same context.  So when a loop makes
 * a second handle in the variables of the one before, it makes one copy,
 * S, for it and the handles that follow in the same variables V: a
 * SharedContext holds S and V, and each of those handles holds it.
 * asyncio's promise is kept at run time instead:
 *
 *  - a handle runs in S only while S is still shared, still holds V and
 *    is not entered; otherwise it first gets a copy of its own, holding V;
 *  - a callback that sets a variable in S gets S for its own, with its
 *    changes (and the tokens it made bound to it), as asyncio's copy
 *    would be: the other handles then make copies of their own of V;
 *  - get_context() gives a handle a copy of its own first, except from
 *    the handle's own running callback: that gets S, which becomes the
 *    handle's own the same way.
 *
 * So what a callback sees, and what its handle's get_context() returns,
 * is what asyncio would give; what differs is that copies nobody needed
 * are not made.  Reading a context's variables, and giving a new context
 * V, takes CPython's private PyContext layout, the same from 3.10 to
 * 3.14; ctxshare_init() checks it at import, and where it does not hold
 * every handle copies the context, as asyncio's. */
#ifndef PYASYNC_CONTEXT_SHARE_H
#define PYASYNC_CONTEXT_SHARE_H

#include "pyasync.h"

/* A context copy shared by handles (an object: handles and the loop hold
 * references to it, and the GC sees them). */
typedef struct {
    PyObject_HEAD
    PyObject *ctx;    /* S; NULL once given to one handle as its own */
    PyObject *vars;   /* V, the variables S was made with */
} SharedContext;

/* What a loop remembers of the last handle it made: the variables it was
 * made in, and the SharedContext for the next handles made in them (NULL
 * until a second one comes).  Owned references; cleared every iteration,
 * so that they keep nothing alive longer than the handles do. */
typedef struct {
    PyObject *vars;
    SharedContext *shared;
} ctxshare_cache;

/* Check the PyContext layout, enable sharing and make the SharedContext
 * type.  -1 only on a Python error; a layout that does not match leaves
 * sharing off. */
int ctxshare_init(PyObject *module, pyasync_state *st);

/* For tests (_core._context_sharing): turn sharing on or off; returns the
 * previous setting. */
PyObject *ctxshare_set_enabled(PyObject *module, PyObject *arg);

/* The context for a new queued handle: a copy of the current context.
 * Sets *ctx (new reference) and *shared: a new reference to the
 * SharedContext *ctx belongs to, or NULL when *ctx is the handle's own
 * copy.  0, or -1 with an exception set. */
int ctxshare_copy_current(pyasync_state *st, ctxshare_cache *cache,
                          PyObject **ctx, SharedContext **shared);

/* True when a handle holding ctx from shared may run in it. */
int ctxshare_usable(SharedContext *shared, PyObject *ctx);

/* True when a callback run in shared's context changed its variables. */
int ctxshare_changed(SharedContext *shared, PyObject *ctx);

/* shared's context becomes one handle's own: no handle runs in it again
 * as shared. */
void ctxshare_give(SharedContext *shared);

/* A new context holding shared's variables V: a handle's own copy. */
PyObject *ctxshare_own_copy(SharedContext *shared);

void ctxshare_cache_clear(ctxshare_cache *cache);
int ctxshare_cache_traverse(ctxshare_cache *cache, visitproc visit,
                            void *arg);

#endif /* PYASYNC_CONTEXT_SHARE_H */
