/* ccoro.c: the C coroutine object (see ccoro.h). */
#include "core/ccoro.h"
#include "core/future.h"
#include <structmember.h>

static PySendResult ccoro_am_send(PyObject *self, PyObject *arg,
                                  PyObject **out);

/* getattr(obj, name, None) without the AttributeError: 1 found, 0 not, -1. */
static inline int
lookup_attr(PyObject *obj, PyObject *name, PyObject **res)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, res);
#else
    return _PyObject_LookupAttr(obj, name, res);
#endif
}

static int
is_ccoro(PyObject *obj)
{
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    return am != NULL && am->am_send == ccoro_am_send;
}

/* Free-threaded, two threads may call into one coroutine at once (asyncio
 * forbids it; it must still not corrupt the coroutine).  The first claims
 * it for the whole call, the others get the ValueError a generator gives:
 * the check and the entry are one atomic step.  With the GIL the running
 * flag's check suffices: only one thread runs between them. */
#ifdef Py_GIL_DISABLED
static int
coro_claim(ccoro *co)
{
    uint8_t expected = 0;
    if (!_Py_atomic_compare_exchange_uint8(&co->claimed, &expected, 1)) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    return 0;
}

static void
coro_unclaim(ccoro *co)
{
    _Py_atomic_store_uint8(&co->claimed, 0);
}
#else
#define coro_claim(co) 0
#define coro_unclaim(co) ((void)0)
#endif

/* What `await obj` iterates: a coroutine itself, else obj.__await__(). */
static PyObject *
awaitable_iter(PyObject *obj)
{
    if (PyCoro_CheckExact(obj) || is_ccoro(obj)) {
        return Py_NewRef(obj);
    }
    if (PyGen_CheckExact(obj)) {
        /* A @types.coroutine generator is awaitable as it is. */
        PyObject *code = PyObject_GetAttrString(obj, "gi_code");
        if (code == NULL) {
            return NULL;
        }
        int flags = ((PyCodeObject *)code)->co_flags;
        Py_DECREF(code);
        if (flags & CO_ITERABLE_COROUTINE) {
            return Py_NewRef(obj);
        }
    }
    unaryfunc getter = NULL;
    if (Py_TYPE(obj)->tp_as_async != NULL) {
        getter = Py_TYPE(obj)->tp_as_async->am_await;
    }
    if (getter == NULL) {
        PyErr_Format(PyExc_TypeError,
                     "object %.100s can't be used in 'await' expression",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyObject *it = getter(obj);
    if (it == NULL) {
        return NULL;
    }
    if (PyCoro_CheckExact(it)) {
        Py_DECREF(it);
        PyErr_SetString(PyExc_TypeError,
                        "__await__() returned a coroutine");
        return NULL;
    }
    if (!PyIter_Check(it)) {
        PyErr_Format(PyExc_TypeError,
                     "__await__() returned non-iterator of type '%.100s'",
                     Py_TYPE(it)->tp_name);
        Py_DECREF(it);
        return NULL;
    }
    return it;
}

/* What a FutureIter over fut does when sent a value: yield the pending
 * future once, then return its result. */
static PySendResult
future_send(FutureObj *fut, PyObject **out)
{
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

static PySendResult
awaiting_send(ccoro *co, PyObject *value, PyObject **out)
{
    if (co->awaiting_kind == CCORO_AWAITING_FUTURE) {
        return future_send((FutureObj *)co->awaiting, out);
    }
    if (co->awaiting_kind == CCORO_AWAITING_BARE) {
        *out = Py_NewRef(value);   /* the value of the yield expression */
        return PYGEN_RETURN;
    }
    return PyIter_Send(co->awaiting, value, out);
}

/* Start awaiting obj (stolen).  0: co->awaiting is set; -1: an error. */
static int
start_awaiting(ccoro *co, PyObject *obj)
{
    if (ccoro_exact_future(co->st, obj) != NULL) {
        co->awaiting = obj;
        co->awaiting_kind = CCORO_AWAITING_FUTURE;
        return 0;
    }
    PyObject *it = awaitable_iter(obj);
    Py_DECREF(obj);
    if (it == NULL) {
        return -1;
    }
    co->awaiting = it;
    co->awaiting_kind = CCORO_AWAITING_ITER;
    return 0;
}

/* A coroutine that raises StopIteration raises RuntimeError instead. */
static void
replace_stop_iteration(void)
{
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        return;
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(v, tb);
    }
    PyErr_SetString(PyExc_RuntimeError, "coroutine raised StopIteration");
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    PyException_SetCause(v2, Py_NewRef(v));
    PyException_SetContext(v2, v);   /* steals v */
    Py_XDECREF(t);
    Py_XDECREF(tb);
    PyErr_Restore(t2, v2, tb2);
}

/* Run the step function from value (NULL: the current exception) until it
 * awaits something not yet done, returns or raises. */
static PySendResult
coro_resume(ccoro *co, PyObject *value, PyObject **out)
{
    PyObject *res = NULL;
    Py_XINCREF(value);
    FT_STORE_CHAR(co->running, 1);
    for (;;) {
        int r = co->step(co, value, &res);
        Py_XDECREF(value);
        value = NULL;
        if (r == CCORO_YIELD) {
            /* None marks the suspension; cr_await shows None, as a
             * generator's does at a bare yield. */
            co->awaiting = Py_NewRef(Py_None);
            co->awaiting_kind = CCORO_AWAITING_BARE;
            FT_STORE_CHAR(co->running, 0);
            *out = res;
            return PYGEN_NEXT;
        }
        if (r == CCORO_AWAIT) {
            if (start_awaiting(co, res) < 0) {
                continue;  /* the step sees the TypeError */
            }
            PyObject *yielded;
            PySendResult sr = awaiting_send(co, Py_None, &yielded);
            if (sr == PYGEN_NEXT) {
                FT_STORE_CHAR(co->running, 0);
                *out = yielded;
                return PYGEN_NEXT;
            }
            Py_CLEAR(co->awaiting);
            value = sr == PYGEN_RETURN ? yielded : NULL;
            continue;
        }
        FT_STORE_CHAR(co->running, 0);
        co->finished = 1;
        if (r == CCORO_RETURN) {
            *out = res;
            return PYGEN_RETURN;
        }
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError,
                            "coroutine step failed without an error");
        }
        replace_stop_iteration();
        *out = NULL;
        return PYGEN_ERROR;
    }
}

static int
coro_check_runnable(ccoro *co)
{
    if (FT_LOAD_CHAR(co->running)) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    if (co->finished) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited coroutine");
        return -1;
    }
    return 0;
}

/* send() when not suspended in an await: start, or the errors. */
static PySendResult
send_unsuspended(ccoro *co, PyObject *arg, PyObject **out)
{
    if (coro_check_runnable(co) < 0) {
        return PYGEN_ERROR;
    }
    if (!co->started) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started "
                            "coroutine");
            return PYGEN_ERROR;
        }
        co->started = 1;
        arg = Py_None;
    }
    return coro_resume(co, arg, out);
}

/* What it awaited finished with res (stolen; NULL: the current error). */
static PySendResult
resume_with(ccoro *co, PySendResult sr, PyObject *res, PyObject **out)
{
    Py_CLEAR(co->awaiting);
    sr = coro_resume(co, sr == PYGEN_RETURN ? res : NULL, out);
    Py_XDECREF(res);
    return sr;
}

static PySendResult
coro_send_impl(ccoro *co, PyObject *arg, PyObject **out)
{
    *out = NULL;
    if (co->awaiting == NULL || FT_LOAD_CHAR(co->running)) {
        return send_unsuspended(co, arg, out);
    }
    /* Suspended in an await (so started and not finished). */
    PyObject *res;
    FT_STORE_CHAR(co->running, 1);
    PySendResult sr = awaiting_send(co, arg, &res);
    FT_STORE_CHAR(co->running, 0);
    if (sr == PYGEN_NEXT) {
        *out = res;
        return sr;
    }
    return resume_with(co, sr, res, out);
}

static PySendResult
ccoro_am_send(PyObject *self, PyObject *arg, PyObject **out)
{
    ccoro *co = (ccoro *)self;
    if (coro_claim(co) < 0) {
        *out = NULL;
        return PYGEN_ERROR;
    }
    PySendResult sr = coro_send_impl(co, arg, out);
    coro_unclaim(co);
    return sr;
}

/* The StopIteration carrying value (a new reference, dropped) of a
 * coroutine that returned; always NULL. */
static PyObject *
raise_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    else {
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, value);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    Py_DECREF(value);
    return NULL;
}

static PyObject *
coro_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    if (ccoro_am_send(self, arg, &res) == PYGEN_RETURN) {
        return raise_stop_iteration(res);
    }
    return res;
}

static PyObject *
coro_iternext(PyObject *self)
{
    PyObject *res;
    if (ccoro_am_send(self, Py_None, &res) == PYGEN_RETURN) {
        if (res == Py_None) {
            Py_DECREF(res);   /* a plain StopIteration, left unset */
            return NULL;
        }
        return raise_stop_iteration(res);
    }
    return res;
}

static PySendResult coro_throw_current(ccoro *co, PyObject **out);
static int coro_close_impl(ccoro *co);

/* throw() and close() from outside the coroutine (its caller, or the
 * coroutine that awaits it), claimed as send() is. */
static PySendResult
claimed_throw_current(ccoro *co, PyObject **out)
{
    if (coro_claim(co) < 0) {
        *out = NULL;
        return PYGEN_ERROR;
    }
    PySendResult sr = coro_throw_current(co, out);
    coro_unclaim(co);
    return sr;
}

static int
claimed_close(ccoro *co)
{
    if (coro_claim(co) < 0) {
        return -1;
    }
    int rc = coro_close_impl(co);
    coro_unclaim(co);
    return rc;
}

/* Continue co after what it awaited (it, stolen) ended: with its result,
 * or with the current exception. */
static PySendResult
resume_after(ccoro *co, PyObject *it, PySendResult sr, PyObject *res,
             PyObject **out)
{
    if (sr == PYGEN_NEXT) {
        co->awaiting = it;
        *out = res;
        return PYGEN_NEXT;
    }
    Py_DECREF(it);
    if (sr == PYGEN_RETURN) {
        sr = coro_resume(co, res, out);
        Py_DECREF(res);
        return sr;
    }
    return coro_resume(co, NULL, out);
}

/* Throw the current exception into it (not a C coroutine) by its
 * throw() method, as `yield from` does. */
static PySendResult
throw_into_iter(ccoro *co, PyObject *it, PyObject **out)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(v, tb);
    }
    PyObject *throw;
    int found = lookup_attr(it, co->st->str_throw, &throw);
    if (found <= 0) {
        if (found == 0) {
            PyErr_Restore(t, v, tb);   /* no throw(): raise it here */
        }
        else {
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
        }
        Py_DECREF(it);
        return coro_resume(co, NULL, out);
    }
    FT_STORE_CHAR(co->running, 1);
    PyObject *res = PyObject_CallOneArg(throw, v);
    FT_STORE_CHAR(co->running, 0);
    Py_DECREF(throw);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    if (res != NULL) {
        return resume_after(co, it, PYGEN_NEXT, res, out);
    }
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        return resume_after(co, it, PYGEN_ERROR, NULL, out);
    }
    PyObject *st, *sv, *stb;
    PyErr_Fetch(&st, &sv, &stb);
    PyErr_NormalizeException(&st, &sv, &stb);
    PyObject *value = sv != NULL ? PyObject_GetAttrString(sv, "value") : NULL;
    Py_XDECREF(st);
    Py_XDECREF(sv);
    Py_XDECREF(stb);
    if (value == NULL) {
        return resume_after(co, it, PYGEN_ERROR, NULL, out);
    }
    return resume_after(co, it, PYGEN_RETURN, value, out);
}

/* The current exception goes into the coroutine: into what it awaits
 * first, then into its step function. */
static PySendResult
coro_throw_current(ccoro *co, PyObject **out)
{
    *out = NULL;
    if (coro_check_runnable(co) < 0) {
        return PYGEN_ERROR;
    }
    if (!co->started) {
        /* Thrown in before the body ran: it raises at the start. */
        co->started = 1;
        co->finished = 1;
        return PYGEN_ERROR;
    }
    PyObject *it = co->awaiting;
    co->awaiting = NULL;
    if (it == NULL) {
        return coro_resume(co, NULL, out);
    }
    if (co->awaiting_kind != CCORO_AWAITING_ITER) {
        /* Raised at the future's yield (which ends its iteration) or at
         * the bare yield. */
        Py_DECREF(it);
        return coro_resume(co, NULL, out);
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        /* Like yield from: close the iterator, then raise here; an error
         * from close() wins, with GeneratorExit as its context. */
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        int rc = 0;
        if (is_ccoro(it)) {
            rc = claimed_close((ccoro *)it);
        }
        else {
            PyObject *close;
            rc = lookup_attr(it, co->st->str_close, &close);
            if (rc > 0) {
                PyObject *res = PyObject_CallNoArgs(close);
                Py_DECREF(close);
                rc = res == NULL ? -1 : 0;
                Py_XDECREF(res);
            }
        }
        Py_DECREF(it);
        if (rc < 0) {
            PyErr_NormalizeException(&t, &v, &tb);
            PyObject *t2, *v2, *tb2;
            PyErr_Fetch(&t2, &v2, &tb2);
            PyErr_NormalizeException(&t2, &v2, &tb2);
            if (v2 != v) {
                PyException_SetContext(v2, Py_NewRef(v));
            }
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
            PyErr_Restore(t2, v2, tb2);
        }
        else {
            PyErr_Restore(t, v, tb);
        }
        return coro_resume(co, NULL, out);
    }
    if (is_ccoro(it)) {
        PyObject *res;
        FT_STORE_CHAR(co->running, 1);
        PySendResult sr = claimed_throw_current((ccoro *)it, &res);
        FT_STORE_CHAR(co->running, 0);
        return resume_after(co, it, sr, res, out);
    }
    return throw_into_iter(co, it, out);
}

/* throw(exc) or throw(type[, value[, tb]]), as generators accept. */
static int
set_thrown(PyObject *typ, PyObject *val, PyObject *tb)
{
    if (tb == Py_None) {
        tb = NULL;
    }
    if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return -1;
    }
    if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(
                PyExc_TypeError,
                "instance exception may not have a separate value");
            return -1;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    }
    else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val == Py_None ? NULL : val);
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from "
                     "BaseException, not %s", Py_TYPE(typ)->tp_name);
        return -1;
    }
    if (tb != NULL) {
        PyObject *t, *v, *otb;
        PyErr_Fetch(&t, &v, &otb);
        PyErr_NormalizeException(&t, &v, &otb);
        Py_XDECREF(otb);
        if (v != NULL) {
            PyException_SetTraceback(v, tb);
        }
        PyErr_Restore(t, v, Py_NewRef(tb));
    }
    return 0;
}

static PyObject *
coro_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at least 1 argument, got %zd", nargs);
        return NULL;
    }
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at most 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (set_thrown(args[0], nargs > 1 ? args[1] : NULL,
                   nargs > 2 ? args[2] : NULL) < 0) {
        return NULL;
    }
    PyObject *res;
    if (claimed_throw_current((ccoro *)self, &res) == PYGEN_RETURN) {
        /* Returned after catching: StopIteration(value), like send(). */
        return raise_stop_iteration(res);
    }
    return res;
}

static int
coro_close_impl(ccoro *co)
{
    if (co->finished || !co->started) {
        co->started = 1;
        co->finished = 1;
        return 0;
    }
    if (FT_LOAD_CHAR(co->running)) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    PyErr_SetNone(PyExc_GeneratorExit);
    PyObject *res;
    PySendResult sr = coro_throw_current(co, &res);
    if (sr == PYGEN_NEXT) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_RuntimeError, "coroutine ignored GeneratorExit");
        return -1;
    }
    if (sr == PYGEN_RETURN) {
        Py_DECREF(res);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)
        || PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static PyObject *
coro_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (claimed_close((ccoro *)self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
coro_get_qualname(PyObject *self, void *Py_UNUSED(closure))
{
    ccoro *co = (ccoro *)self;
    if (co->qualname != NULL) {
        return PyUnicode_FromString(co->qualname);
    }
    return PyType_GetName(Py_TYPE(self));
}

static PyObject *
coro_get_name(PyObject *self, void *Py_UNUSED(closure))
{
    ccoro *co = (ccoro *)self;
    if (co->qualname != NULL) {
        const char *dot = strrchr(co->qualname, '.');
        return PyUnicode_FromString(dot != NULL ? dot + 1 : co->qualname);
    }
    return PyType_GetName(Py_TYPE(self));
}

/* A suspended coroutine that is collected runs its cleanup, as a Python
 * coroutine runs its finally clauses; one never started warns. */
static void
coro_finalize(PyObject *self)
{
    ccoro *co = (ccoro *)self;
    if (co->finished) {
        return;
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (!co->started) {
        /* As for an `async def` coroutine that was never awaited. */
        PyObject *name = coro_get_qualname(self, NULL);
        if (name == NULL
            || PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                "coroutine '%U' was never awaited",
                                name) < 0) {
            PyErr_WriteUnraisable(self);
        }
        Py_XDECREF(name);
    }
    else if (coro_close_impl(co) < 0) {
        PyErr_WriteUnraisable(self);
    }
    PyErr_Restore(t, v, tb);
}

static PyObject *
coro_await(PyObject *self)
{
    return Py_NewRef(self);
}

static PyObject *
coro_get_running(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(FT_LOAD_CHAR(((ccoro *)self)->running));
}

static PyObject *
coro_get_await(PyObject *self, void *Py_UNUSED(closure))
{
    ccoro *co = (ccoro *)self;
    return Py_NewRef(co->awaiting != NULL ? co->awaiting : Py_None);
}

static PyMethodDef coro_methods[] = {
    {"send", coro_send, METH_O, "send(arg) -> send 'arg' into coroutine"},
    {"throw", (PyCFunction)(void (*)(void))coro_throw, METH_FASTCALL,
     "throw(typ[,val[,tb]]) -> raise exception in coroutine"},
    {"close", coro_close, METH_NOARGS,
     "close() -> raise GeneratorExit inside coroutine."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef coro_getset[] = {
    {"cr_running", coro_get_running, NULL, NULL, NULL},
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14's asyncio.capture_call_graph() takes an object with cr_await
     * for a coroutine with a frame (cr_frame), which a C coroutine has
     * not: under another name, the walk ends at the last Python frame
     * (pyasync.graph still follows it; docs/differences.md). */
    {"_cr_await", coro_get_await, NULL, NULL, NULL},
#else
    {"cr_await", coro_get_await, NULL, NULL, NULL},
#endif
    {"__name__", coro_get_name, NULL, NULL, NULL},
    {"__qualname__", coro_get_qualname, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef coro_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ccoro, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

int
ccoro_traverse(ccoro *co, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(co));
    Py_VISIT(co->awaiting);
    return 0;
}



void
ccoro_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (ccoro_dealloc_begin(self) < 0) {
        return;
    }
    (void)tp->tp_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}


PyTypeObject *
ccoro_type_new(PyObject *module, const char *name, Py_ssize_t basicsize,
               traverseproc traverse, inquiry clear, destructor dealloc,
               reprfunc repr)
{
    PyType_Slot slots[] = {
        {Py_tp_dealloc, dealloc != NULL ? dealloc : ccoro_dealloc},
        {Py_tp_traverse, traverse},
        {Py_tp_clear, clear},
        {Py_tp_finalize, coro_finalize},
        {Py_tp_iter, coro_await},
        {Py_tp_iternext, coro_iternext},
        {Py_tp_methods, coro_methods},
        {Py_tp_getset, coro_getset},
        {Py_tp_members, coro_members},
        {Py_am_await, coro_await},
        {Py_am_send, ccoro_am_send},
        {repr != NULL ? Py_tp_repr : 0, repr},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = name,
        .basicsize = (int)basicsize,
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
                 | Py_TPFLAGS_DISALLOW_INSTANTIATION
                 | Py_TPFLAGS_IMMUTABLETYPE,
        .slots = slots,
    };
    PyTypeObject *tp = (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec,
                                                                NULL);
    if (tp == NULL) {
        return NULL;
    }
    /* So asyncio.iscoroutine() and create_task() accept it. */
    PyObject *abc = PyImport_ImportModule("collections.abc");
    PyObject *coroutine = abc == NULL ? NULL
        : PyObject_GetAttrString(abc, "Coroutine");
    Py_XDECREF(abc);
    PyObject *res = coroutine == NULL ? NULL
        : PyObject_CallMethod(coroutine, "register", "(O)", tp);
    Py_XDECREF(coroutine);
    if (res == NULL) {
        Py_DECREF(tp);
        return NULL;
    }
    Py_DECREF(res);
    return tp;
}
