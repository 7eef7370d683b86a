/* ccoro.h: the C coroutine object that both the primitives (waiter.c:
 * Lock.acquire(), Queue.get(), ...) and the combinators (comb_coro.c:
 * wait(), wait_for(), ...) return.
 *
 * An `async def` written in C: a step function runs as a small state
 * machine and "awaits" by returning CCORO_AWAIT with an awaitable; the
 * engine delegates to it like `yield from` (send, throw, close) and calls
 * the step again with the result, or with NULL and the exception set.
 * CCORO_YIELD yields a value itself, as a bare `yield` would.  An
 * exact pyasync Future or Task is driven in place, without a FutureIter.
 * Each type is registered as a collections.abc.Coroutine, so
 * asyncio.iscoroutine() and create_task() accept its objects. */
#ifndef PYASYNC_CCORO_H
#define PYASYNC_CCORO_H

#include "pyasync.h"
#include "core/future.h"

enum {
    CCORO_ERROR = -1,   /* raise the current exception */
    CCORO_RETURN = 0,   /* *out is the return value */
    CCORO_AWAIT = 1,    /* *out is an awaitable to await */
    CCORO_YIELD = 2,    /* *out is a value to yield bare, as `yield x`
                           does: the next step gets the value sent in, or
                           NULL with the exception thrown in */
};

/* What a suspended coroutine's `awaiting` is. */
enum {
    CCORO_AWAITING_ITER = 0,    /* an iterator it delegates to */
    CCORO_AWAITING_FUTURE = 1,  /* an exact pyasync future, driven in place */
    CCORO_AWAITING_BARE = 2,    /* None: suspended at a bare yield */
};

typedef struct ccoro ccoro;

/* value: the awaited result (borrowed), or NULL with the exception set
 * (thrown in, or raised by what was awaited).  On the first call
 * co->state is 0 and value is None.  Returns CCORO_* with *out a new
 * reference for CCORO_RETURN and CCORO_AWAIT. */
typedef int (*ccoro_step_fn)(ccoro *co, PyObject *value, PyObject **out);

/* Free-threaded: which thread is inside send(), throw() or close() (see
 * coro_claim() in ccoro.c). */
#ifdef Py_GIL_DISABLED
#define CCORO_CLAIM_FIELD uint8_t claimed;
#else
#define CCORO_CLAIM_FIELD
#endif

/* The fields every C coroutine starts with (a struct may add its own). */
#define CCORO_HEAD \
    PyObject_HEAD \
    pyasync_state *st;       /* borrowed: the module outlives its objects */ \
    ccoro_step_fn step; \
    const char *qualname;    /* __qualname__; NULL: the type's name */ \
    PyObject *awaiting;      /* what it delegates to, or NULL */ \
    PyObject *weakreflist; \
    int state;               /* the step function's own; 0 at the start */ \
    char started; \
    char running; \
    char finished; \
    char awaiting_kind;      /* CCORO_AWAITING_* */ \
    CCORO_CLAIM_FIELD

struct ccoro {
    CCORO_HEAD
};

/* obj as an initialised pyasync Future or Task of exactly those types,
 * whose C internals may be used instead of its methods; NULL otherwise. */
static inline FutureObj *
ccoro_exact_future(pyasync_state *st, PyObject *obj)
{
    if ((Py_IS_TYPE(obj, st->Future_Type) || Py_IS_TYPE(obj, st->Task_Type))
        && ((FutureObj *)obj)->loop != NULL) {
        return (FutureObj *)obj;
    }
    return NULL;
}

/* A coroutine type with basicsize (a struct starting with CCORO_HEAD),
 * traverse (which must call ccoro_traverse) and clear (ccoro_clear).
 * dealloc NULL: ccoro_dealloc; repr NULL: object's.  Registered as a
 * collections.abc.Coroutine.  New reference. */
PyTypeObject *ccoro_type_new(PyObject *module, const char *name,
                             Py_ssize_t basicsize, traverseproc traverse,
                             inquiry clear, destructor dealloc,
                             reprfunc repr);

/* Set the head of a freshly allocated coroutine (other fields untouched). */
static inline void
ccoro_init(ccoro *co, pyasync_state *st, ccoro_step_fn step,
           const char *qualname)
{
    co->st = st;
    co->step = step;
    co->qualname = qualname;
    co->awaiting = NULL;
    co->weakreflist = NULL;
    co->state = 0;
    co->started = 0;
    co->running = 0;
    co->finished = 0;
    co->awaiting_kind = CCORO_AWAITING_ITER;
#ifdef Py_GIL_DISABLED
    co->claimed = 0;
#endif
}

int ccoro_traverse(ccoro *co, visitproc visit, void *arg);

static inline void
ccoro_clear(ccoro *co)
{
    /* Cleared by the GC: its fields are gone, it must never step again. */
    co->finished = 1;
    Py_CLEAR(co->awaiting);
}

/* The first half of a tp_dealloc: finalize (an unfinished coroutine
 * closes, or warns it was never awaited), untrack, clear weak references.
 * -1: resurrected by the finalizer, stop. */
static inline int
ccoro_dealloc_begin(PyObject *self)
{
    ccoro *co = (ccoro *)self;
    /* A finished coroutine has nothing to finalize. */
    if (!co->finished && PyObject_CallFinalizerFromDealloc(self) < 0) {
        return -1;   /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (co->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    return 0;
}

/* begin, tp_clear, tp_free, drop the type. */
void ccoro_dealloc(PyObject *self);

#endif /* PYASYNC_CCORO_H */
