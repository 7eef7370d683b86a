/* waiter.h: what the synchronization primitives share.
 *
 * - SyncCoro: a C "coroutine" on the engine of ccoro.h.  `async def`
 *   methods such as Lock.acquire() return one; it runs a C step function
 *   as a small state machine.
 * - The future operations the primitives need (create, done, cancelled,
 *   set_result, cancel), kept in a few helpers so that a fast path for
 *   pyasync's own futures is a local change.
 * - Loop binding with asyncio.mixins._LoopBoundMixin semantics, waiter
 *   deques and reprs. */
#ifndef PYASYNC_WAITER_H
#define PYASYNC_WAITER_H

#include "pyasync.h"
#include "core/ccoro.h"
#include <structmember.h>

/* ---- version shims ----------------------------------------------------- */

/* str equality with an ASCII C string. */
static inline int
sync_str_equal(PyObject *str, const char *ascii)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyUnicode_EqualToUTF8(str, ascii);
#else
    return _PyUnicode_EqualToASCIIString(str, ascii);
#endif
}

/* ---- SyncCoro ------------------------------------------------------- */

typedef struct sync_coro sync_coro;

/* A step function advances the coroutine.  It is called with value (a
 * borrowed reference: None at the start, then the result of what the last
 * sync_await() awaited), or with value == NULL and an exception set (thrown
 * in, or raised by the awaited object).  It returns one of: */
enum {
    SYNC_ERROR = -1,   /* finished with the exception set */
    SYNC_RETURN = 0,   /* finished; c->result (or NULL: None) is returned */
    SYNC_AWAIT = 1,    /* suspended on what sync_await() stored */
};
typedef int (*sync_step_fn)(sync_coro *c, PyObject *value);

struct sync_coro {
    CCORO_HEAD               /* the engine's fields (ccoro.h); state is the
                                method's own, 0 at the start */
    sync_step_fn sync_step;
    PyObject *self;          /* the primitive the method was called on */
    PyObject *next;          /* what sync_await() asked to await, or NULL */
    PyObject *fut;           /* the waiter future, or NULL */
    PyObject *arg;           /* method argument (item, predicate), or NULL */
    PyObject *result;        /* return value once SYNC_RETURN */
    PyObject *exc;           /* an exception kept across an await */
    Py_ssize_t index;        /* per-method scratch */
    int flag;                /* per-method scratch */
};

/* A new coroutine running step on self (borrowed) with arg (borrowed, may
 * be NULL). */
PyObject *sync_coro_new(pyasync_state *st, sync_step_fn step,
                        const char *qualname, PyObject *self, PyObject *arg);

/* Await awaitable (borrowed) from a step function:
 *     return sync_await(c, fut);
 * Returns SYNC_AWAIT, or SYNC_ERROR if it is not awaitable. */
int sync_await(sync_coro *c, PyObject *awaitable);

/* Finish with value (borrowed): return sync_return(c, value); */
int sync_return(sync_coro *c, PyObject *value);

/* The current exception, normalized with its traceback, cleared (new
 * reference, NULL if none); and raising a fetched exception again
 * (stolen). */
PyObject *sync_fetch_exception(void);
void sync_restore_exception(PyObject *exc);
/* With exc (stolen) in flight, another error was raised: chain it as the
 * new error's __context__, as an except/finally block would. */
void sync_chain_exception(PyObject *exc);

/* `async def __aenter__(self): await self.acquire()` and
 * `async def __aexit__(self, *exc): self.release()`, looked up on self. */
PyObject *sync_generic_aenter(pyasync_state *st, PyObject *self);
PyObject *sync_generic_aexit(pyasync_state *st, PyObject *self);

/* ---- futures -------------------------------------------------------- */

PyObject *sync_future_new(pyasync_state *st, PyObject *loop);
int sync_future_done(pyasync_state *st, PyObject *fut);        /* 1/0/-1 */
int sync_future_cancelled(pyasync_state *st, PyObject *fut);   /* 1/0/-1 */
int sync_future_set_result(pyasync_state *st, PyObject *fut, PyObject *v);
int sync_future_cancel(pyasync_state *st, PyObject *fut);      /* 0/-1 */

/* event.clear(), directly for an exact Event (event.c).  0 or -1. */
int sync_event_clear(pyasync_state *st, PyObject *event);

/* ---- loop binding, waiters, reprs ------------------------------------ */

/* asyncio.mixins._LoopBoundMixin._get_loop: bind *slot to the running
 * loop on first use.  Returns a new reference to the loop. */
PyObject *sync_get_loop(pyasync_state *st, PyObject *self, PyObject **slot);
/* Debug mode: the current task is about to wait for the primitive self;
 * its loop is bound first (a wrong loop's error wins), then the deadlock
 * hooks are asked (diag/lock_diag.h).  -1 with the error set. */
int sync_diag_before_wait(pyasync_state *st, PyObject *self,
                          PyObject **slot);

PyObject *sync_deque_new(pyasync_state *st);
/* dq.append(item) / dq.popleft(), fast for an exact deque. */
int sync_deque_append(pyasync_state *st, PyObject *dq, PyObject *item);
PyObject *sync_deque_popleft(pyasync_state *st, PyObject *dq);
int sync_waiters_append(pyasync_state *st, PyObject *waiters, PyObject *fut);
int sync_waiters_remove(pyasync_state *st, PyObject *waiters, PyObject *fut);
/* waiters[0] (new reference), or NULL: empty (no error) or an error. */
PyObject *sync_waiters_first(pyasync_state *st, PyObject *waiters);
/* len(waiters) with None and NULL counting as empty; -1 on error. */
Py_ssize_t sync_waiters_len(PyObject *waiters);
/* all(w.cancelled() for w in waiters): 1/0/-1 */
int sync_waiters_all_cancelled(pyasync_state *st, PyObject *waiters);

/* `fut = loop.create_future(); waiters.append(fut); await fut` for a step
 * of c: the loop bound through *loop_slot, *waiters made a deque first
 * when make_deque and it is None.  Sets c->fut and c->state = 1; returns
 * SYNC_AWAIT or SYNC_ERROR. */
int sync_wait_new_future(sync_coro *c, PyObject **waiters,
                         PyObject **loop_slot, int make_deque);
/* Back from that wait (value NULL: with an exception): the `finally:
 * waiters.remove(fut)`.  0 with *exc the exception in flight (fetched,
 * or NULL after a wake-up); -1 when remove() failed (chained, set). */
int sync_wait_finally(sync_coro *c, PyObject *value, PyObject *waiters,
                      PyObject **exc);

/* object.__repr__(self) with " [extra]" inserted before the '>'.
 * Steals extra (NULL: an error is set). */
PyObject *sync_repr_extra(PyObject *self, PyObject *extra);
/* extra + ", waiters:N" when waiters is non-empty.  Steals extra. */
PyObject *sync_extra_waiters(PyObject *extra, PyObject *waiters);

/* Call self.name() (through attribute lookup: subclasses may override). */
PyObject *sync_call_method0(PyObject *self, PyObject *name);
/* Call self.name(arg). */
PyObject *sync_call_method1(PyObject *self, PyObject *name, PyObject *arg);

/* __init__(self) taking no arguments, with Python's messages. */
int sync_check_no_args(const char *cls, PyObject *args, PyObject *kwds);

/* __init__(self, name=...) taking one argument by position or keyword;
 * *out is borrowed, left NULL when optional and not given. */
int sync_parse_init_arg(const char *cls, PyObject *args, PyObject *kwds,
                        const char *name, int required, PyObject **out);

/* Add the type made from spec (bases may be NULL) to the module. */
PyObject *sync_add_type(PyObject *module, PyType_Spec *spec, PyObject *base);

/* The fields every primitive starts with. */
#define SYNC_HEAD \
    PyObject_HEAD \
    pyasync_state *st; \
    PyObject *loop;          /* _loop: NULL or None until bound */ \
    PyObject *dict; \
    PyObject *weakreflist;

typedef struct {
    SYNC_HEAD
} sync_obj;

#define SYNC_HEAD_MEMBERS(type) \
    {"_loop", T_OBJECT, offsetof(type, loop), 0, NULL}, \
    {"__dictoffset__", T_PYSSIZET, offsetof(type, dict), READONLY, NULL}, \
    {"__weaklistoffset__", T_PYSSIZET, offsetof(type, weakreflist), READONLY, NULL}

/* Lock, Event and Semaphore: the head and a waiter deque, nothing else
 * that holds objects, so one traverse/clear/dealloc serves the three. */
#define SYNC_WAITERS_HEAD \
    SYNC_HEAD \
    PyObject *waiters;       /* _waiters */

typedef struct {
    SYNC_WAITERS_HEAD
} sync_wobj;

#define SYNC_WAITERS_MEMBERS(type) \
    SYNC_HEAD_MEMBERS(type), \
    {"_waiters", T_OBJECT, offsetof(type, waiters), 0, NULL}

#define SYNC_WAITERS_SLOTS \
    {Py_tp_dealloc, sync_wobj_dealloc}, \
    {Py_tp_traverse, sync_wobj_traverse}, \
    {Py_tp_clear, sync_wobj_clear}

int sync_wobj_traverse(PyObject *self, visitproc visit, void *arg);
int sync_wobj_clear(PyObject *self);
void sync_wobj_dealloc(PyObject *self);

int sync_head_traverse(sync_obj *o, visitproc visit, void *arg);
void sync_head_clear(sync_obj *o);
/* Set o->st from its type; call from tp_new/tp_init.  0 or -1. */
int sync_head_init(sync_obj *o);
/* Define name, a tp_dealloc for a primitive whose tp_clear is clearfn. */
#define SYNC_DEFINE_DEALLOC(name, clearfn) \
    static void \
    name(PyObject *self) \
    { \
        PyTypeObject *tp = Py_TYPE(self); \
        PyObject_GC_UnTrack(self); \
        if (((sync_obj *)self)->weakreflist != NULL) { \
            PyObject_ClearWeakRefs(self); \
        } \
        (void)clearfn(self); \
        tp->tp_free(self); \
        Py_DECREF(tp); \
    }

/* ---- one thread at a time ------------------------------------------------
 * A primitive belongs to its loop's thread, as in asyncio.  Without the
 * GIL asyncio's Python primitives still survive a misuse such as
 * Event.set() or Queue.put_nowait() from a worker thread; pyasync's C
 * fields would not (a field replaced while another thread reads it).  So
 * they are read and changed only in the primitive's critical section: the
 * steps of its coroutines take it (sync_coro_step), and so do its methods,
 * each defined with SYNC_LOCKED as a wrapper over name_lock_held().  Under
 * the GIL the critical section compiles away and the wrapper is a call. */
#define SYNC_LOCKED(name, type) \
    static PyObject * \
    name(type *self, PyObject *arg) \
    { \
        PyObject *res; \
        Py_BEGIN_CRITICAL_SECTION(self); \
        res = name##_lock_held(self, arg); \
        Py_END_CRITICAL_SECTION(); \
        return res; \
    }

/* The same for a METH_FASTCALL | METH_KEYWORDS method. */
#define SYNC_LOCKED_FASTCALL(name, type) \
    static PyObject * \
    name(type *self, PyObject *const *args, Py_ssize_t nargs, \
         PyObject *kwnames) \
    { \
        PyObject *res; \
        Py_BEGIN_CRITICAL_SECTION(self); \
        res = name##_lock_held(self, args, nargs, kwnames); \
        Py_END_CRITICAL_SECTION(); \
        return res; \
    }

/* The same for tp_init and tp_repr. */
#define SYNC_LOCKED_INIT(name, type) \
    static int \
    name(type *self, PyObject *args, PyObject *kwds) \
    { \
        int res; \
        Py_BEGIN_CRITICAL_SECTION(self); \
        res = name##_lock_held(self, args, kwds); \
        Py_END_CRITICAL_SECTION(); \
        return res; \
    }
#define SYNC_LOCKED_REPR(name, type) \
    static PyObject * \
    name(type *self) \
    { \
        PyObject *res; \
        Py_BEGIN_CRITICAL_SECTION(self); \
        res = name##_lock_held(self); \
        Py_END_CRITICAL_SECTION(); \
        return res; \
    }

#endif /* PYASYNC_WAITER_H */
