/* comb_coro.c: the C coroutine behind wait(), wait_for(), to_thread() and
 * as_completed()'s awaitables, and the future helpers every combinator
 * uses (see combinator.h). */
#include "combinator.h"
#include "future.h"

/* ---- errors --------------------------------------------------------- */

void
comb_restore_chained(PyObject *type, PyObject *value, PyObject *tb)
{
    if (type == NULL) {
        return;
    }
    if (!PyErr_Occurred()) {
        PyErr_Restore(type, value, tb);
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    if (v2 != value) {
        PyException_SetContext(v2, value);  /* steals value */
    }
    else {
        Py_DECREF(value);
    }
    Py_DECREF(type);
    Py_XDECREF(tb);
    PyErr_Restore(t2, v2, tb2);
}

int
comb_raise_from_current(PyObject *exc_type)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(v, tb);
    }
    Py_XDECREF(t);
    Py_XDECREF(tb);
    PyObject *exc = PyObject_CallNoArgs(exc_type);
    if (exc == NULL) {
        Py_XDECREF(v);
        return -1;
    }
    Py_XINCREF(v);
    PyException_SetCause(exc, v);      /* steals; sets __suppress_context__ */
    PyException_SetContext(exc, v);    /* steals */
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

/* ---- loops and futures ---------------------------------------------- */

/* getattr(obj, name) as 1 (*out set), 0 (AttributeError, cleared) or -1. */
static int
lookup_attr(PyObject *obj, const char *name, PyObject **out)
{
    *out = PyObject_GetAttrString(obj, name);
    if (*out != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static int
lookup_attr_obj(PyObject *obj, PyObject *name, PyObject **out)
{
    *out = PyObject_GetAttr(obj, name);
    if (*out != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* asyncio.futures.isfuture: the class has _asyncio_future_blocking and the
 * instance's is not None.  1/0/-1. */
int
comb_isfuture(pyasync_state *st, PyObject *obj)
{
    PyObject *name = st->comb_str_asyncio_future_blocking;
    /* A class lookup sets no AttributeError to clear on the common miss. */
    if (_PyType_Lookup(Py_TYPE(obj), name) == NULL) {
        return 0;
    }
    PyObject *val;
    if (lookup_attr_obj(obj, name, &val) < 0) {
        return -1;
    }
    int r = val != NULL && val != Py_None;
    Py_XDECREF(val);
    return r;
}

int
comb_iscoroutine(pyasync_state *st, PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return 1;
    }
    PyObject *res = PyObject_CallOneArg(st->iscoroutine, obj);
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}

PyObject *
comb_get_running_loop(pyasync_state *st)
{
    return PyObject_CallNoArgs(st->comb_get_running_loop);
}

/* pyasync's Python face is imported after _core, so look it up lazily. */
static PyObject *
lazy_attr(PyObject **slot, const char *module, const char *name)
{
    if (*slot == NULL) {
        PyObject *mod = PyImport_ImportModule(module);
        if (mod == NULL) {
            return NULL;
        }
        *slot = PyObject_GetAttrString(mod, name);
        Py_DECREF(mod);
        if (*slot == NULL) {
            return NULL;
        }
    }
    return *slot;
}

PyObject *
comb_get_event_loop(pyasync_state *st)
{
    PyObject *fn = lazy_attr(&st->comb_get_event_loop, "pyasync.events",
                             "get_event_loop");
    return fn == NULL ? NULL : PyObject_CallNoArgs(fn);
}

/* fut as a pyasync Future or Task of exactly those types, initialised,
 * or NULL: then the helpers below may skip the method calls. */
static inline FutureObj *
exact_future(pyasync_state *st, PyObject *fut)
{
    if ((Py_IS_TYPE(fut, st->Future_Type) || Py_IS_TYPE(fut, st->Task_Type))
        && ((FutureObj *)fut)->loop != NULL) {
        return (FutureObj *)fut;
    }
    return NULL;
}

/* Exactly a pyasync Future (not a Task: Task forbids set_result). */
static inline FutureObj *
exact_plain_future(pyasync_state *st, PyObject *fut)
{
    if (Py_IS_TYPE(fut, st->Future_Type) && ((FutureObj *)fut)->loop != NULL) {
        return (FutureObj *)fut;
    }
    return NULL;
}

PyObject *
comb_fut_get_loop(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return Py_NewRef(f->loop);
    }
    PyObject *meth;
    int r = lookup_attr_obj(fut, st->comb_str_get_loop, &meth);
    if (r < 0) {
        return NULL;
    }
    if (r > 0) {
        PyObject *loop = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        if (loop != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return loop;
        }
        PyErr_Clear();
    }
    return PyObject_GetAttr(fut, st->comb_str_loop);
}

/* loop.create_task(coro) on loop or the running loop, closing coro when
 * the loop refuses it, as asyncio's _ensure_future does.  NULL without an
 * exception when there is no running loop: the caller takes the slow path,
 * which knows pyasync's policy. */
static PyObject *
create_task_fast(pyasync_state *st, PyObject *coro, PyObject *loop)
{
    if (loop == NULL) {
        loop = comb_get_running_loop(st);
        if (loop == NULL) {
            if (PyErr_ExceptionMatches(PyExc_RuntimeError)) {
                PyErr_Clear();
            }
            return NULL;
        }
    }
    else {
        Py_INCREF(loop);
    }
    PyObject *task = pyasync_loop_create_task_fast(st, loop, coro);
    if (task == NULL && !PyErr_Occurred()) {
        task = PyObject_CallMethodOneArg(loop, st->str_create_task, coro);
    }
    Py_DECREF(loop);
    if (task == NULL && PyErr_ExceptionMatches(PyExc_RuntimeError)) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyObject *res = PyObject_CallMethod(coro, "close", NULL);
        Py_XDECREF(res);
        comb_restore_chained(t, v, tb);
    }
    return task;
}

PyObject *
comb_ensure_future(pyasync_state *st, PyObject *obj, PyObject *loop)
{
    /* Futures are the common case and need no call into Python. */
    int r = comb_isfuture(st, obj);
    if (r < 0) {
        return NULL;
    }
    if (r > 0) {
        if (loop == NULL) {
            return Py_NewRef(obj);
        }
        PyObject *fut_loop = comb_fut_get_loop(st, obj);
        if (fut_loop == NULL) {
            return NULL;
        }
        Py_DECREF(fut_loop);
        if (fut_loop == loop) {
            return Py_NewRef(obj);
        }
        /* pyasync's ensure_future raises asyncio's ValueError. */
    }
    else if (PyCoro_CheckExact(obj)) {
        PyObject *task = create_task_fast(st, obj, loop);
        if (task != NULL || PyErr_Occurred()) {
            return task;
        }
    }
    PyObject *fn = lazy_attr(&st->comb_ensure_future, "pyasync.tasks",
                             "ensure_future");
    if (fn == NULL) {
        return NULL;
    }
    PyObject *args[2] = {obj, loop};
    if (loop == NULL) {
        return PyObject_Vectorcall(fn, args, 1, NULL);
    }
    return PyObject_Vectorcall(fn, args, 1, st->comb_kw_loop);
}

static PyObject *
call0(PyObject *obj, PyObject *name)
{
    return PyObject_VectorcallMethod(name, &obj,
                                     1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static PyObject *
call1(PyObject *obj, PyObject *name, PyObject *arg)
{
    PyObject *args[2] = {obj, arg};
    return PyObject_VectorcallMethod(name, args,
                                     2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static int
result_bool(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}

static int
result_none(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

PyObject *
comb_create_future(pyasync_state *st, PyObject *loop)
{
    PyObject *fut = pyasync_loop_create_future_fast(st, loop);
    if (fut != NULL || PyErr_Occurred()) {
        return fut;
    }
    return call0(loop, st->comb_str_create_future);
}

PyObject *
comb_call_later(pyasync_state *st, PyObject *loop, PyObject *delay,
                PyObject *callback)
{
    PyObject *args[3] = {loop, delay, callback};
    return PyObject_VectorcallMethod(st->comb_str_call_later, args,
                                     3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

int
comb_fut_done(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return f->state != FUTURE_PENDING;
    }
    return result_bool(call0(fut, st->comb_str_done));
}

int
comb_fut_cancelled(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return f->state == FUTURE_CANCELLED;
    }
    return result_bool(call0(fut, st->comb_str_cancelled));
}

int
comb_fut_cancel(pyasync_state *st, PyObject *fut, PyObject *msg)
{
    if (msg == NULL) {
        return result_bool(call0(fut, st->comb_str_cancel));
    }
    PyObject *args[2] = {fut, msg};
    return result_bool(PyObject_VectorcallMethod(
        st->comb_str_cancel, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        st->comb_kw_msg));
}

PyObject *
comb_fut_result(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return future_get_result(f);
    }
    return call0(fut, st->comb_str_result);
}

PyObject *
comb_fut_exception(pyasync_state *st, PyObject *fut)
{
    /* The finished case inline; the others raise through the method. */
    FutureObj *f = exact_future(st, fut);
    if (f != NULL && f->state == FUTURE_FINISHED) {
        if (f->exception == NULL) {
            Py_RETURN_NONE;
        }
        f->log_traceback = 0;
        return Py_NewRef(f->exception);
    }
    return call0(fut, st->comb_str_exception);
}

int
comb_fut_set_result(pyasync_state *st, PyObject *fut, PyObject *result)
{
    FutureObj *f = exact_plain_future(st, fut);
    if (f != NULL) {
        return future_set_result(f, result);
    }
    return result_none(call1(fut, st->comb_str_set_result, result));
}

int
comb_fut_set_exception(pyasync_state *st, PyObject *fut, PyObject *exc)
{
    return result_none(call1(fut, st->comb_str_set_exception, exc));
}

int
comb_fut_add_done_callback(pyasync_state *st, PyObject *fut, PyObject *cb)
{
    FutureObj *f = exact_future(st, fut);
    if (f != NULL) {
        return future_add_done_callback(f, cb, NULL);
    }
    return result_none(call1(fut, st->comb_str_add_done_callback, cb));
}

int
comb_fut_remove_done_callback(pyasync_state *st, PyObject *fut, PyObject *cb)
{
    return result_none(call1(fut, st->comb_str_remove_done_callback, cb));
}

PyObject *
comb_fut_make_cancelled_error(pyasync_state *st, PyObject *fut)
{
    return call0(fut, st->comb_str_make_cancelled_error);
}

PyObject *
comb_fut_cancel_message(pyasync_state *st, PyObject *fut)
{
    return PyObject_GetAttr(fut, st->comb_str_cancel_message);
}

int
comb_handle_cancel(pyasync_state *st, PyObject *handle)
{
    return result_none(call0(handle, st->comb_str_cancel));
}

/* The waiter is the bound builtin's self: builtins compare equal when self
 * and function match, which is what remove_done_callback needs. */
static PyObject *
release_waiter(PyObject *waiter, PyObject *const *args, Py_ssize_t nargs)
{
    /* No module state here: it is called once per waiter, by name. */
    int done = result_bool(PyObject_CallMethod(waiter, "done", NULL));
    if (done < 0) {
        return NULL;
    }
    if (!done && result_none(PyObject_CallMethod(waiter, "set_result", "O",
                                                 Py_None)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef release_waiter_def = {
    "_release_waiter", (PyCFunction)(void (*)(void))release_waiter,
    METH_FASTCALL, NULL,
};

PyObject *
comb_release_waiter_new(PyObject *waiter)
{
    return PyCFunction_New(&release_waiter_def, waiter);
}

/* ---- C coroutines --------------------------------------------------- */

/* What `await obj` iterates: a coroutine itself, else obj.__await__(). */
static PyObject *
awaitable_iter(PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
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

/* A coroutine that raises StopIteration raises RuntimeError instead. */
static void
replace_stop_iteration(void)
{
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_SetString(PyExc_RuntimeError, "coroutine raised StopIteration");
        comb_restore_chained(t, v, tb);
        /* comb_restore_chained keeps the RuntimeError, chained. */
    }
}

/* Run the step function from value (NULL: the current exception) until it
 * awaits something not yet done, returns or raises. */
static PySendResult
coro_resume(CombCoro *co, PyObject *value, PyObject **out)
{
    PyObject *res = NULL;
    Py_XINCREF(value);
    co->running = 1;
    for (;;) {
        int r = co->step(co, value, &res);
        Py_XDECREF(value);
        value = NULL;
        if (r == COMB_AWAIT) {
            PyObject *it = awaitable_iter(res);
            Py_DECREF(res);
            if (it == NULL) {
                continue;  /* the step sees the TypeError */
            }
            PyObject *yielded;
            PySendResult sr = PyIter_Send(it, Py_None, &yielded);
            if (sr == PYGEN_NEXT) {
                co->awaiting = it;
                co->running = 0;
                *out = yielded;
                return PYGEN_NEXT;
            }
            Py_DECREF(it);
            value = sr == PYGEN_RETURN ? yielded : NULL;
            continue;
        }
        co->running = 0;
        co->finished = 1;
        if (r == COMB_RETURN) {
            *out = res;
            return PYGEN_RETURN;
        }
        assert(PyErr_Occurred());
        replace_stop_iteration();
        *out = NULL;
        return PYGEN_ERROR;
    }
}

static int
coro_check_runnable(CombCoro *co)
{
    if (co->running) {
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

static PySendResult
coro_send_impl(CombCoro *co, PyObject *arg, PyObject **out)
{
    if (coro_check_runnable(co) < 0) {
        *out = NULL;
        return PYGEN_ERROR;
    }
    if (!co->started) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started "
                            "coroutine");
            *out = NULL;
            return PYGEN_ERROR;
        }
        co->started = 1;
        return coro_resume(co, Py_None, out);
    }
    if (co->awaiting != NULL) {
        PyObject *res;
        co->running = 1;
        PySendResult sr = PyIter_Send(co->awaiting, arg, &res);
        co->running = 0;
        if (sr == PYGEN_NEXT) {
            *out = res;
            return sr;
        }
        Py_CLEAR(co->awaiting);
        sr = coro_resume(co, sr == PYGEN_RETURN ? res : NULL, out);
        Py_XDECREF(res);
        return sr;
    }
    return coro_resume(co, arg, out);
}

static PySendResult
coro_am_send(PyObject *self, PyObject *arg, PyObject **out)
{
    return coro_send_impl((CombCoro *)self, arg, out);
}

static PyObject *
coro_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    PySendResult sr = coro_send_impl((CombCoro *)self, arg, &res);
    if (sr == PYGEN_RETURN) {
        if (res == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, res);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(res);
        return NULL;
    }
    return res;
}

static PyObject *
coro_iternext(PyObject *self)
{
    PyObject *res;
    PySendResult sr = coro_send_impl((CombCoro *)self, Py_None, &res);
    if (sr == PYGEN_RETURN) {
        if (res != Py_None) {
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, res);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(res);
        return NULL;
    }
    return res;
}

/* The current exception goes into the coroutine: into the iterator it
 * awaits first, then into its step function. */
static PySendResult
coro_throw_current(CombCoro *co, PyObject **out)
{
    if (coro_check_runnable(co) < 0) {
        *out = NULL;
        return PYGEN_ERROR;
    }
    if (!co->started) {
        /* Thrown in before the body ran: it raises at the start. */
        co->finished = 1;
        *out = NULL;
        return PYGEN_ERROR;
    }
    PyObject *it = co->awaiting;
    co->awaiting = NULL;
    if (it == NULL) {
        return coro_resume(co, NULL, out);
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        /* Like yield from: close the iterator, then raise here. */
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyObject *close;
        int r = lookup_attr(it, "close", &close);
        if (r > 0) {
            PyObject *res = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            Py_XDECREF(res);
        }
        Py_DECREF(it);
        comb_restore_chained(t, v, tb);
        return coro_resume(co, NULL, out);
    }
    PyObject *throw;
    int r = lookup_attr(it, "throw", &throw);
    if (r <= 0) {
        Py_DECREF(it);
        return coro_resume(co, NULL, out);
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(v, tb);
    }
    co->running = 1;
    PyObject *res = PyObject_CallOneArg(throw, v);
    co->running = 0;
    Py_DECREF(throw);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    if (res != NULL) {
        co->awaiting = it;
        *out = res;
        return PYGEN_NEXT;
    }
    Py_DECREF(it);
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyObject *st, *sv, *stb;
        PyErr_Fetch(&st, &sv, &stb);
        PyErr_NormalizeException(&st, &sv, &stb);
        PyObject *value = sv ? PyObject_GetAttrString(sv, "value") : NULL;
        Py_XDECREF(st);
        Py_XDECREF(sv);
        Py_XDECREF(stb);
        if (value == NULL) {
            return coro_resume(co, NULL, out);
        }
        PySendResult sr = coro_resume(co, value, out);
        Py_DECREF(value);
        return sr;
    }
    return coro_resume(co, NULL, out);
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
        PyErr_Restore(t, v, Py_NewRef(tb));
    }
    return 0;
}

static PyObject *
coro_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at least 1 argument, at most 3, got %zd",
                     nargs);
        return NULL;
    }
    if (set_thrown(args[0], nargs > 1 ? args[1] : NULL,
                   nargs > 2 ? args[2] : NULL) < 0) {
        return NULL;
    }
    PyObject *res;
    PySendResult sr = coro_throw_current((CombCoro *)self, &res);
    if (sr == PYGEN_RETURN) {
        /* Returned after catching: StopIteration(value), like send(). */
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, res);
        Py_DECREF(res);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
        return NULL;
    }
    return res;
}

static int
coro_close_impl(CombCoro *co)
{
    if (co->finished || !co->started) {
        co->finished = 1;
        return 0;
    }
    if (co->running) {
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
coro_close(PyObject *self, PyObject *unused)
{
    if (coro_close_impl((CombCoro *)self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* A suspended coroutine that is collected runs its cleanup, as a Python
 * coroutine runs its finally clauses; one never started warns. */
static void
coro_finalize(PyObject *self)
{
    CombCoro *co = (CombCoro *)self;
    if (co->finished) {
        return;
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (!co->started) {
        /* As for an `async def` coroutine that was never awaited. */
        PyObject *name = PyType_GetName(Py_TYPE(self));
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
coro_get_running(PyObject *self, void *closure)
{
    return PyBool_FromLong(((CombCoro *)self)->running);
}

static PyObject *
coro_get_await(PyObject *self, void *closure)
{
    CombCoro *co = (CombCoro *)self;
    return Py_NewRef(co->awaiting ? co->awaiting : Py_None);
}

/* asyncio's coroutine repr asks for __qualname__: the function's name. */
static PyObject *
coro_get_name(PyObject *self, void *closure)
{
    return PyType_GetName(Py_TYPE(self));
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
    {"cr_await", coro_get_await, NULL, NULL, NULL},
    {"__name__", coro_get_name, NULL, NULL, NULL},
    {"__qualname__", coro_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

int
comb_coro_traverse(CombCoro *co, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(co));
    Py_VISIT(co->awaiting);
    return 0;
}

void
comb_coro_clear(CombCoro *co)
{
    /* Cleared by the GC: its fields are gone, it must never step again. */
    co->finished = 1;
    Py_CLEAR(co->awaiting);
}

void
comb_gc_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_finalize != NULL) {
        if (PyObject_CallFinalizerFromDealloc(self) < 0) {
            return;  /* resurrected */
        }
    }
    PyObject_GC_UnTrack(self);
    (void)tp->tp_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyTypeObject *
comb_coro_type_new(PyObject *module, const char *name, Py_ssize_t basicsize,
                   traverseproc traverse, inquiry clear)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyType_Slot slots[] = {
        {Py_tp_dealloc, comb_gc_dealloc},
        {Py_tp_traverse, traverse},
        {Py_tp_clear, clear},
        {Py_tp_finalize, coro_finalize},
        {Py_tp_iter, coro_await},
        {Py_tp_iternext, coro_iternext},
        {Py_tp_methods, coro_methods},
        {Py_tp_getset, coro_getset},
        {Py_am_await, coro_await},
        {Py_am_send, coro_am_send},
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
    PyObject *res = PyObject_CallMethod(st->comb_coroutine_abc, "register",
                                        "O", tp);
    if (res == NULL) {
        Py_DECREF(tp);
        return NULL;
    }
    Py_DECREF(res);
    return tp;
}

CombCoro *
comb_coro_alloc(pyasync_state *st, PyTypeObject *tp, comb_step_fn step)
{
    CombCoro *co = PyObject_GC_New(CombCoro, tp);
    if (co == NULL) {
        return NULL;
    }
    /* Zero the subtype's fields as well as ours. */
    memset((char *)co + sizeof(PyObject), 0,
           tp->tp_basicsize - sizeof(PyObject));
    co->st = st;
    co->step = step;
    PyObject_GC_Track(co);
    return co;
}

/* ---- init ----------------------------------------------------------- */

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
pyasync_comb_coro_init(PyObject *module, pyasync_state *st)
{
#define LOOKUP(field, module, name) \
    if ((st->field = import_attr(module, name)) == NULL) return -1
    LOOKUP(comb_future_base, "asyncio.futures", "Future");
    LOOKUP(comb_get_running_loop, "asyncio.events", "get_running_loop");
    LOOKUP(comb_coroutine_abc, "collections.abc", "Coroutine");
    LOOKUP(comb_concurrent_future, "concurrent.futures", "Future");
    LOOKUP(comb_cf_cancelled_error, "concurrent.futures", "CancelledError");
    LOOKUP(comb_cf_invalid_state_error, "concurrent.futures",
           "InvalidStateError");
    LOOKUP(comb_partial, "functools", "partial");
#undef LOOKUP
#define INTERN(field, name) \
    if ((st->field = PyUnicode_InternFromString(name)) == NULL) return -1
    INTERN(comb_str_done, "done");
    INTERN(comb_str_cancelled, "cancelled");
    INTERN(comb_str_cancel, "cancel");
    INTERN(comb_str_result, "result");
    INTERN(comb_str_exception, "exception");
    INTERN(comb_str_set_result, "set_result");
    INTERN(comb_str_set_exception, "set_exception");
    INTERN(comb_str_add_done_callback, "add_done_callback");
    INTERN(comb_str_remove_done_callback, "remove_done_callback");
    INTERN(comb_str_get_loop, "get_loop");
    INTERN(comb_str_loop, "_loop");
    INTERN(comb_str_create_future, "create_future");
    INTERN(comb_str_call_later, "call_later");
    INTERN(comb_str_asyncio_future_blocking, "_asyncio_future_blocking");
    INTERN(comb_str_make_cancelled_error, "_make_cancelled_error");
    INTERN(comb_str_cancel_message, "_cancel_message");
#undef INTERN
    if ((st->comb_kw_msg = Py_BuildValue("(s)", "msg")) == NULL
        || (st->comb_kw_loop = Py_BuildValue("(s)", "loop")) == NULL) {
        return -1;
    }
    return 0;
}
