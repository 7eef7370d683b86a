/* waiter.c: the C coroutine behind the primitives' async methods, and the
 * helpers they share (futures, loop binding, waiter deques, reprs).
 *
 * A SyncCoro is a ccoro (ccoro.h) whose engine step runs the method's
 * step function: that one keeps its state in the sync_coro fields, awaits
 * with sync_await() and finishes with sync_return() or SYNC_ERROR. */
#include "sync/waiter.h"
#include "core/future.h"
#include "diag/introspect.h"
#include "diag/lock_diag.h"

/* ---- futures -------------------------------------------------------- */

PyObject *
sync_future_new(pyasync_state *st, PyObject *loop)
{
    PyObject *fut = pyasync_loop_create_future_fast(st, loop);
    if (fut != NULL || PyErr_Occurred()) {
        return fut;
    }
    return PyObject_CallMethodNoArgs(loop, st->str_create_future);
}

static int
call_bool_method(PyObject *obj, PyObject *name)
{
    PyObject *res = PyObject_CallMethodNoArgs(obj, name);
    if (res == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(res);
    Py_DECREF(res);
    return b;
}

int
sync_future_done(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = ccoro_exact_future(st, fut);
    if (f != NULL) {
        return FT_LOAD_ENUM(f->state) != FUTURE_PENDING;
    }
    return call_bool_method(fut, st->str_done);
}

int
sync_future_cancelled(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = ccoro_exact_future(st, fut);
    if (f != NULL) {
        return FT_LOAD_ENUM(f->state) == FUTURE_CANCELLED;
    }
    return call_bool_method(fut, st->str_cancelled);
}

int
sync_future_set_result(pyasync_state *st, PyObject *fut, PyObject *v)
{
    /* Task.set_result raises: only a plain Future takes the C path. */
    if (Py_IS_TYPE(fut, st->Future_Type) && ((FutureObj *)fut)->loop != NULL) {
        return future_set_result((FutureObj *)fut, v);
    }
    PyObject *res = PyObject_CallMethodOneArg(fut, st->str_set_result, v);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
sync_future_cancel(pyasync_state *st, PyObject *fut)
{
    /* Task.cancel differs: only a plain Future takes the C path. */
    if (Py_IS_TYPE(fut, st->Future_Type) && ((FutureObj *)fut)->loop != NULL) {
        return future_cancel((FutureObj *)fut, Py_None) < 0 ? -1 : 0;
    }
    PyObject *res = PyObject_CallMethodNoArgs(fut, st->str_cancel);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* ---- loop binding, waiters, reprs ------------------------------------ */

PyObject *
sync_get_loop(pyasync_state *st, PyObject *self, PyObject **slot)
{
    PyObject *loop = PyObject_CallNoArgs(st->sync_get_running_loop);
    if (loop == NULL) {
        return NULL;
    }
    /* Bound once, by one thread (asyncio's mixin takes a global lock). */
    PyObject *unbound = NULL;
    int other;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (*slot == NULL || *slot == Py_None) {
        unbound = *slot;
        *slot = Py_NewRef(loop);
    }
    other = loop != *slot;
    Py_END_CRITICAL_SECTION();
    Py_XDECREF(unbound);
    if (other) {
        Py_DECREF(loop);
        PyObject *r = PyObject_Repr(self);
        if (r != NULL) {
            PyErr_Format(PyExc_RuntimeError,
                         "%U is bound to a different event loop", r);
            Py_DECREF(r);
        }
        return NULL;
    }
    return loop;
}

int
sync_diag_before_wait(pyasync_state *st, PyObject *self, PyObject **slot)
{
    PyObject *loop = sync_get_loop(st, self, slot);
    if (loop == NULL) {
        return -1;
    }
    Py_DECREF(loop);
    return pyasync_diag_before_wait(st, self);
}

PyObject *
sync_deque_new(pyasync_state *st)
{
    return PyObject_CallNoArgs(st->sync_deque_type);
}

/* dq.<name>(*args) (nargs 0 or 1); for an exact deque through the method
 * descriptor cached at init, which skips the attribute lookup. */
static PyObject *
deque_call(pyasync_state *st, PyObject *descr, PyObject *name, PyObject *dq,
           PyObject *arg)
{
    PyObject *args[2] = {dq, arg};
    size_t n = arg != NULL ? 2 : 1;
    if (Py_IS_TYPE(dq, (PyTypeObject *)st->sync_deque_type)) {
        return PyObject_Vectorcall(descr, args, n, NULL);
    }
    return PyObject_VectorcallMethod(name, args, n, NULL);
}

static int
deque_call_void(pyasync_state *st, PyObject *descr, PyObject *name,
                PyObject *dq, PyObject *arg)
{
    PyObject *res = deque_call(st, descr, name, dq, arg);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
sync_deque_append(pyasync_state *st, PyObject *dq, PyObject *item)
{
    return deque_call_void(st, st->sync_deque_append, st->str_append, dq,
                           item);
}

PyObject *
sync_deque_popleft(pyasync_state *st, PyObject *dq)
{
    return deque_call(st, st->sync_deque_popleft, st->str_popleft, dq, NULL);
}

int
sync_waiters_append(pyasync_state *st, PyObject *waiters, PyObject *fut)
{
    return sync_deque_append(st, waiters, fut);
}

int
sync_waiters_remove(pyasync_state *st, PyObject *waiters, PyObject *fut)
{
    if (waiters == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_waiters");
        return -1;
    }
    return deque_call_void(st, st->sync_deque_remove, st->str_remove,
                           waiters, fut);
}

PyObject *
sync_waiters_first(pyasync_state *st, PyObject *waiters)
{
    if (waiters == NULL || waiters == Py_None) {
        return NULL;
    }
    if (Py_IS_TYPE(waiters, (PyTypeObject *)st->sync_deque_type)) {
        /* deque[0] is O(1) and makes no iterator object. */
        if (PyObject_Length(waiters) <= 0) {
            return NULL;
        }
        return PySequence_GetItem(waiters, 0);
    }
    PyObject *it = PyObject_GetIter(waiters);
    if (it == NULL) {
        return NULL;
    }
    PyObject *first = PyIter_Next(it);
    Py_DECREF(it);
    return first;
}

Py_ssize_t
sync_waiters_len(PyObject *waiters)
{
    if (waiters == NULL || waiters == Py_None) {
        return 0;
    }
    return PyObject_Length(waiters);
}

int
sync_waiters_all_cancelled(pyasync_state *st, PyObject *waiters)
{
    if (waiters == NULL || waiters == Py_None) {
        return 1;
    }
    PyObject *it = PyObject_GetIter(waiters);
    if (it == NULL) {
        return -1;
    }
    PyObject *w;
    int all = 1;
    while ((w = PyIter_Next(it)) != NULL) {
        int c = sync_future_cancelled(st, w);
        Py_DECREF(w);
        if (c <= 0) {
            all = c;
            break;
        }
    }
    Py_DECREF(it);
    if (all >= 0 && PyErr_Occurred()) {
        return -1;
    }
    return all;
}

int
sync_wait_new_future(sync_coro *c, PyObject **waiters, PyObject **loop_slot,
                     int make_deque)
{
    pyasync_state *st = c->st;
    if (make_deque && (*waiters == NULL || *waiters == Py_None)) {
        PyObject *dq = sync_deque_new(st);
        if (dq == NULL) {
            return SYNC_ERROR;
        }
        Py_XSETREF(*waiters, dq);
    }
    PyObject *loop = sync_get_loop(st, c->self, loop_slot);
    if (loop == NULL) {
        return SYNC_ERROR;
    }
    Py_XSETREF(c->fut, sync_future_new(st, loop));
    Py_DECREF(loop);
    if (c->fut == NULL) {
        return SYNC_ERROR;
    }
    if (*waiters == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_waiters");
        return SYNC_ERROR;
    }
    if (sync_waiters_append(st, *waiters, c->fut) < 0) {
        return SYNC_ERROR;
    }
    c->state = 1;
    return sync_await(c, c->fut);
}

int
sync_wait_finally(sync_coro *c, PyObject *value, PyObject *waiters,
                  PyObject **exc)
{
    *exc = value == NULL ? sync_fetch_exception() : NULL;
    if (sync_waiters_remove(c->st, waiters, c->fut) < 0) {
        if (*exc != NULL) {
            sync_chain_exception(*exc);
            *exc = NULL;
        }
        return -1;
    }
    return 0;
}

PyObject *
sync_repr_extra(PyObject *self, PyObject *extra)
{
    if (extra == NULL) {
        return NULL;
    }
    PyObject *res = NULL;
    /* object.__repr__ names the class by __module__ and __qualname__. */
    PyObject *base = PyBaseObject_Type.tp_repr(self);
    if (base != NULL) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(base);
        PyObject *head = PyUnicode_Substring(base, 0, n - 1);
        Py_DECREF(base);
        if (head != NULL) {
            res = PyUnicode_FromFormat("%U [%U]>", head, extra);
            Py_DECREF(head);
        }
    }
    Py_DECREF(extra);
    return res;
}

PyObject *
sync_extra_waiters(PyObject *extra, PyObject *waiters)
{
    if (extra == NULL) {
        return NULL;
    }
    Py_ssize_t n = sync_waiters_len(waiters);
    if (n < 0) {
        Py_DECREF(extra);
        return NULL;
    }
    if (n == 0) {
        return extra;
    }
    PyObject *res = PyUnicode_FromFormat("%U, waiters:%zd", extra, n);
    Py_DECREF(extra);
    return res;
}

PyObject *
sync_call_method0(PyObject *self, PyObject *name)
{
    return PyObject_CallMethodNoArgs(self, name);
}

PyObject *
sync_call_method1(PyObject *self, PyObject *name, PyObject *arg)
{
    return PyObject_CallMethodOneArg(self, name, arg);
}

int
sync_check_no_args(const char *cls, PyObject *args, PyObject *kwds)
{
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        PyDict_Next(kwds, &pos, &key, &value);
        PyErr_Format(PyExc_TypeError,
                     "%s.__init__() got an unexpected keyword argument '%S'",
                     cls, key);
        return -1;
    }
    if (args != NULL && PyTuple_GET_SIZE(args) > 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s.__init__() takes 1 positional argument but %zd were "
                     "given", cls, PyTuple_GET_SIZE(args) + 1);
        return -1;
    }
    return 0;
}

int
sync_parse_init_arg(const char *cls, PyObject *args, PyObject *kwds,
                    const char *name, int required, PyObject **out)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    *out = NULL;
    if (nargs > 1) {
        if (required) {
            PyErr_Format(PyExc_TypeError, "%s.__init__() takes 2 positional "
                         "arguments but %zd were given", cls, nargs + 1);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s.__init__() takes from 1 to 2 "
                         "positional arguments but %zd were given",
                         cls, nargs + 1);
        }
        return -1;
    }
    if (nargs == 1) {
        *out = PyTuple_GET_ITEM(args, 0);
    }
    if (kwds != NULL) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(kwds, &pos, &key, &value)) {
            if (!PyUnicode_Check(key)
                || !sync_str_equal(key, name)) {
                PyErr_Format(PyExc_TypeError, "%s.__init__() got an "
                             "unexpected keyword argument '%S'", cls, key);
                return -1;
            }
            if (*out != NULL) {
                PyErr_Format(PyExc_TypeError, "%s.__init__() got multiple "
                             "values for argument '%s'", cls, name);
                return -1;
            }
            *out = value;
        }
    }
    if (*out == NULL && required) {
        PyErr_Format(PyExc_TypeError, "%s.__init__() missing 1 required "
                     "positional argument: '%s'", cls, name);
        return -1;
    }
    return 0;
}

/* Types are made as "pyasync.Lock" (so __module__ is "pyasync"), then
 * tp_name is cut to the class name, as for a Python class, so messages
 * such as "object Lock can't be used in 'await' expression" match
 * asyncio's.  spec->name is static, so the suffix outlives the type. */
PyObject *
sync_add_type(PyObject *module, PyType_Spec *spec, PyObject *base)
{
    PyObject *tp = PyType_FromModuleAndSpec(module, spec, base);
    if (tp == NULL) {
        return NULL;
    }
    const char *dot = strrchr(spec->name, '.');
    if (dot != NULL) {
        ((PyTypeObject *)tp)->tp_name = dot + 1;
    }
    if (PyModule_AddType(module, (PyTypeObject *)tp) < 0) {
        Py_DECREF(tp);
        return NULL;
    }
    return tp;
}

int
sync_head_traverse(sync_obj *o, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(o));
    Py_VISIT(o->loop);
    Py_VISIT(o->dict);
    return 0;
}

void
sync_head_clear(sync_obj *o)
{
    Py_CLEAR(o->loop);
    Py_CLEAR(o->dict);
}

int
sync_wobj_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((sync_wobj *)self)->waiters);
    return sync_head_traverse((sync_obj *)self, visit, arg);
}

int
sync_wobj_clear(PyObject *self)
{
    Py_CLEAR(((sync_wobj *)self)->waiters);
    sync_head_clear((sync_obj *)self);
    return 0;
}

SYNC_DEFINE_DEALLOC(wobj_dealloc, sync_wobj_clear)

void
sync_wobj_dealloc(PyObject *self)
{
    wobj_dealloc(self);
}

int
sync_head_init(sync_obj *o)
{
    if (o->st == NULL) {
        o->st = pyasync_state_from_type(Py_TYPE(o));
        if (o->st == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ---- SyncCoro ------------------------------------------------------- */

/* The engine's step (ccoro.h): run the primitive's step function and
 * translate its SYNC_* outcome. */
static int
sync_coro_step(ccoro *co, PyObject *value, PyObject **out)
{
    sync_coro *c = (sync_coro *)co;
    int rc;
    if (c->self == NULL) {      /* cleared by the collector */
        PyErr_SetString(PyExc_RuntimeError, "coroutine was cleared");
        return CCORO_ERROR;
    }
    /* In the primitive's critical section (waiter.h). */
    Py_BEGIN_CRITICAL_SECTION(c->self);
    rc = c->sync_step(c, value);
    Py_END_CRITICAL_SECTION();
    if (rc == SYNC_AWAIT && c->next != NULL) {
        *out = c->next;
        c->next = NULL;
        return CCORO_AWAIT;
    }
    if (rc == SYNC_AWAIT) {
        PyErr_SetString(PyExc_SystemError, "SYNC_AWAIT without sync_await");
        rc = SYNC_ERROR;
    }
    /* Finished: drop what it no longer needs. */
    Py_CLEAR(c->next);
    Py_CLEAR(c->fut);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->exc);
    if (rc == SYNC_RETURN) {
        *out = c->result != NULL ? c->result : Py_NewRef(Py_None);
        c->result = NULL;
        return CCORO_RETURN;
    }
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_SystemError, "step failed without an error");
    }
    return CCORO_ERROR;
}

PyObject *
sync_coro_new(pyasync_state *st, sync_step_fn step, const char *qualname,
              PyObject *self, PyObject *arg)
{
    PyTypeObject *tp = (PyTypeObject *)st->SyncCoro_Type;
    sync_coro *c = st->sync_coro_free;
    if (c != NULL) {
        /* Reuse a freed one: no allocation and no GC generation count. */
        st->sync_coro_free = (void *)c->self;
        st->sync_coro_nfree--;
        (void)PyObject_Init((PyObject *)c, tp);
    }
    else {
        c = PyObject_GC_New(sync_coro, tp);
        if (c == NULL) {
            return NULL;
        }
    }
    ccoro_init((ccoro *)c, st, sync_coro_step, qualname);
    c->sync_step = step;
    c->self = Py_XNewRef(self);
    c->next = NULL;
    c->fut = NULL;
    c->arg = Py_XNewRef(arg);
    c->result = NULL;
    c->exc = NULL;
    c->index = 0;
    c->flag = 0;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

int
sync_await(sync_coro *c, PyObject *awaitable)
{
    /* The engine checks it is awaitable; a TypeError comes back into the
     * step function, as it would raise at a Python `await`. */
    Py_XSETREF(c->next, Py_NewRef(awaitable));
    return SYNC_AWAIT;
}

int
sync_return(sync_coro *c, PyObject *value)
{
    Py_XSETREF(c->result, Py_XNewRef(value));
    return SYNC_RETURN;
}

/* The current exception, normalized with its traceback attached. */
PyObject *
sync_fetch_exception(void)
{
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_NormalizeException(&type, &val, &tb);
    if (tb != NULL && val != NULL) {
        PyException_SetTraceback(val, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return val;
}

void
sync_restore_exception(PyObject *exc)
{
    /* A re-raise: PyErr_Restore, so no implicit __context__ is added. */
    PyObject *type = Py_NewRef((PyObject *)Py_TYPE(exc));
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
}

void
sync_chain_exception(PyObject *exc)
{
    PyObject *now = sync_fetch_exception();
    if (now == NULL) {
        sync_restore_exception(exc);
        return;
    }
    if (now != exc) {
        PyException_SetContext(now, exc);   /* steals exc */
    }
    else {
        Py_DECREF(exc);
    }
    sync_restore_exception(now);
}

static int
aenter_step(sync_coro *c, PyObject *value)
{
    if (value == NULL) {
        return SYNC_ERROR;
    }
    if (c->state == 0) {
        PyObject *aw = PyObject_CallMethodNoArgs(c->self, c->st->str_acquire);
        if (aw == NULL) {
            return SYNC_ERROR;
        }
        c->state = 1;
        int rc = sync_await(c, aw);
        Py_DECREF(aw);
        return rc;
    }
    return sync_return(c, Py_None);
}

static int
aexit_step(sync_coro *c, PyObject *value)
{
    if (value == NULL) {
        return SYNC_ERROR;
    }
    PyObject *r = PyObject_CallMethodNoArgs(c->self, c->st->str_release);
    if (r == NULL) {
        return SYNC_ERROR;
    }
    Py_DECREF(r);
    return sync_return(c, Py_None);
}

PyObject *
sync_generic_aenter(pyasync_state *st, PyObject *self)
{
    return sync_coro_new(st, aenter_step, "_ContextManagerMixin.__aenter__",
                         self, NULL);
}

PyObject *
sync_generic_aexit(pyasync_state *st, PyObject *self)
{
    return sync_coro_new(st, aexit_step, "_ContextManagerMixin.__aexit__",
                         self, NULL);
}

static int
coro_traverse(sync_coro *c, visitproc visit, void *arg)
{
    Py_VISIT(c->self);
    Py_VISIT(c->next);
    Py_VISIT(c->fut);
    Py_VISIT(c->arg);
    Py_VISIT(c->result);
    Py_VISIT(c->exc);
    return ccoro_traverse((ccoro *)c, visit, arg);
}

static int
coro_clear(sync_coro *c)
{
    ccoro_clear((ccoro *)c);
    Py_CLEAR(c->self);
    Py_CLEAR(c->next);
    Py_CLEAR(c->fut);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->result);
    Py_CLEAR(c->exc);
    return 0;
}

/* How many freed SyncCoros a module keeps for reuse. */
#ifdef Py_GIL_DISABLED
/* None free-threaded: the list would be shared by every thread's deallocs
 * (and mimalloc's per-thread heaps make allocation cheap there). */
#define SYNC_CORO_FREE_MAX 0
#else
#define SYNC_CORO_FREE_MAX 1024
#endif

static void
coro_dealloc(PyObject *self)
{
    sync_coro *c = (sync_coro *)self;
    PyTypeObject *tp = Py_TYPE(self);
    if (ccoro_dealloc_begin(self) < 0) {
        return;   /* resurrected */
    }
    (void)coro_clear(c);
    pyasync_state *st = c->st;
    /* Only memory never finalized may be reused: the flag would stick. */
    if (st->sync_coro_nfree < SYNC_CORO_FREE_MAX
        && !PyObject_GC_IsFinalized(self)) {
        c->self = st->sync_coro_free;   /* the list's link */
        st->sync_coro_free = c;
        st->sync_coro_nfree++;
    }
    else {
        tp->tp_free(self);
    }
    Py_DECREF(tp);
}

void
pyasync_sync_free(pyasync_state *st)
{
    while (st->sync_coro_free != NULL) {
        sync_coro *c = st->sync_coro_free;
        st->sync_coro_free = (void *)c->self;
        PyObject_GC_Del(c);
    }
    st->sync_coro_nfree = 0;
}

static PyObject *
coro_repr(PyObject *self)
{
    sync_coro *c = (sync_coro *)self;
    return PyUnicode_FromFormat("<coroutine object %s at %p>", c->qualname, c);
}

/* ---- init ------------------------------------------------------------ */

static PyObject *
sync_coro_view(PyObject *coro)
{
    sync_coro *c = (sync_coro *)coro;
    return Py_BuildValue("{s:s,s:s,s:O,s:O,s:O}", "kind", "sync",
                         "qualname", c->qualname != NULL ? c->qualname : "",
                         "self", view_field(c->self),
                         "fut", view_field(c->fut),
                         "arg", view_field(c->arg));
}

int
pyasync_sync_init(PyObject *module, pyasync_state *st)
{
#define STR(field, text) \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) return -1
    STR(str_append, "append");
    STR(str_popleft, "popleft");
    STR(str_remove, "remove");
    STR(str_create_future, "create_future");
    STR(str_set_result, "set_result");
    STR(str_done, "done");
    STR(str_cancelled, "cancelled");
    STR(str_acquire, "acquire");
    STR(str_release, "release");
    STR(str_locked, "locked");
    STR(str_close, "close");
    STR(str_init_hook, "_init");
    STR(str_put_hook, "_put");
    STR(str_get_hook, "_get");
    STR(str_qsize, "qsize");
    STR(str_full, "full");
    STR(str_empty, "empty");
    STR(str_wait, "wait");
    STR(str_value, "value");
    STR(str_clear, "clear");
    STR(str_set, "set");
    STR(str_put_nowait, "put_nowait");
    STR(str_get_nowait, "get_nowait");
#undef STR
#define LOOKUP(field, module, name) \
    if ((st->field = pyasync_import_attr(module, name)) == NULL) return -1
    LOOKUP(sync_get_running_loop, "asyncio.events", "_get_running_loop");
    LOOKUP(sync_deque_type, "collections", "deque");
#define DEQUE_METHOD(field, name) \
    if ((st->field = PyObject_GetAttrString(st->sync_deque_type, name)) \
        == NULL) return -1
    DEQUE_METHOD(sync_deque_append, "append");
    DEQUE_METHOD(sync_deque_popleft, "popleft");
    DEQUE_METHOD(sync_deque_remove, "remove");
#undef DEQUE_METHOD
    LOOKUP(sync_heappush, "heapq", "heappush");
    LOOKUP(sync_heappop, "heapq", "heappop");
    LOOKUP(BrokenBarrierError, "asyncio.exceptions", "BrokenBarrierError");
    LOOKUP(QueueEmpty, "asyncio.queues", "QueueEmpty");
    LOOKUP(QueueFull, "asyncio.queues", "QueueFull");
#if PY_VERSION_HEX >= 0x030D0000
    LOOKUP(QueueShutDown, "asyncio.queues", "QueueShutDown");
#endif
    LOOKUP(sync_barrier_states, "asyncio.locks", "_BarrierState");
#undef LOOKUP
    st->SyncCoro_Type = (PyObject *)ccoro_type_new(
        module, "pyasync._core.SyncCoroutine", sizeof(sync_coro),
        (traverseproc)coro_traverse, (inquiry)coro_clear, coro_dealloc,
        coro_repr);
    if (st->SyncCoro_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, (PyTypeObject *)st->SyncCoro_Type,
                              sync_coro_view) < 0) {
        return -1;
    }
    return 0;
}
