/* waiter.c: the C coroutine behind the primitives' async methods, and the
 * helpers they share (futures, loop binding, waiter deques, reprs).
 *
 * A SyncCoro behaves like `yield from` in a generator: what it awaits
 * (a future's __await__ iterator, another coroutine) is kept in c->sub and
 * sent/thrown into until it finishes; its outcome is handed to the step
 * function, which decides what to await next or how to finish. */
#include "waiter.h"
#include "future.h"

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

/* fut as an initialised pyasync Future or Task of exactly those types,
 * whose methods the helpers below may skip; NULL otherwise. */
static inline FutureObj *
exact_future(pyasync_state *st, PyObject *fut)
{
    if ((Py_IS_TYPE(fut, st->Future_Type) || Py_IS_TYPE(fut, st->Task_Type))
        && ((FutureObj *)fut)->loop != NULL) {
        return (FutureObj *)fut;
    }
    return NULL;
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
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return f->state != FUTURE_PENDING;
    }
    return call_bool_method(fut, st->str_done);
}

int
sync_future_cancelled(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return f->state == FUTURE_CANCELLED;
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
    if (*slot == NULL || *slot == Py_None) {
        Py_XSETREF(*slot, Py_NewRef(loop));
    }
    if (loop != *slot) {
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

PyObject *
sync_coro_new(pyasync_state *st, sync_step_fn step, const char *qualname,
              PyObject *self, PyObject *arg)
{
    PyTypeObject *tp = (PyTypeObject *)st->SyncCoro_Type;
    sync_coro *c = st->sync_coro_free;
    if (c != NULL) {
        /* Reuse a freed one: no allocation and no GC generation count. */
        st->sync_coro_free = (void *)c->st;
        st->sync_coro_nfree--;
        (void)PyObject_Init((PyObject *)c, tp);
    }
    else {
        c = PyObject_GC_New(sync_coro, tp);
        if (c == NULL) {
            return NULL;
        }
    }
    c->st = st;
    c->step = step;
    c->qualname = qualname;
    c->self = Py_XNewRef(self);
    c->sub = NULL;
    c->fut = NULL;
    c->arg = Py_XNewRef(arg);
    c->result = NULL;
    c->exc = NULL;
    c->weakreflist = NULL;
    c->index = 0;
    c->state = 0;
    c->flag = 0;
    c->started = 0;
    c->running = 0;
    c->finished = 0;
    c->sub_future = 0;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

int
sync_await(sync_coro *c, PyObject *awaitable)
{
    PyObject *it;
    PyTypeObject *tp = Py_TYPE(awaitable);
    if (exact_future(c->st, awaitable) != NULL) {
        /* Driven by future_step(): no FutureIter object per wait. */
        Py_XSETREF(c->sub, Py_NewRef(awaitable));
        c->sub_future = 1;
        return SYNC_AWAIT;
    }
    c->sub_future = 0;
    if (PyCoro_CheckExact(awaitable)
        || tp == (PyTypeObject *)c->st->SyncCoro_Type) {
        it = Py_NewRef(awaitable);
    }
    else if (tp->tp_as_async != NULL && tp->tp_as_async->am_await != NULL) {
        it = tp->tp_as_async->am_await(awaitable);
        if (it == NULL) {
            return SYNC_ERROR;
        }
        if (!PyIter_Check(it)) {
            PyErr_Format(PyExc_TypeError,
                         "__await__() returned non-iterator of type '%.100s'",
                         Py_TYPE(it)->tp_name);
            Py_DECREF(it);
            return SYNC_ERROR;
        }
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "object %.100s can't be used in 'await' expression",
                     tp->tp_name);
        return SYNC_ERROR;
    }
    Py_XSETREF(c->sub, it);
    return SYNC_AWAIT;
}

int
sync_return(sync_coro *c, PyObject *value)
{
    Py_XSETREF(c->result, Py_XNewRef(value));
    return SYNC_RETURN;
}

static PySendResult coro_advance(sync_coro *c, PyObject *value,
                                 PyObject **out);

/* The value of the StopIteration being raised (new reference), clearing it. */
static PyObject *
fetch_stop_iteration_value(void)
{
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_NormalizeException(&type, &val, &tb);
    PyObject *res = NULL;
    if (val != NULL) {
        res = PyObject_GetAttrString(val, "value");
    }
    Py_XDECREF(type);
    Py_XDECREF(val);
    Py_XDECREF(tb);
    if (res == NULL) {
        PyErr_Clear();
        res = Py_NewRef(Py_None);
    }
    return res;
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

/* Close the sub-iterator, as `yield from` does on GeneratorExit. */
static int
close_sub(sync_coro *c)
{
    PyObject *sub = c->sub;
    if (Py_TYPE(sub) == (PyTypeObject *)c->st->SyncCoro_Type) {
        PyObject *r = PyObject_CallMethodNoArgs(sub, c->st->str_close);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    PyObject *meth;
    if (sync_lookup_attr(sub, c->st->str_close, &meth) < 0) {
        return -1;
    }
    if (meth == NULL) {
        return 0;
    }
    PyObject *r = PyObject_CallNoArgs(meth);
    Py_DECREF(meth);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Throw the current exception into c->sub. */
static PySendResult
throw_into_sub(sync_coro *c, PyObject **out)
{
    PyObject *sub = c->sub;
    *out = NULL;
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        /* `yield from` closes the delegate, then raises here. */
        PyObject *exc = sync_fetch_exception();
        if (close_sub(c) < 0) {
            Py_XDECREF(exc);
            return PYGEN_ERROR;
        }
        sync_restore_exception(exc);
        return PYGEN_ERROR;
    }
    if (Py_TYPE(sub) == (PyTypeObject *)c->st->SyncCoro_Type) {
        return coro_advance((sync_coro *)sub, NULL, out);
    }
    PyObject *exc = sync_fetch_exception();
    if (exc == NULL) {
        PyErr_SetString(PyExc_SystemError, "throw without an exception");
        return PYGEN_ERROR;
    }
    PyObject *meth;
    if (sync_lookup_attr(sub, c->st->str_throw, &meth) < 0) {
        Py_DECREF(exc);
        return PYGEN_ERROR;
    }
    if (meth == NULL) {
        sync_restore_exception(exc);
        return PYGEN_ERROR;
    }
    PyObject *res = PyObject_CallOneArg(meth, exc);
    Py_DECREF(meth);
    Py_DECREF(exc);
    if (res != NULL) {
        *out = res;
        return PYGEN_NEXT;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        *out = fetch_stop_iteration_value();
        return PYGEN_RETURN;
    }
    return PYGEN_ERROR;
}

/* What a FutureIter over c->sub (an exact pyasync future) would do when
 * sent a value: yield the pending future once, then return its result. */
static PySendResult
future_step(sync_coro *c, PyObject **out)
{
    FutureObj *fut = (FutureObj *)c->sub;
    *out = NULL;
    if (fut->state == FUTURE_PENDING) {
        if (!fut->blocking) {
            fut->blocking = 1;
            *out = Py_NewRef((PyObject *)fut);
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        return PYGEN_ERROR;
    }
    if (future_ensure_alive(fut) < 0) {
        return PYGEN_ERROR;
    }
    *out = future_get_result(fut);
    return *out != NULL ? PYGEN_RETURN : PYGEN_ERROR;
}

/* Run c until it suspends or finishes.  value is borrowed; NULL means
 * throw the current exception in.  Returns PYGEN_NEXT with *out = what it
 * yields, PYGEN_RETURN with *out = its result, or PYGEN_ERROR. */
static PySendResult
coro_advance(sync_coro *c, PyObject *value, PyObject **out)
{
    *out = NULL;
    if (c->running) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return PYGEN_ERROR;
    }
    if (c->finished) {
        if (value != NULL) {
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot reuse already awaited coroutine");
        }
        return PYGEN_ERROR;
    }
    if (!c->started) {
        c->started = 1;
        if (value == NULL) {
            /* Thrown in before the first step: nothing ran. */
            c->finished = 1;
            return PYGEN_ERROR;
        }
    }
    c->running = 1;
    Py_INCREF(c);
    Py_XINCREF(value);
    int rc;
    for (;;) {
        if (c->sub != NULL) {
            PyObject *res;
            PySendResult r;
            if (value != NULL) {
                r = c->sub_future ? future_step(c, &res)
                                  : PyIter_Send(c->sub, value, &res);
                Py_DECREF(value);
            }
            else if (c->sub_future) {
                /* Thrown in at the future's yield: it ends there. */
                res = NULL;
                r = PYGEN_ERROR;
            }
            else {
                r = throw_into_sub(c, &res);
            }
            value = NULL;
            if (r == PYGEN_NEXT) {
                c->running = 0;
                Py_DECREF(c);
                *out = res;
                return PYGEN_NEXT;
            }
            Py_CLEAR(c->sub);
            if (r == PYGEN_RETURN) {
                value = res;
            }
        }
        rc = c->step(c, value);
        Py_XDECREF(value);
        value = NULL;
        if (rc != SYNC_AWAIT) {
            break;
        }
        if (c->sub == NULL) {
            PyErr_SetString(PyExc_SystemError, "SYNC_AWAIT without sync_await");
            rc = SYNC_ERROR;
            break;
        }
        value = Py_NewRef(Py_None);
    }
    c->running = 0;
    c->finished = 1;
    /* Drop what the finished coroutine no longer needs. */
    Py_CLEAR(c->sub);
    Py_CLEAR(c->fut);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->exc);
    PySendResult r;
    if (rc == SYNC_RETURN) {
        *out = c->result != NULL ? c->result : Py_NewRef(Py_None);
        c->result = NULL;
        r = PYGEN_RETURN;
    }
    else {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "step failed without an error");
        }
        r = PYGEN_ERROR;
    }
    Py_DECREF(c);
    return r;
}

static int
check_first_send(sync_coro *c, PyObject *value)
{
    if (!c->started && value != Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "can't send non-None value to a just-started coroutine");
        return -1;
    }
    return 0;
}

/* The StopIteration carrying value (stolen) for send()/throw(). */
static PyObject *
raise_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    else {
        PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, value);
        if (e != NULL) {
            PyErr_SetObject(PyExc_StopIteration, e);
            Py_DECREF(e);
        }
    }
    Py_DECREF(value);
    return NULL;
}

static PyObject *
outcome_to_object(PySendResult r, PyObject *out)
{
    if (r == PYGEN_NEXT) {
        return out;
    }
    if (r == PYGEN_RETURN) {
        return raise_stop_iteration(out);
    }
    return NULL;
}

static PyObject *
coro_send(sync_coro *c, PyObject *value)
{
    if (check_first_send(c, value) < 0) {
        return NULL;
    }
    PyObject *out;
    PySendResult r = coro_advance(c, value, &out);
    return outcome_to_object(r, out);
}

static PySendResult
coro_am_send(PyObject *self, PyObject *value, PyObject **out)
{
    sync_coro *c = (sync_coro *)self;
    *out = NULL;
    if (check_first_send(c, value) < 0) {
        return PYGEN_ERROR;
    }
    return coro_advance(c, value, out);
}

static PyObject *
coro_iternext(sync_coro *c)
{
    PyObject *out;
    PySendResult r = coro_advance(c, Py_None, &out);
    if (r == PYGEN_NEXT) {
        return out;
    }
    if (r == PYGEN_RETURN) {
        if (out == Py_None) {
            Py_DECREF(out);
            return NULL;
        }
        return raise_stop_iteration(out);
    }
    return NULL;
}

/* throw(exc) / throw(type[, value[, tb]]) as generators take them. */
static PyObject *
coro_throw(sync_coro *c, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;
    PyObject *exc;
    if (tb != Py_None && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionInstance_Check(typ)) {
        if (val != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate value");
            return NULL;
        }
        exc = Py_NewRef(typ);
    }
    else if (PyExceptionClass_Check(typ)) {
        if (PyObject_TypeCheck(val, (PyTypeObject *)typ)) {
            exc = Py_NewRef(val);
        }
        else if (val == Py_None) {
            exc = PyObject_CallNoArgs(typ);
        }
        else if (PyTuple_Check(val)) {
            exc = PyObject_Call(typ, val, NULL);
        }
        else {
            exc = PyObject_CallOneArg(typ, val);
        }
        if (exc == NULL) {
            return NULL;
        }
        if (!PyExceptionInstance_Check(exc)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of "
                         "BaseException, not %s", typ, Py_TYPE(exc)->tp_name);
            Py_DECREF(exc);
            return NULL;
        }
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from "
                     "BaseException, not %s", Py_TYPE(typ)->tp_name);
        return NULL;
    }
    if (tb != Py_None) {
        PyException_SetTraceback(exc, tb);
    }
    sync_restore_exception(exc);
    PyObject *out;
    PySendResult r = coro_advance(c, NULL, &out);
    return outcome_to_object(r, out);
}

static PyObject *
coro_close(sync_coro *c, PyObject *Py_UNUSED(ignored))
{
    if (c->finished || !c->started) {
        c->started = 1;
        c->finished = 1;
        Py_RETURN_NONE;
    }
    PyErr_SetNone(PyExc_GeneratorExit);
    PyObject *out;
    PySendResult r = coro_advance(c, NULL, &out);
    if (r == PYGEN_NEXT) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "coroutine ignored GeneratorExit");
        return NULL;
    }
    if (r == PYGEN_RETURN) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)
        || PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

static PyObject *
coro_await(PyObject *self)
{
    return Py_NewRef(self);
}

static void
coro_finalize(PyObject *self)
{
    sync_coro *c = (sync_coro *)self;
    if (c->finished) {
        return;
    }
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    if (!c->started) {
        /* As for an `async def` coroutine dropped without being awaited. */
        if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                             "coroutine '%s' was never awaited",
                             c->qualname) < 0) {
            PyErr_WriteUnraisable(self);
        }
    }
    else {
        PyObject *res = coro_close(c, NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(self);
        }
        else {
            Py_DECREF(res);
        }
    }
    PyErr_Restore(type, val, tb);
}

static int
coro_traverse(sync_coro *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->self);
    Py_VISIT(c->sub);
    Py_VISIT(c->fut);
    Py_VISIT(c->arg);
    Py_VISIT(c->result);
    Py_VISIT(c->exc);
    return 0;
}

static int
coro_clear(sync_coro *c)
{
    Py_CLEAR(c->self);
    Py_CLEAR(c->sub);
    Py_CLEAR(c->fut);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->result);
    Py_CLEAR(c->exc);
    return 0;
}

/* How many freed SyncCoros a module keeps for reuse. */
#define SYNC_CORO_FREE_MAX 32

static void
coro_dealloc(PyObject *self)
{
    sync_coro *c = (sync_coro *)self;
    PyTypeObject *tp = Py_TYPE(self);
    /* A finished coroutine has nothing to finalize. */
    if (!c->finished && PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;   /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (c->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)coro_clear(c);
    pyasync_state *st = c->st;
    /* Only memory never finalized may be reused: the flag would stick. */
    if (st->sync_coro_nfree < SYNC_CORO_FREE_MAX
        && !PyObject_GC_IsFinalized(self)) {
        c->st = st->sync_coro_free;   /* the list's link */
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
        st->sync_coro_free = (void *)c->st;
        PyObject_GC_Del(c);
    }
    st->sync_coro_nfree = 0;
}

static PyObject *
coro_get_qualname(sync_coro *c, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(c->qualname);
}

static PyObject *
coro_get_name(sync_coro *c, void *Py_UNUSED(closure))
{
    const char *dot = strrchr(c->qualname, '.');
    return PyUnicode_FromString(dot != NULL ? dot + 1 : c->qualname);
}

static PyObject *
coro_get_running(sync_coro *c, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(c->running);
}

static PyObject *
coro_get_await(sync_coro *c, void *Py_UNUSED(closure))
{
    return Py_NewRef(c->sub != NULL ? c->sub : Py_None);
}

static PyObject *
coro_repr(sync_coro *c)
{
    return PyUnicode_FromFormat("<coroutine object %s at %p>", c->qualname, c);
}

static PyMethodDef coro_methods[] = {
    {"send", (PyCFunction)coro_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))coro_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)coro_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef coro_getset[] = {
    {"__qualname__", (getter)coro_get_qualname, NULL, NULL, NULL},
    {"__name__", (getter)coro_get_name, NULL, NULL, NULL},
    {"cr_running", (getter)coro_get_running, NULL, NULL, NULL},
    {"cr_await", (getter)coro_get_await, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef coro_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(sync_coro, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot coro_slots[] = {
    {Py_tp_doc, "A primitive's coroutine method in progress."},
    {Py_tp_dealloc, coro_dealloc},
    {Py_tp_finalize, coro_finalize},
    {Py_tp_traverse, coro_traverse},
    {Py_tp_clear, coro_clear},
    {Py_tp_repr, coro_repr},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, coro_iternext},
    {Py_tp_methods, coro_methods},
    {Py_tp_getset, coro_getset},
    {Py_tp_members, coro_members},
    {Py_am_await, coro_await},
    {Py_am_send, coro_am_send},
    {0, NULL},
};

static PyType_Spec coro_spec = {
    .name = "pyasync._core.SyncCoroutine",
    .basicsize = sizeof(sync_coro),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = coro_slots,
};

/* ---- init ------------------------------------------------------------ */

static PyObject *
import_attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *attr = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return attr;
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
    if ((st->field = import_attr(module, name)) == NULL) return -1
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
    LOOKUP(sync_barrier_states, "asyncio.locks", "_BarrierState");
#undef LOOKUP
    st->SyncCoro_Type = PyType_FromModuleAndSpec(module, &coro_spec, NULL);
    if (st->SyncCoro_Type == NULL) {
        return -1;
    }
    /* Tasks accept only coroutines (asyncio.iscoroutine). */
    PyObject *abc = import_attr("collections.abc", "Coroutine");
    if (abc == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethod(abc, "register", "O", st->SyncCoro_Type);
    Py_DECREF(abc);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}
