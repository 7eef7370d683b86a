/* future.c: asyncio.Future in C, and the FutureIter behind its __await__.
 *
 * The running Python's asyncio (its C _asyncio.Future) is the spec: same
 * states, messages and callback order.  A future whose __init__ never ran
 * has loop == NULL ("not initialized"); every entry point checks that.
 *
 * Done-callbacks: the first one lives inline in callback0/context0, later
 * ones in a list of (callback, context) tuples.  Both are detached from the
 * future before they are scheduled, so re-entrant code only ever sees a
 * done future with no callbacks. */
#include "core/future.h"
#include "core/awaited_by.h"
#include "core/task.h"
#include "core/loop.h"

#include <stddef.h>               /* offsetof */

typedef struct {
    PyObject_HEAD
    FutureObj *future;            /* NULL once exhausted, thrown into or closed */
} FutureIterObj;

/* ---- small helpers -------------------------------------------------- */

/* The TypeError for an unknown keyword argument, worded as the running
   Python's argument parser words it (3.13 rephrased it). */
static void
bad_keyword(const char *func, PyObject *key)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyErr_Format(PyExc_TypeError,
                 "%s() got an unexpected keyword argument '%S'", func, key);
#else
    PyErr_Format(PyExc_TypeError,
                 "'%S' is an invalid keyword argument for %s()", key, func);
#endif
}

static inline int
future_is_alive(FutureObj *fut)
{
    return fut->loop != NULL;
}

int
future_ensure_alive(FutureObj *fut)
{
    if (!future_is_alive(fut)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Future object is not initialized.");
        return -1;
    }
    return 0;
}

/* The module state; cached in the object (tp_new or __init__ sets it). */
static pyasync_state *
future_get_state(FutureObj *fut)
{
    if (fut->st == NULL) {
        fut->st = pyasync_state_from_type(Py_TYPE(fut));
    }
    return fut->st;
}

static int
interpreter_is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* Raise exc (an exception instance) as the current exception. */
static void
raise_instance(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
}

/* Finish an iterator with `return value`: StopIteration(value), built
 * explicitly when value would be mistaken for the args tuple or the
 * exception itself. */
static void
set_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return;
    }
    if (!PyTuple_Check(value) && !PyExceptionInstance_Check(value)) {
        PyErr_SetObject(PyExc_StopIteration, value);
        return;
    }
    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, value);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    }
}

/* ---- fields, init, traverse, clear ---------------------------------- */

/* Drop every object field except the instance dict and weakrefs (what a
 * second __init__ call resets, as asyncio's C Future does). */
static void
future_reset_fields(FutureObj *fut)
{
    /* Flags first: a __del__ run by the clearing sees a pending future. */
    fut->state = FUTURE_PENDING;
    fut->log_traceback = 0;
    fut->blocking = 0;
    fut->loop_is_pyasync = 0;
    Py_CLEAR(fut->loop);
    Py_CLEAR(fut->callback0);
    Py_CLEAR(fut->context0);
    Py_CLEAR(fut->callbacks);
    Py_CLEAR(fut->result);
    Py_CLEAR(fut->exception);
    Py_CLEAR(fut->exception_tb);
    Py_CLEAR(fut->source_traceback);
    Py_CLEAR(fut->cancel_message);
    Py_CLEAR(fut->cancelled_exc);
#if PY_VERSION_HEX >= 0x030E0000
    Py_CLEAR(fut->awaited_by);
    fut->awaited_by_is_set = 0;
#endif
}

/* In debug mode remember where the future was made: traceback's
 * extract_stack() called from C ends with the caller's frame. */
static int
future_capture_source_traceback(FutureObj *fut, pyasync_state *st)
{
    int debug = pyasync_loop_debug_fast(st, fut->loop);
    if (debug < 0) {
        PyObject *res = PyObject_CallMethodNoArgs(fut->loop,
                                                  st->str_get_debug);
        if (res == NULL) {
            return -1;
        }
        debug = PyObject_IsTrue(res);
        Py_DECREF(res);
    }
    if (debug <= 0) {
        return debug;
    }
    /* During shutdown traceback may already be torn down. */
    if (interpreter_is_finalizing()) {
        return 0;
    }
    PyObject *tb = PyObject_CallNoArgs(st->extract_stack);
    if (tb == NULL) {
        return -1;
    }
    /* XSETREF: get_debug() may have re-entered __init__. */
    Py_XSETREF(fut->source_traceback, tb);
    return 0;
}

int
future_init_fields(FutureObj *fut, PyObject *loop)
{
    pyasync_state *st = future_get_state(fut);
    if (st == NULL) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030F0000
    /* 3.15's C Future (and Task) refuse a second __init__. */
    if (fut->loop != NULL) {
        PyErr_Format(PyExc_RuntimeError, "%T object is already initialized",
                     (PyObject *)fut);
        return -1;
    }
#endif
    future_reset_fields(fut);

    if (loop == NULL || loop == Py_None) {
        loop = PyObject_CallNoArgs(st->get_event_loop);
        if (loop == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(loop);
    }
    Py_XSETREF(fut->loop, loop);   /* get_event_loop() may re-enter */
    fut->loop_is_pyasync = (char)pyasync_is_loop(st, loop);
    return future_capture_source_traceback(fut, st);
}

/* Whether the base's part holds anything: its own fields (only if someone
 * ran _asyncio.Future's __init__ or setters on this object) or, before
 * 3.13, the instance dict and weakrefs that live among them.  Usually
 * not: then there is nothing of the base to visit or clear, apart from a
 * 3.13 managed dict in front of the object. */
static inline int
future_base_in_use(const FutureObj *fut)
{
    uintptr_t any = 0;
    for (int i = 0; i < PYASYNC_ASYNCIO_FUTURE_WORDS; i++) {
        any |= (uintptr_t)fut->asyncio_base[i];
    }
    return any != 0;
}

static int
future_visit_managed_dict(PyObject *self, visitproc visit, void *arg)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_TYPE(self)->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        return PyObject_VisitManagedDict(self, visit, arg);
    }
#else
    (void)self;
    (void)visit;
    (void)arg;
#endif
    return 0;
}

static void
future_clear_managed_dict(PyObject *self)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_TYPE(self)->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyObject_ClearManagedDict(self);
    }
#else
    (void)self;
#endif
}

int
future_traverse_fields(FutureObj *fut, visitproc visit, void *arg)
{
    pyasync_state *st = fut->st;
    if (st != NULL && future_base_in_use(fut)) {
        /* The base's traverse covers its fields and the dict. */
        if (!st->asyncio_future_visits_type) {
            Py_VISIT(Py_TYPE(fut));
        }
        int r = st->asyncio_future_traverse((PyObject *)fut, visit, arg);
        if (r != 0) {
            return r;
        }
    }
    else {
        Py_VISIT(Py_TYPE(fut));
        int r = future_visit_managed_dict((PyObject *)fut, visit, arg);
        if (r != 0) {
            return r;
        }
    }
    Py_VISIT(fut->loop);
    Py_VISIT(fut->callback0);
    Py_VISIT(fut->context0);
    Py_VISIT(fut->callbacks);
    Py_VISIT(fut->result);
    Py_VISIT(fut->exception);
    Py_VISIT(fut->exception_tb);
    Py_VISIT(fut->source_traceback);
    Py_VISIT(fut->cancel_message);
    Py_VISIT(fut->cancelled_exc);
#if PY_VERSION_HEX >= 0x030E0000
    Py_VISIT(fut->awaited_by);
#endif
    return 0;
}

void
future_clear_fields(FutureObj *fut)
{
    future_reset_fields(fut);
    if (fut->st != NULL && future_base_in_use(fut)) {
        (void)fut->st->asyncio_future_clear((PyObject *)fut);
    }
    else {
        future_clear_managed_dict((PyObject *)fut);
    }
}

/* ---- done-callbacks ------------------------------------------------- */

/* A task wake-up is stored as the task itself, without a callable: in
 * callback0 with context0 NULL, or as a 1-tuple (task,) in the list.  It
 * saves a bound method per await and a Python call per wake-up. */
static inline int
is_wakeup_item(PyObject *item)
{
    return PyTuple_GET_SIZE(item) == 1;
}

/* The callable a stored callback stands for: itself, or for a wake-up
 * a fresh callable equal to the task's wake-up method.  New reference. */
static PyObject *
stored_callable(PyObject *cb, PyObject *ctx)
{
    return ctx != NULL ? Py_NewRef(cb) : task_new_wakeup(cb);
}

/* The (callback, context) tuple asyncio would hold for a stored entry. */
static PyObject *
stored_pair(PyObject *cb, PyObject *ctx)
{
    if (ctx != NULL) {
        return PyTuple_Pack(2, cb, ctx);
    }
    PyObject *wakeup = task_new_wakeup(cb);
    if (wakeup == NULL) {
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, wakeup, task_wakeup_context(cb));
    Py_DECREF(wakeup);
    return pair;
}

/* call_soon(cb, fut, context=ctx); a wake-up (ctx NULL) goes straight into
 * a pyasync loop's ready queue. */
static int
future_schedule_one(pyasync_state *st, PyObject *loop, FutureObj *fut,
                    PyObject *cb, PyObject *ctx)
{
    if (ctx != NULL) {
        return pyasync_call_soon(st, loop, cb, (PyObject *)fut, ctx);
    }
    PyObject *task_ctx = task_wakeup_context(cb);
    if (pyasync_is_loop(st, loop) && pyasync_loop_methods_own(loop)) {
        return pyasync_loop_schedule(loop, task_wakeup_ready, cb,
                                     (PyObject *)fut, task_ctx);
    }
    PyObject *wakeup = task_new_wakeup(cb);
    if (wakeup == NULL) {
        return -1;
    }
    int rc = pyasync_call_soon(st, loop, wakeup, (PyObject *)fut, task_ctx);
    Py_DECREF(wakeup);
    return rc;
}

/* The done-callbacks, taken off the future: a finished future schedules
 * them outside its critical section (call_soon may run arbitrary code:
 * foreign loops). */
typedef struct {
    PyObject *cb0;       /* callback0, context0: the first one, inline */
    PyObject *ctx0;
    PyObject *list;      /* the others */
} detached_callbacks;

/* Take the callbacks off fut; call in its critical section, together with
 * the change of state, so that future_store_callback(), which checks the
 * state in the same section, either stores a callback before they are
 * taken or sees the future done. */
static void
future_detach_callbacks_locked(FutureObj *fut, detached_callbacks *d)
{
    d->cb0 = fut->callback0;
    d->ctx0 = fut->context0;
    d->list = fut->callbacks;
    fut->callback0 = NULL;
    fut->context0 = NULL;
    fut->callbacks = NULL;
}

/* Schedule detached callbacks with call_soon, FIFO, each in its own
 * context; the references in d are consumed.  On error the remaining
 * callbacks are dropped, as asyncio does. */
static int
future_schedule_detached(FutureObj *fut, detached_callbacks *d)
{
    PyObject *cb0 = d->cb0, *ctx0 = d->ctx0, *list = d->list;
    if (cb0 == NULL && list == NULL) {
        return 0;
    }
    pyasync_state *st = future_get_state(fut);
    if (st == NULL || fut->loop == NULL) {
        /* (loop NULL: re-initialised into a broken state by a re-entrant
         * __init__.) */
        Py_XDECREF(cb0);
        Py_XDECREF(ctx0);
        Py_XDECREF(list);
        return st == NULL ? -1 : future_ensure_alive(fut);
    }

    PyObject *loop = Py_NewRef(fut->loop);
    int rc = 0;
    if (cb0 != NULL) {
        rc = future_schedule_one(st, loop, fut, cb0, ctx0);
    }
    if (list != NULL) {
        /* The list is private now, so its items cannot change under us. */
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(list); i++) {
            PyObject *item = PyList_GET_ITEM(list, i);
            rc = future_schedule_one(
                st, loop, fut, PyTuple_GET_ITEM(item, 0),
                is_wakeup_item(item) ? NULL : PyTuple_GET_ITEM(item, 1));
        }
    }
    Py_DECREF(loop);
    Py_XDECREF(cb0);
    Py_XDECREF(ctx0);
    Py_XDECREF(list);
    return rc;
}

/* Store a pending callback: inline if it is the first, else in the list.
 * context NULL stores a wake-up of the task `callback`. */
static int
future_store_callback_locked(FutureObj *fut, PyObject *callback,
                             PyObject *context)
{
    if (fut->callback0 == NULL && fut->callbacks == NULL) {
        fut->callback0 = Py_NewRef(callback);
        fut->context0 = Py_XNewRef(context);
        return 0;
    }
    PyObject *item = context ? PyTuple_Pack(2, callback, context)
                             : PyTuple_Pack(1, callback);
    if (item == NULL) {
        return -1;
    }
    if (fut->callbacks == NULL) {
        fut->callbacks = PyList_New(0);
        if (fut->callbacks == NULL) {
            Py_DECREF(item);
            return -1;
        }
    }
    int rc = PyList_Append(fut->callbacks, item);
    Py_DECREF(item);
    return rc;
}

/* Store a callback of a pending future: 0, or 1 if the future is done
 * (another thread finished it since the caller looked: the caller then
 * schedules the callback itself), or -1 with an exception. */
static int
future_store_callback(FutureObj *fut, PyObject *callback, PyObject *context)
{
    int rc;
    Py_BEGIN_CRITICAL_SECTION(fut);
    if (FT_LOAD_ENUM(fut->state) != FUTURE_PENDING) {
        rc = 1;
    }
    else {
        rc = future_store_callback_locked(fut, callback, context);
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

int
future_add_task_wakeup(FutureObj *fut, PyObject *task)
{
    if (!future_is_alive(fut)) {
        PyErr_SetString(PyExc_RuntimeError, "uninitialized Future object");
        return -1;
    }
    if (FT_LOAD_ENUM(fut->state) == FUTURE_PENDING) {
        int rc = future_store_callback(fut, task, NULL);
        if (rc <= 0) {
            return rc;
        }
    }
    pyasync_state *st = future_get_state(fut);
    if (st == NULL) {
        return -1;
    }
    PyObject *loop = Py_NewRef(fut->loop);
    int rc = future_schedule_one(st, loop, fut, task, NULL);
    Py_DECREF(loop);
    return rc;
}

int
future_add_done_callback(FutureObj *fut, PyObject *callback,
                         PyObject *context)
{
    if (!future_is_alive(fut)) {
        PyErr_SetString(PyExc_RuntimeError, "uninitialized Future object");
        return -1;
    }
    /* None means "the current context", as in asyncio's Python Future. */
    PyObject *ctx;
    if (context == NULL || context == Py_None) {
        ctx = PyContext_CopyCurrent();
        if (ctx == NULL) {
            return -1;
        }
    }
    else {
        ctx = Py_NewRef(context);
    }

    int rc = 1;
    if (FT_LOAD_ENUM(fut->state) == FUTURE_PENDING) {
        rc = future_store_callback(fut, callback, ctx);
    }
    if (rc == 1) {
        /* Done: schedule it now.  Own the loop: looking up call_soon may
         * run arbitrary code. */
        pyasync_state *st = future_get_state(fut);
        PyObject *loop = Py_NewRef(fut->loop);
        rc = st == NULL ? -1 : pyasync_call_soon(st, loop, callback,
                                                 (PyObject *)fut, ctx);
        Py_DECREF(loop);
    }
    Py_DECREF(ctx);
    return rc;
}

/* Remove callback0 if it equals fn.  1 removed, 0 not, -1 error. */
static int
future_remove_callback0(FutureObj *fut, PyObject *fn)
{
    if (fut->callback0 == NULL) {
        return 0;
    }
    PyObject *cb = Py_NewRef(fut->callback0);
    PyObject *callable = stored_callable(cb, fut->context0);
    if (callable == NULL) {
        Py_DECREF(cb);
        return -1;
    }
    int eq = PyObject_RichCompareBool(callable, fn, Py_EQ);
    Py_DECREF(callable);
    /* __eq__ may have run code that replaced or removed callback0. */
    PyObject *old_cb = NULL, *old_ctx = NULL;
    if (eq == 1) {
        Py_BEGIN_CRITICAL_SECTION(fut);
        if (fut->callback0 == cb) {
            old_cb = fut->callback0;
            old_ctx = fut->context0;
            fut->callback0 = NULL;
            fut->context0 = NULL;
        }
        else {
            eq = 0;
        }
        Py_END_CRITICAL_SECTION();
    }
    Py_XDECREF(old_cb);
    Py_XDECREF(old_ctx);
    Py_DECREF(cb);
    return eq;
}

/* Remove every list entry whose callback equals fn, keeping the order of
 * the others; *removed gets `len(callbacks) - len(kept)` as asyncio
 * computes it.  The comparisons may run code that adds to, removes from or
 * clears the list: entries appended meanwhile are examined too, the live
 * list is read on every step, and (like asyncio) the count can even come
 * out negative when a re-entrant call shrank the list.  0 or -1. */
static int
future_remove_from_list(FutureObj *fut, PyObject *fn, Py_ssize_t *removed)
{
    *removed = 0;
    if (fut->callbacks == NULL) {
        return 0;
    }
    Py_ssize_t start_len = PyList_GET_SIZE(fut->callbacks);
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0;
         fut->callbacks != NULL && i < PyList_GET_SIZE(fut->callbacks);
         i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(fut->callbacks, i));
        PyObject *callable = stored_callable(
            PyTuple_GET_ITEM(item, 0),
            is_wakeup_item(item) ? NULL : PyTuple_GET_ITEM(item, 1));
        int eq = callable == NULL
                 ? -1 : PyObject_RichCompareBool(callable, fn, Py_EQ);
        Py_XDECREF(callable);
        if (eq == 0) {
            eq = PyList_Append(kept, item);
        }
        Py_DECREF(item);
        if (eq < 0) {
            Py_DECREF(kept);
            return -1;
        }
    }

    Py_ssize_t nkept = PyList_GET_SIZE(kept);
    if (fut->callbacks == NULL) {
        /* A re-entrant call removed everything. */
        Py_DECREF(kept);
        *removed = start_len;
        return 0;
    }
    Py_ssize_t len = PyList_GET_SIZE(fut->callbacks);
    *removed = len - nkept;
    PyObject *old = NULL;
    if (nkept == 0 || nkept != len) {
        /* Our list is private: swapping it is `callbacks[:] = kept`. */
        Py_BEGIN_CRITICAL_SECTION(fut);
        old = fut->callbacks;
        fut->callbacks = nkept == 0 ? NULL : Py_NewRef(kept);
        Py_END_CRITICAL_SECTION();
    }
    Py_XDECREF(old);
    Py_DECREF(kept);
    return 0;
}

/* ---- state transitions ---------------------------------------------- */

static int
future_raise_invalid_state(FutureObj *fut, const char *msg)
{
    pyasync_state *st = future_get_state(fut);
    if (st != NULL) {
        PyErr_SetString(st->InvalidStateError, msg);
    }
    return -1;
}

int
future_set_result(FutureObj *fut, PyObject *result)
{
    if (future_ensure_alive(fut) < 0) {
        return -1;
    }
    /* Checked and changed in one critical section, as asyncio's: of two
     * threads setting it, one gets InvalidStateError. */
    detached_callbacks d;
    int pending;
    PyObject *old = NULL;
    Py_BEGIN_CRITICAL_SECTION(fut);
    pending = fut->state == FUTURE_PENDING;
    if (pending) {
        old = fut->result;
        fut->result = Py_NewRef(result);
        FT_STORE_ENUM(fut->state, FUTURE_FINISHED);
        future_detach_callbacks_locked(fut, &d);
    }
    Py_END_CRITICAL_SECTION();
    if (!pending) {
        return future_raise_invalid_state(fut, "invalid state");
    }
    Py_XDECREF(old);
    return future_schedule_detached(fut, &d);
}

/* asyncio accepts an exception class and instantiates it. */
static PyObject *
make_exception_instance(PyObject *exc)
{
    PyObject *val;
    if (PyExceptionClass_Check(exc)) {
        val = PyObject_CallNoArgs(exc);
        if (val == NULL) {
            return NULL;
        }
    }
    else {
        val = Py_NewRef(exc);
    }
    if (!PyExceptionInstance_Check(val)) {
        Py_DECREF(val);
        PyErr_SetString(PyExc_TypeError, "invalid exception object");
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13: a StopIteration (subclasses too) is stored as a RuntimeError
     * caused by it, instead of being refused. */
    if (PyErr_GivenExceptionMatches(val, PyExc_StopIteration)) {
        PyObject *err = PyObject_CallFunction(
            PyExc_RuntimeError, "s", "StopIteration interacts badly with "
            "generators and cannot be raised into a Future");
        if (err == NULL) {
            Py_DECREF(val);
            return NULL;
        }
        PyException_SetCause(err, Py_NewRef(val));
        PyException_SetContext(err, val);       /* steals val */
        return err;
    }
#else
    if (Py_IS_TYPE(val, (PyTypeObject *)PyExc_StopIteration)) {
        Py_DECREF(val);
        PyErr_SetString(PyExc_TypeError,
                        "StopIteration interacts badly with generators "
                        "and cannot be raised into a Future");
        return NULL;
    }
#endif
    return val;
}

int
future_set_exception(FutureObj *fut, PyObject *exc)
{
    if (future_ensure_alive(fut) < 0) {
        return -1;
    }
    if (FT_LOAD_ENUM(fut->state) != FUTURE_PENDING) {
        return future_raise_invalid_state(fut, "invalid state");
    }
    PyObject *val = make_exception_instance(exc);
    if (val == NULL) {
        return -1;
    }
    /* Instantiating the class ran Python code: check again, and change
     * the state in the same critical section (see future_set_result). */
    PyObject *tb = PyException_GetTraceback(val);
    PyObject *old_exc = NULL, *old_tb = NULL;
    detached_callbacks d;
    int pending;
    Py_BEGIN_CRITICAL_SECTION(fut);
    pending = fut->state == FUTURE_PENDING && future_is_alive(fut);
    if (pending) {
        old_tb = fut->exception_tb;
        old_exc = fut->exception;
        fut->exception_tb = tb;
        fut->exception = val;
        FT_STORE_ENUM(fut->state, FUTURE_FINISHED);
        future_detach_callbacks_locked(fut, &d);
    }
    Py_END_CRITICAL_SECTION();
    if (!pending) {
        Py_XDECREF(tb);
        Py_DECREF(val);
        if (future_ensure_alive(fut) < 0) {
            return -1;
        }
        return future_raise_invalid_state(fut, "invalid state");
    }
    Py_XDECREF(old_tb);
    Py_XDECREF(old_exc);
    if (future_schedule_detached(fut, &d) < 0) {
        return -1;
    }
    fut->log_traceback = 1;
    return 0;
}

int
future_cancel(FutureObj *fut, PyObject *msg)
{
    if (future_ensure_alive(fut) < 0) {
        return -1;
    }
    detached_callbacks d;
    int pending;
    PyObject *old = NULL;
    Py_BEGIN_CRITICAL_SECTION(fut);
    fut->log_traceback = 0;
    pending = fut->state == FUTURE_PENDING;
    if (pending) {
        FT_STORE_ENUM(fut->state, FUTURE_CANCELLED);
        old = fut->cancel_message;
        fut->cancel_message = Py_XNewRef(msg);
        future_detach_callbacks_locked(fut, &d);
    }
    Py_END_CRITICAL_SECTION();
    if (!pending) {
        return 0;
    }
    Py_XDECREF(old);
    return future_schedule_detached(fut, &d) < 0 ? -1 : 1;
}

PyObject *
future_make_cancelled_error(FutureObj *fut)
{
    /* A saved CancelledError (Task stores the one its coroutine raised) is
     * handed over once. */
    if (fut->cancelled_exc != NULL) {
        PyObject *exc = fut->cancelled_exc;
        fut->cancelled_exc = NULL;
        return exc;
    }
    pyasync_state *st = future_get_state(fut);
    if (st == NULL) {
        return NULL;
    }
    PyObject *msg = fut->cancel_message;
    if (msg == NULL || msg == Py_None) {
        return PyObject_CallNoArgs(st->CancelledError);
    }
    return PyObject_CallOneArg(st->CancelledError, msg);
}

/* Raise the exception stored by set_exception() with the traceback it had
 * then, as asyncio does (`raise exc.with_traceback(tb)`). */
static void
future_raise_exception(FutureObj *fut)
{
    PyObject *exc = Py_NewRef(fut->exception);
    if (PyException_SetTraceback(exc, fut->exception_tb != NULL
                                      ? fut->exception_tb : Py_None) == 0) {
        raise_instance(exc);
    }
    Py_DECREF(exc);
}

PyObject *
future_get_result(FutureObj *fut)
{
    if (fut->state == FUTURE_CANCELLED) {
        PyObject *exc = future_make_cancelled_error(fut);
        if (exc != NULL) {
            raise_instance(exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (fut->state != FUTURE_FINISHED) {
        future_raise_invalid_state(fut, "Result is not set.");
        return NULL;
    }
    fut->log_traceback = 0;
    if (fut->exception != NULL) {
        future_raise_exception(fut);
        return NULL;
    }
    return Py_NewRef(fut->result != NULL ? fut->result : Py_None);
}

/* ---- finalization ---------------------------------------------------- */

/* Build {'message', 'exception', 'future'[, 'source_traceback']}. */
static PyObject *
future_unretrieved_context(FutureObj *fut)
{
    PyObject *name = PyType_GetName(Py_TYPE(fut));
    if (name == NULL) {
        return NULL;
    }
    PyObject *message = PyUnicode_FromFormat(
        "%U exception was never retrieved", name);
    Py_DECREF(name);
    if (message == NULL) {
        return NULL;
    }
    PyObject *context = PyDict_New();
    if (context == NULL
        || PyDict_SetItemString(context, "message", message) < 0
        || PyDict_SetItemString(context, "exception", fut->exception) < 0
        || PyDict_SetItemString(context, "future", (PyObject *)fut) < 0
        || (fut->source_traceback != NULL
            && PyDict_SetItemString(context, "source_traceback",
                                    fut->source_traceback) < 0)) {
        Py_XDECREF(context);
        context = NULL;
    }
    Py_DECREF(message);
    return context;
}

void
future_finalize(FutureObj *fut)
{
    if (!fut->log_traceback || fut->exception == NULL || fut->loop == NULL) {
        return;
    }
    fut->log_traceback = 0;

    /* A finalizer must leave the current exception as it found it. */
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *saved = PyErr_GetRaisedException();
#else
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
#endif

    pyasync_state *st = future_get_state(fut);
    PyObject *context = st == NULL ? NULL : future_unretrieved_context(fut);
    if (context != NULL) {
        PyObject *loop = Py_NewRef(fut->loop);
        PyObject *handler = PyObject_GetAttr(loop,
                                             st->str_call_exception_handler);
        Py_DECREF(loop);
        if (handler != NULL) {
            PyObject *res = PyObject_CallOneArg(handler, context);
            if (res == NULL) {
                PyErr_WriteUnraisable(handler);
            }
            Py_XDECREF(res);
            Py_DECREF(handler);
        }
        Py_DECREF(context);
    }
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)fut);
    }

#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(saved);
#else
    PyErr_Restore(saved_type, saved_value, saved_tb);
#endif
}

/* ---- FutureIter ------------------------------------------------------ */

static PyObject *
future_new_iter_impl(PyObject *self)
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    pyasync_state *st = future_get_state(fut);
    if (st == NULL) {
        return NULL;
    }
    FutureIterObj *it = PyObject_GC_New(FutureIterObj, st->FutureIter_Type);
    if (it == NULL) {
        return NULL;
    }
    it->future = (FutureObj *)Py_NewRef(self);
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

PyObject *
future_new_iter(PyObject *fut)
{
    return future_new_iter_impl(fut);
}

/* The _asyncio_future_blocking protocol: the first resume of a pending
 * future yields the future itself with the flag set; the Task that takes
 * it clears the flag.  Resumed again while pending with the flag still
 * set means no Task was driving us. */
static PySendResult
futureiter_am_send(PyObject *self, PyObject *Py_UNUSED(arg),
                   PyObject **presult)
{
    FutureIterObj *it = (FutureIterObj *)self;
    FutureObj *fut = it->future;
    *presult = NULL;
    if (fut == NULL) {
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    if (fut->state == FUTURE_PENDING) {
        if (!fut->blocking) {
            fut->blocking = 1;
            *presult = Py_NewRef((PyObject *)fut);
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        return PYGEN_ERROR;
    }
    PyObject *res = NULL;
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14 keeps the future: resumed again, the iterator returns (or
     * raises) the outcome again. */
    if (future_ensure_alive(fut) == 0) {
        res = future_get_result(fut);
    }
#else
    it->future = NULL;
    if (future_ensure_alive(fut) == 0) {
        res = future_get_result(fut);
    }
    Py_DECREF(fut);
#endif
    if (res == NULL) {
        return PYGEN_ERROR;
    }
    *presult = res;
    return PYGEN_RETURN;
}

static PyObject *
futureiter_iternext(PyObject *self)
{
    if (((FutureIterObj *)self)->future == NULL) {
        return NULL;                  /* exhausted: plain StopIteration */
    }
    PyObject *res;
    switch (futureiter_am_send(self, Py_None, &res)) {
    case PYGEN_NEXT:
        return res;
    case PYGEN_RETURN:
        set_stop_iteration(res);
        Py_DECREF(res);
        return NULL;
    default:
        return NULL;
    }
}

/* send(value): the value is ignored, the outcome is fut.result(). */
static PyObject *
futureiter_send(PyObject *self, PyObject *Py_UNUSED(value))
{
    PyObject *res = futureiter_iternext(self);
    if (res == NULL && !PyErr_Occurred()) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    return res;
}

/* throw(typ[, val[, tb]]): raise the exception "at the yield", which ends
 * the iterator, with the argument checks of generator.throw(). */
static PyObject *
futureiter_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at %s %d argument%s, got %zd",
                     nargs < 1 ? "least" : "most", nargs < 1 ? 1 : 3,
                     nargs < 1 ? "" : "s", nargs);
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (nargs > 1 && PyErr_WarnEx(PyExc_DeprecationWarning,
                                  "the (type, exc, tb) signature of throw() "
                                  "is deprecated, use the single-arg "
                                  "signature instead.", 1) < 0) {
        return NULL;
    }
#endif
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 && args[1] != Py_None ? args[1] : NULL;
    PyObject *tb = nargs > 2 && args[2] != Py_None ? args[2] : NULL;
    if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback");
        return NULL;
    }

    if (PyExceptionClass_Check(typ)) {
        Py_INCREF(typ);
        Py_XINCREF(val);
        Py_XINCREF(tb);
        PyErr_NormalizeException(&typ, &val, &tb);
        if (tb != NULL && val != NULL) {
            PyException_SetTraceback(val, tb);
        }
    }
    else if (PyExceptionInstance_Check(typ)) {
        if (val != NULL) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate "
                            "value");
            return NULL;
        }
        val = Py_NewRef(typ);
        typ = Py_NewRef((PyObject *)Py_TYPE(val));
        tb = tb != NULL ? Py_NewRef(tb) : PyException_GetTraceback(val);
    }
    else {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must be classes deriving BaseException "
                        "or instances of such a class");
        return NULL;
    }

    Py_CLEAR(((FutureIterObj *)self)->future);
    PyErr_Restore(typ, val, tb);
    return NULL;
}

static PyObject *
futureiter_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(((FutureIterObj *)self)->future);
    Py_RETURN_NONE;
}

static int
futureiter_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((FutureIterObj *)self)->future);
    return 0;
}

static int
futureiter_clear(PyObject *self)
{
    Py_CLEAR(((FutureIterObj *)self)->future);
    return 0;
}

static void
futureiter_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((FutureIterObj *)self)->future);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef futureiter_methods[] = {
    {"send", futureiter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))futureiter_throw, METH_FASTCALL,
     NULL},
    {"close", futureiter_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot futureiter_slots[] = {
    {Py_tp_dealloc, futureiter_dealloc},
    {Py_tp_traverse, futureiter_traverse},
    {Py_tp_clear, futureiter_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, futureiter_iternext},
    {Py_am_send, futureiter_am_send},
    {Py_tp_methods, futureiter_methods},
    {0, NULL},
};

static PyType_Spec futureiter_spec = {
    .name = "pyasync._core.FutureIter",
    .basicsize = sizeof(FutureIterObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = futureiter_slots,
};

/* ---- Future: Python methods ------------------------------------------ */

static PyObject *
future_new(PyTypeObject *type, PyObject *Py_UNUSED(args),
           PyObject *Py_UNUSED(kwds))
{
    FutureObj *fut = (FutureObj *)type->tp_alloc(type, 0);
    if (fut == NULL) {
        return NULL;
    }
    fut->st = pyasync_state_from_type(type);
    if (fut->st == NULL) {
        Py_DECREF(fut);
        return NULL;
    }
    return (PyObject *)fut;
}

PyObject *
future_create(pyasync_state *st, PyObject *loop)
{
    PyObject *fut = future_new(st->Future_Type, NULL, NULL);
    if (fut != NULL && future_init_fields((FutureObj *)fut, loop) < 0) {
        Py_CLEAR(fut);
    }
    return fut;
}

/* Future() takes one keyword-only argument; the errors argument clinic
 * gives for too many or positional arguments. */
static int
future_check_init_counts(Py_ssize_t nargs, Py_ssize_t nkw)
{
    if (nargs + nkw > 1) {
        PyErr_Format(PyExc_TypeError,
                     nargs == 0
                     ? "Future() takes at most 1 keyword argument (%zd given)"
                     : "Future() takes at most 1 argument (%zd given)",
                     nargs + nkw);
        return -1;
    }
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "Future() takes no positional arguments");
        return -1;
    }
    return 0;
}

/* Parse __init__'s keyword-only `loop` from a kwargs dict (may be NULL).
 * *loop stays borrowed. */
static int
future_parse_init_kwargs(PyObject *args, PyObject *kwds, PyObject **loop)
{
    Py_ssize_t nargs = args != NULL ? PyTuple_GET_SIZE(args) : 0;
    Py_ssize_t nkw = kwds != NULL ? PyDict_GET_SIZE(kwds) : 0;
    if (future_check_init_counts(nargs, nkw) < 0) {
        return -1;
    }
    if (nkw == 0) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    (void)PyDict_Next(kwds, &pos, &key, &value);
    if (!PyUnicode_Check(key)
        || PyUnicode_CompareWithASCIIString(key, "loop") != 0) {
        bad_keyword("Future", key);
        return -1;
    }
    *loop = value;
    return 0;
}

/* __init__(self, *, loop=None) */
static int
future_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *loop = Py_None;
    if (future_parse_init_kwargs(args, kwds, &loop) < 0) {
        return -1;
    }
    return future_init_fields((FutureObj *)self, loop);
}

/* type.__call__(tp, *args, **kwargs) from vectorcall arguments. */
static PyObject *
future_generic_call(PyTypeObject *tp, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    PyObject *argtuple = PyTuple_New(nargs);
    if (argtuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(argtuple, i, Py_NewRef(args[i]));
    }
    PyObject *kwargs = NULL;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        kwargs = PyDict_New();
        for (Py_ssize_t i = 0; kwargs != NULL && i < PyTuple_GET_SIZE(kwnames);
             i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i),
                               args[nargs + i]) < 0) {
                Py_CLEAR(kwargs);
            }
        }
        if (kwargs == NULL) {
            Py_DECREF(argtuple);
            return NULL;
        }
    }
    PyObject *res = PyType_Type.tp_call((PyObject *)tp, argtuple, kwargs);
    Py_DECREF(argtuple);
    Py_XDECREF(kwargs);
    return res;
}

/* Future(*, loop=None) without building an args tuple and kwargs dict.
 * Installed on Future_Type; subtypes that inherit it but define their own
 * __new__/__init__ fall back to type_call. */
static PyObject *
future_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *loop = Py_None;
    if (tp->tp_new != future_new || tp->tp_init != future_tp_init) {
        /* A subtype that inherited this slot but has its own __new__ or
         * __init__ (Task): take the generic type_call path. */
        return future_generic_call(tp, args, nargs, kwnames);
    }
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (future_check_init_counts(nargs, nkw) < 0) {
        return NULL;
    }
    if (nkw == 1) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, 0);
        if (PyUnicode_CompareWithASCIIString(key, "loop") != 0) {
            bad_keyword("Future", key);
            return NULL;
        }
        loop = args[0];
    }
    PyObject *self = future_new(tp, NULL, NULL);
    if (self == NULL) {
        return NULL;
    }
    if (future_init_fields((FutureObj *)self, loop) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static PyObject *
future_result_meth(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FutureObj *fut = (FutureObj *)self;
    if (!future_is_alive(fut)) {
        future_raise_invalid_state(fut, "Future object is not initialized.");
        return NULL;
    }
    return future_get_result(fut);
}

static PyObject *
future_exception_meth(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FutureObj *fut = (FutureObj *)self;
    if (!future_is_alive(fut)) {
        future_raise_invalid_state(fut, "Future object is not initialized.");
        return NULL;
    }
    if (fut->state == FUTURE_CANCELLED) {
        PyObject *exc = future_make_cancelled_error(fut);
        if (exc != NULL) {
            raise_instance(exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (fut->state != FUTURE_FINISHED) {
        future_raise_invalid_state(fut, "Exception is not set.");
        return NULL;
    }
    if (fut->exception == NULL) {
        Py_RETURN_NONE;
    }
    fut->log_traceback = 0;
    return Py_NewRef(fut->exception);
}

static PyObject *
future_set_result_meth(PyObject *self, PyObject *result)
{
    if (future_set_result((FutureObj *)self, result) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
future_set_exception_meth(PyObject *self, PyObject *exc)
{
    if (future_set_exception((FutureObj *)self, exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Find keyword `name` among a vectorcall's keywords; anything else is an
 * error, as for a keyword-only parameter. */
static int
parse_one_keyword(const char *func, const char *name, PyObject *const *args,
                  Py_ssize_t nargs, PyObject *kwnames, PyObject **value)
{
    if (kwnames == NULL) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (!PyUnicode_Check(key)
            || PyUnicode_CompareWithASCIIString(key, name) != 0) {
            bad_keyword(func, key);
            return -1;
        }
        if (*value != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "argument for %s() given by name ('%s') and "
                         "position (1)", func, name);
            return -1;
        }
        *value = args[nargs + i];
    }
    return 0;
}

/* add_done_callback(fn, /, *, context=None) */
static PyObject *
future_add_done_callback_meth(PyObject *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context = NULL;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "add_done_callback() takes exactly 1 positional "
                     "argument (%zd given)", nargs);
        return NULL;
    }
    if (parse_one_keyword("add_done_callback", "context", args, nargs,
                          kwnames, &context) < 0) {
        return NULL;
    }
    if (future_add_done_callback((FutureObj *)self, args[0], context) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
future_remove_done_callback_meth(PyObject *self, PyObject *fn)
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    int removed0 = future_remove_callback0(fut, fn);
    if (removed0 < 0) {
        return NULL;
    }
    Py_ssize_t removed;
    if (future_remove_from_list(fut, fn, &removed) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(removed + removed0);
}

/* cancel(msg=None) */
static PyObject *
future_cancel_meth(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    PyObject *msg = NULL;
    Py_ssize_t total = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames)
                                                : 0);
    if (total > 1) {
        PyErr_Format(PyExc_TypeError,
                     "cancel() takes at most 1 argument (%zd given)", total);
        return NULL;
    }
    if (nargs == 1) {
        msg = args[0];
    }
    if (parse_one_keyword("cancel", "msg", args, nargs, kwnames, &msg) < 0) {
        return NULL;
    }
    int rc = future_cancel((FutureObj *)self, msg != NULL ? msg : Py_None);
    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyObject *
future_cancelled_meth(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FutureObj *fut = (FutureObj *)self;
    /* (Other threads may ask, as asyncio's all_tasks() does.) */
    return PyBool_FromLong(future_is_alive(fut)
                           && FT_LOAD_ENUM(fut->state) == FUTURE_CANCELLED);
}

static PyObject *
future_done_meth(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FutureObj *fut = (FutureObj *)self;
    return PyBool_FromLong(future_is_alive(fut)
                           && FT_LOAD_ENUM(fut->state) != FUTURE_PENDING);
}

static PyObject *
future_get_loop_meth(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    return Py_NewRef(fut->loop);
}

static PyObject *
future_make_cancelled_error_meth(PyObject *self,
                                 PyObject *Py_UNUSED(ignored))
{
    return future_make_cancelled_error((FutureObj *)self);
}

static PyObject *
future_repr(PyObject *self)
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    pyasync_state *st = future_get_state(fut);
    if (st == NULL) {
        return NULL;
    }
    /* base_futures._future_repr: asyncio's format, recursion-safe. */
    return PyObject_CallOneArg(st->future_repr, self);
}

static int
future_tp_traverse(PyObject *self, visitproc visit, void *arg)
{
    return future_traverse_fields((FutureObj *)self, visit, arg);
}

static int
future_tp_clear(PyObject *self)
{
    future_clear_fields((FutureObj *)self);
    return 0;
}

static void
future_tp_finalize(PyObject *self)
{
    future_finalize((FutureObj *)self);
}

static void
future_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* For Python subclasses subtype_dealloc already ran the finalizer;
     * a second call is a no-op for GC objects. */
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;                       /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (future_weakrefs(self) != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    future_clear_fields((FutureObj *)self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- Future: attributes ---------------------------------------------- */

static PyObject *
future_get_state_attr(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    switch (fut->state) {
    case FUTURE_PENDING:
        return PyUnicode_FromString("PENDING");
    case FUTURE_CANCELLED:
        return PyUnicode_FromString("CANCELLED");
    default:
        return PyUnicode_FromString("FINISHED");
    }
}

static PyObject *
future_get_blocking(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    return PyBool_FromLong(future_is_alive(fut) && fut->blocking);
}

static int
future_set_blocking(PyObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return -1;
    }
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    if (truth < 0) {
        return -1;
    }
    fut->blocking = (char)truth;
    return 0;
}

static PyObject *
future_get_log_traceback(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    return PyBool_FromLong(fut->log_traceback);
}

static int
future_set_log_traceback(PyObject *self, PyObject *value,
                         void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    if (truth < 0) {
        return -1;
    }
    if (truth) {
        PyErr_SetString(PyExc_ValueError,
                        "_log_traceback can only be set to False");
        return -1;
    }
    ((FutureObj *)self)->log_traceback = 0;
    return 0;
}

static PyObject *
future_get_loop_attr(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    return Py_NewRef(fut->loop != NULL ? fut->loop : Py_None);
}

/* A fresh list of (callback, context) tuples, or None without callbacks.
 * A copy, so outside code cannot put non-tuples into our list. */
static PyObject *
future_get_callbacks(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    /* The fields as they are now (another thread may be changing them,
     * under the same critical section), then read outside it. */
    PyObject *cb0, *ctx0, *stored;
    Py_BEGIN_CRITICAL_SECTION(fut);
    cb0 = Py_XNewRef(fut->callback0);
    ctx0 = Py_XNewRef(fut->context0);
    stored = Py_XNewRef(fut->callbacks);
    Py_END_CRITICAL_SECTION();
    PyObject *list = NULL;
    if (cb0 == NULL && stored == NULL) {
        list = Py_NewRef(Py_None);
        goto done;
    }
    list = PyList_New(0);
    if (list == NULL) {
        goto done;
    }
    if (cb0 != NULL) {
        PyObject *item = stored_pair(cb0, ctx0);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            goto done;
        }
        Py_DECREF(item);
    }
    /* A copy: the loop's thread may append to the live list meanwhile. */
    PyObject *items = stored != NULL ? PySequence_List(stored) : NULL;
    if (stored != NULL && items == NULL) {
        Py_CLEAR(list);
        goto done;
    }
    for (Py_ssize_t i = 0; items != NULL && i < PyList_GET_SIZE(items); i++) {
        PyObject *one = PyList_GET_ITEM(items, i);
        PyObject *item = is_wakeup_item(one)
            ? stored_pair(PyTuple_GET_ITEM(one, 0), NULL)
            : Py_NewRef(one);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(item);
    }
    Py_XDECREF(items);
done:
    Py_XDECREF(cb0);
    Py_XDECREF(ctx0);
    Py_XDECREF(stored);
    return list;
}

static PyObject *
future_get_result_attr(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    return Py_NewRef(fut->result != NULL ? fut->result : Py_None);
}

static PyObject *
future_get_exception_attr(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (future_ensure_alive(fut) < 0) {
        return NULL;
    }
    return Py_NewRef(fut->exception != NULL ? fut->exception : Py_None);
}

static PyObject *
future_get_source_traceback(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    if (!future_is_alive(fut) || fut->source_traceback == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(fut->source_traceback);
}

static PyObject *
future_get_cancel_message(PyObject *self, void *Py_UNUSED(closure))
{
    FutureObj *fut = (FutureObj *)self;
    return Py_NewRef(fut->cancel_message != NULL ? fut->cancel_message
                                                 : Py_None);
}

static int
future_set_cancel_message(PyObject *self, PyObject *value,
                          void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    Py_XSETREF(((FutureObj *)self)->cancel_message, Py_NewRef(value));
    return 0;
}

static PyGetSetDef future_getset[] = {
    {"_state", future_get_state_attr, NULL, NULL, NULL},
    {"_asyncio_future_blocking", future_get_blocking, future_set_blocking,
     NULL, NULL},
    {"_loop", future_get_loop_attr, NULL, NULL, NULL},
    {"_callbacks", future_get_callbacks, NULL, NULL, NULL},
    {"_result", future_get_result_attr, NULL, NULL, NULL},
    {"_exception", future_get_exception_attr, NULL, NULL, NULL},
    {"_log_traceback", future_get_log_traceback, future_set_log_traceback,
     NULL, NULL},
    {"_source_traceback", future_get_source_traceback, NULL, NULL, NULL},
    {"_cancel_message", future_get_cancel_message, future_set_cancel_message,
     NULL, NULL},
#if PY_VERSION_HEX >= 0x030E0000
    {"_asyncio_awaited_by", awaited_by_get, NULL, NULL, NULL},
#endif
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FAST_KW(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef future_methods[] = {
    {"result", future_result_meth, METH_NOARGS,
     PyDoc_STR("Return the result this future represents.")},
    {"exception", future_exception_meth, METH_NOARGS,
     PyDoc_STR("Return the exception that was set on this future.")},
    {"set_result", future_set_result_meth, METH_O,
     PyDoc_STR("Mark the future done and set its result.")},
    {"set_exception", future_set_exception_meth, METH_O,
     PyDoc_STR("Mark the future done and set an exception.")},
    {"add_done_callback", FAST_KW(future_add_done_callback_meth),
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Add a callback to be run when the future becomes done.")},
    {"remove_done_callback", future_remove_done_callback_meth, METH_O,
     PyDoc_STR("Remove all instances of a callback from the \"call when "
               "done\" list.\n\nReturns the number of callbacks removed.")},
    {"cancel", FAST_KW(future_cancel_meth), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Cancel the future and schedule callbacks.")},
    {"cancelled", future_cancelled_meth, METH_NOARGS,
     PyDoc_STR("Return True if the future was cancelled.")},
    {"done", future_done_meth, METH_NOARGS,
     PyDoc_STR("Return True if the future is done.")},
    {"get_loop", future_get_loop_meth, METH_NOARGS,
     PyDoc_STR("Return the event loop the Future is bound to.")},
    {"_make_cancelled_error", future_make_cancelled_error_meth, METH_NOARGS,
     PyDoc_STR("Create the CancelledError to raise if the Future is "
               "cancelled.")},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     PyDoc_STR("See PEP 585")},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(future_doc,
"Future(*, loop=None)\n--\n\n"
"This class is *almost* compatible with concurrent.futures.Future.\n\n"
"A C implementation of asyncio.Future: callbacks registered with\n"
"add_done_callback() are always called via the event loop's call_soon().");

static PyType_Slot future_slots[] = {
    {Py_tp_new, future_new},
    {Py_tp_init, future_tp_init},
    {Py_tp_dealloc, future_dealloc},
    {Py_tp_traverse, future_tp_traverse},
    {Py_tp_clear, future_tp_clear},
    {Py_tp_finalize, future_tp_finalize},
    {Py_tp_repr, future_repr},
    {Py_tp_iter, future_new_iter_impl},
    {Py_am_await, future_new_iter_impl},
    {Py_tp_methods, future_methods},
    {Py_tp_getset, future_getset},
    {Py_tp_doc, (void *)future_doc},
    {0, NULL},
};

static PyType_Spec future_spec = {
    .name = "pyasync._core.Future",
    .basicsize = sizeof(FutureObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = future_slots,
};

/* ---- module init ------------------------------------------------------ */

/* asyncio's C Future, checked to fit in front of pyasync's fields (a new
 * Python version may need PYASYNC_ASYNCIO_FUTURE_WORDS changed).  New
 * reference. */
static PyTypeObject *
asyncio_future_base(void)
{
    PyObject *base = pyasync_import_attr("_asyncio", "Future");
    if (base == NULL) {
        return NULL;
    }
    if (!PyType_Check(base)) {
        PyErr_SetString(PyExc_ImportError,
                        "_asyncio.Future is not a type");
        Py_DECREF(base);
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)base;
    if (tp->tp_basicsize > (Py_ssize_t)offsetof(FutureObj, loop)
        || tp->tp_itemsize != 0 || tp->tp_traverse == NULL
        || tp->tp_clear == NULL
        || !(tp->tp_flags & Py_TPFLAGS_BASETYPE)) {
        PyErr_Format(PyExc_ImportError,
                     "pyasync was built for an _asyncio.Future of at most "
                     "%zd bytes; this Python's is %zd bytes",
                     (Py_ssize_t)offsetof(FutureObj, loop),
                     tp->tp_basicsize);
        Py_DECREF(base);
        return NULL;
    }
    return tp;
}

int
pyasync_future_init(PyObject *module, pyasync_state *st)
{
#if PY_VERSION_HEX >= 0x030E0000
    if (awaited_by_setup(st) < 0) {
        return -1;
    }
#endif
    st->str_get_debug = PyUnicode_InternFromString("get_debug");
    st->str_call_exception_handler =
        PyUnicode_InternFromString("call_exception_handler");
    if (st->str_get_debug == NULL || st->str_call_exception_handler == NULL) {
        return -1;
    }
    st->FutureIter_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &futureiter_spec, NULL);
    if (st->FutureIter_Type == NULL) {
        return -1;
    }
    PyTypeObject *base = asyncio_future_base();
    if (base == NULL) {
        return -1;
    }
    st->asyncio_future_traverse = base->tp_traverse;
    st->asyncio_future_clear = base->tp_clear;
    st->asyncio_future_visits_type =
        (base->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
    st->Future_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &future_spec, (PyObject *)base);
    Py_DECREF(base);
    if (st->Future_Type == NULL) {
        return -1;
    }
    /* No spec slot for this before 3.14; subclasses do not inherit it. */
    st->Future_Type->tp_vectorcall = future_vectorcall;
    return PyModule_AddType(module, st->Future_Type);
}
