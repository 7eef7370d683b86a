/* comb_coro.c: the C coroutine behind wait(), wait_for(), to_thread() and
 * as_completed()'s awaitables, and the future helpers every combinator
 * uses (see combinator.h). */
#include "comb/combinator.h"
#include "core/future.h"

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

/* pyasync's Python face is imported after _core, so look it up lazily:
 * once, even when threads race to it (the loser's lookup is dropped); set,
 * the slot never changes, and the state owns it.  Borrowed. */
static PyObject *
lazy_attr(pyasync_state *st, PyObject **slot, const char *module,
          const char *name)
{
    PyObject *found = FT_LOAD_PTR(*slot);
    if (found != NULL) {
        return found;
    }
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *attr = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (attr == NULL) {
        return NULL;
    }
    pyasync_mutex_lock(&st->lazy_lock);
    if (*slot == NULL) {
        FT_STORE_PTR(*slot, attr);
        attr = NULL;
    }
    found = *slot;
    pyasync_mutex_unlock(&st->lazy_lock);
    Py_XDECREF(attr);
    return found;
}

int
comb_isawaitable(pyasync_state *st, PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return 1;  /* isawaitable's first test */
    }
    /* The rest (generator flags, the Awaitable ABC and whatever is
     * registered with it) exactly as inspect does it. */
    PyObject *fn = lazy_attr(st, &st->comb_isawaitable, "inspect", "isawaitable");
    if (fn == NULL) {
        return -1;
    }
    PyObject *res = PyObject_CallOneArg(fn, obj);
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}

PyObject *
comb_get_event_loop(pyasync_state *st)
{
    PyObject *fn = lazy_attr(st, &st->comb_get_event_loop, "pyasync.events",
                             "get_event_loop");
    return fn == NULL ? NULL : PyObject_CallNoArgs(fn);
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
    FutureObj *f = ccoro_exact_future(st, fut);
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
    PyObject *task = pyasync_loop_create_task_fast(st, loop, coro, Py_None);
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
    PyObject *fn = lazy_attr(st, &st->comb_ensure_future, "pyasync.tasks",
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
    FutureObj *f = ccoro_exact_future(st, fut);
    if (f != NULL) {
        return FT_LOAD_ENUM(f->state) != FUTURE_PENDING;
    }
    return result_bool(call0(fut, st->comb_str_done));
}

int
comb_fut_cancelled(pyasync_state *st, PyObject *fut)
{
    FutureObj *f = ccoro_exact_future(st, fut);
    if (f != NULL) {
        /* (Executor threads ask: threads.c.) */
        return FT_LOAD_ENUM(f->state) == FUTURE_CANCELLED;
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
    FutureObj *f = ccoro_exact_future(st, fut);
    if (f != NULL) {
        return future_get_result(f);
    }
    return call0(fut, st->comb_str_result);
}

PyObject *
comb_fut_exception(pyasync_state *st, PyObject *fut)
{
    /* The finished case inline; the others raise through the method. */
    FutureObj *f = ccoro_exact_future(st, fut);
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
    FutureObj *f = ccoro_exact_future(st, fut);
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
    if (!done && result_none(PyObject_CallMethod(waiter, "set_result", "(O)",
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

/* ---- C coroutines (the engine is ccoro.c) ---------------------------- */

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
    return ccoro_type_new(module, name, basicsize, traverse, clear, NULL,
                          NULL);
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
    ccoro_init(co, st, step, NULL);
    PyObject_GC_Track(co);
    return co;
}

/* ---- init ----------------------------------------------------------- */

int
pyasync_comb_coro_init(PyObject *module, pyasync_state *st)
{
#define LOOKUP(field, module, name) \
    if ((st->field = pyasync_import_attr(module, name)) == NULL) return -1
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
