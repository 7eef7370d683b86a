/* threads.c: the bridges to threads, asyncio 3.11's: wrap_future(),
 * run_coroutine_threadsafe(), to_thread(), and the future chaining both
 * rest on (futures._chain_future).  They are cold, so they stay simple:
 * every operation is a method call, which both asyncio-style and
 * concurrent.futures futures understand. */
#include "comb/combinator.h"

/* ---- _chain_future -------------------------------------------------- */

/* One chain: source's outcome goes to destination, destination's
 * cancellation goes back to source.  Its bound methods are the callbacks. */
typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *source;
    PyObject *destination;
    PyObject *source_loop;    /* None for a concurrent future */
    PyObject *dest_loop;
} FutureChainObj;

/* concurrent.futures' errors become asyncio's
 * (futures._convert_future_exc). */
static PyObject *
convert_future_exc(pyasync_state *st, PyObject *exc)
{
    PyObject *cls = (PyObject *)Py_TYPE(exc);
    PyObject *target = NULL;
    if (cls == st->comb_cf_cancelled_error) {
        target = st->CancelledError;
    }
    else if (cls == st->comb_cf_invalid_state_error) {
        target = st->InvalidStateError;
    }
    /* concurrent.futures.TimeoutError is the builtin TimeoutError. */
    if (target == NULL) {
        return Py_NewRef(exc);
    }
    PyObject *args = PyObject_GetAttrString(exc, "args");
    if (args == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_Call(target, args, NULL);
    Py_DECREF(args);
    return res;
}

/* source's exception (converted) or result onto dest via the named
 * setters; NULL exception means result. */
static int
copy_outcome(pyasync_state *st, PyObject *source, PyObject *dest)
{
    PyObject *exc = comb_fut_exception(st, source);
    if (exc == NULL) {
        return -1;
    }
    int rc;
    if (exc != Py_None) {
        PyObject *conv = convert_future_exc(st, exc);
        rc = conv == NULL ? -1 : comb_fut_set_exception(st, dest, conv);
        Py_XDECREF(conv);
    }
    else {
        PyObject *res = comb_fut_result(st, source);
        rc = res == NULL ? -1 : comb_fut_set_result(st, dest, res);
        Py_XDECREF(res);
    }
    Py_DECREF(exc);
    return rc;
}

/* futures._copy_future_state(source, dest) for an asyncio-style dest. */
static int
copy_future_state(pyasync_state *st, PyObject *source, PyObject *dest)
{
    int r = comb_fut_cancelled(st, dest);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    r = comb_fut_cancelled(st, source);
    if (r < 0) {
        return -1;
    }
    if (r) {
        return comb_fut_cancel(st, dest, NULL) < 0 ? -1 : 0;
    }
    return copy_outcome(st, source, dest);
}

/* futures._set_concurrent_future_state(concurrent, source) */
static int
set_concurrent_future_state(pyasync_state *st, PyObject *concurrent,
                            PyObject *source)
{
    int r = comb_fut_cancelled(st, source);
    if (r < 0 || (r && comb_fut_cancel(st, concurrent, NULL) < 0)) {
        return -1;
    }
    PyObject *res = PyObject_CallMethod(concurrent,
                                        "set_running_or_notify_cancel", NULL);
    r = res == NULL ? -1 : PyObject_IsTrue(res);
    Py_XDECREF(res);
    if (r <= 0) {
        return r;
    }
    return copy_outcome(st, source, concurrent);
}

/* _set_state(future, other) */
static PyObject *
chain_set_state(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    pyasync_state *st = ((FutureChainObj *)self)->st;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_set_state() takes 2 arguments");
        return NULL;
    }
    int r = comb_isfuture(st, args[0]);
    if (r > 0) {
        r = copy_future_state(st, args[1], args[0]);
    }
    else if (r == 0) {
        r = set_concurrent_future_state(st, args[0], args[1]);
    }
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef set_state_def = {
    "_set_state", (PyCFunction)(void (*)(void))chain_set_state,
    METH_FASTCALL, NULL,
};

static int
loop_is_closed(PyObject *loop)
{
    PyObject *res = PyObject_CallMethod(loop, "is_closed", NULL);
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}

/* Whether the other side's loop is the one to act on directly: up to
 * 3.13, when both futures share a loop (or other_loop is None); 3.14
 * asks whether other_loop is this thread's running loop instead.
 * 1, 0, or -1 on error. */
static int
act_directly(PyObject *other_loop, PyObject *same_loop)
{
    if (other_loop == Py_None) {
        return 1;
    }
#if PY_VERSION_HEX >= 0x030E0000
    (void)same_loop;
    PyObject *running = pyasync_call_import_attr0("asyncio.events",
                                                  "_get_running_loop");
    if (running == NULL) {
        return -1;
    }
    int r = running == other_loop;
    Py_DECREF(running);
    return r;
#else
    return other_loop == same_loop;
#endif
}

/* _call_check_cancel(destination): a cancelled destination cancels the
 * source, through its loop's thread when that differs. */
static PyObject *
chain_call_check_cancel(PyObject *self, PyObject *destination)
{
    FutureChainObj *fc = (FutureChainObj *)self;
    if (fc->source == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    int r = comb_fut_cancelled(fc->st, destination);
    if (r <= 0) {
        return r < 0 ? NULL : Py_NewRef(Py_None);
    }
    r = act_directly(fc->source_loop, fc->dest_loop);
    if (r != 0) {
        if (r > 0) {
            r = comb_fut_cancel(fc->st, fc->source, NULL);
        }
        return r < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *cancel = PyObject_GetAttrString(fc->source, "cancel");
    if (cancel == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethod(fc->source_loop,
                                        "call_soon_threadsafe", "O", cancel);
    Py_DECREF(cancel);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    Py_RETURN_NONE;
}

/* _call_set_state(source): copy the outcome now, or on the destination
 * loop's thread; not onto a cancelled future of a closed loop. */
static PyObject *
chain_call_set_state(PyObject *self, PyObject *source)
{
    FutureChainObj *fc = (FutureChainObj *)self;
    if (fc->destination == NULL) {
        Py_RETURN_NONE;  /* cleared by the GC */
    }
    PyObject *dest = fc->destination, *dest_loop = fc->dest_loop;
    if (dest_loop != Py_None) {
        int r = comb_fut_cancelled(fc->st, dest);
        if (r > 0) {
            r = loop_is_closed(dest_loop);
            if (r > 0) {
                Py_RETURN_NONE;
            }
        }
        if (r < 0) {
            return NULL;
        }
    }
    PyObject *set_state = PyCFunction_New(&set_state_def, self);
    if (set_state == NULL) {
        return NULL;
    }
    PyObject *res;
    int direct = act_directly(dest_loop, fc->source_loop);
    if (direct < 0) {
        res = NULL;
    }
    else if (direct) {
        PyObject *args[2] = {dest, source};
        res = PyObject_Vectorcall(set_state, args, 2, NULL);
    }
    else {
        int r = loop_is_closed(dest_loop);
        res = r < 0 ? NULL
            : r > 0 ? Py_NewRef(Py_None)
            : PyObject_CallMethod(dest_loop, "call_soon_threadsafe", "OOO",
                                  set_state, dest, source);
    }
    Py_DECREF(set_state);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    Py_RETURN_NONE;
}

static PyMethodDef check_cancel_def = {
    "_call_check_cancel", chain_call_check_cancel, METH_O, NULL,
};

static PyMethodDef set_state_cb_def = {
    "_call_set_state", chain_call_set_state, METH_O, NULL,
};

static int
future_chain_traverse(PyObject *self, visitproc visit, void *arg)
{
    FutureChainObj *fc = (FutureChainObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(fc->source);
    Py_VISIT(fc->destination);
    Py_VISIT(fc->source_loop);
    Py_VISIT(fc->dest_loop);
    return 0;
}

static int
future_chain_clear(PyObject *self)
{
    FutureChainObj *fc = (FutureChainObj *)self;
    Py_CLEAR(fc->source);
    Py_CLEAR(fc->destination);
    Py_CLEAR(fc->source_loop);
    Py_CLEAR(fc->dest_loop);
    return 0;
}

static PyType_Slot future_chain_slots[] = {
    {Py_tp_dealloc, comb_gc_dealloc},
    {Py_tp_traverse, future_chain_traverse},
    {Py_tp_clear, future_chain_clear},
    {0, NULL},
};

static PyType_Spec future_chain_spec = {
    .name = "pyasync._core._FutureChain",
    .basicsize = sizeof(FutureChainObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = future_chain_slots,
};

/* fut's loop if it is an asyncio-style future, None for a concurrent one;
 * TypeError for anything else. */
static PyObject *
chain_loop_of(pyasync_state *st, PyObject *fut, const char *role)
{
    int r = comb_isfuture(st, fut);
    if (r > 0) {
        return comb_fut_get_loop(st, fut);
    }
    if (r == 0) {
        r = PyObject_IsInstance(fut, st->comb_concurrent_future);
        if (r > 0) {
            return Py_NewRef(Py_None);
        }
        if (r == 0) {
            PyErr_Format(PyExc_TypeError,
                         "A future is required for %s argument", role);
        }
    }
    return NULL;
}

/* futures._chain_future(source, destination) */
static int
chain_future(pyasync_state *st, PyObject *source, PyObject *destination)
{
    PyObject *source_loop = chain_loop_of(st, source, "source");
    if (source_loop == NULL) {
        return -1;
    }
    PyObject *dest_loop = chain_loop_of(st, destination, "destination");
    if (dest_loop == NULL) {
        Py_DECREF(source_loop);
        return -1;
    }
    FutureChainObj *fc = PyObject_GC_New(FutureChainObj, st->FutureChain_Type);
    if (fc == NULL) {
        Py_DECREF(source_loop);
        Py_DECREF(dest_loop);
        return -1;
    }
    fc->st = st;
    fc->source = Py_NewRef(source);
    fc->destination = Py_NewRef(destination);
    fc->source_loop = source_loop;
    fc->dest_loop = dest_loop;
    PyObject_GC_Track(fc);
    int rc = -1;
    PyObject *check_cancel = PyCFunction_New(&check_cancel_def,
                                             (PyObject *)fc);
    PyObject *set_state = PyCFunction_New(&set_state_cb_def, (PyObject *)fc);
    if (check_cancel != NULL && set_state != NULL
        && comb_fut_add_done_callback(st, destination, check_cancel) == 0
        && comb_fut_add_done_callback(st, source, set_state) == 0) {
        rc = 0;
    }
    Py_XDECREF(check_cancel);
    Py_XDECREF(set_state);
    Py_DECREF(fc);
    return rc;
}

/* ---- wrap_future ---------------------------------------------------- */

static PyObject *
wrap_future(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"future", "loop", NULL};
    PyObject *future, *loop = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:wrap_future",
                                     kwlist, &future, &loop)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    int r = comb_isfuture(st, future);
    if (r != 0) {
        return r < 0 ? NULL : Py_NewRef(future);
    }
    r = PyObject_IsInstance(future, st->comb_concurrent_future);
    if (r <= 0) {
        if (r == 0) {
            PyErr_Format(PyExc_AssertionError,
                         "concurrent.futures.Future is expected, got %R",
                         future);
        }
        return NULL;
    }
    if (loop == Py_None) {
        loop = comb_get_event_loop(st);
        if (loop == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(loop);
    }
    PyObject *new_future = comb_create_future(st, loop);
    Py_DECREF(loop);
    if (new_future == NULL) {
        return NULL;
    }
    if (chain_future(st, future, new_future) < 0) {
        Py_DECREF(new_future);
        return NULL;
    }
    return new_future;
}

/* ---- run_coroutine_threadsafe --------------------------------------- */

/* What the loop's thread runs: chain a task of coro to future. */
typedef struct {
    PyObject_HEAD
    pyasync_state *st;
    PyObject *coro;
    PyObject *loop;
    PyObject *future;         /* concurrent.futures.Future */
} ThreadsafeCallObj;

static int
threadsafe_call_run(ThreadsafeCallObj *tc)
{
    if (tc->coro == NULL) {
        return 0;  /* cleared by the GC */
    }
    PyObject *task = comb_ensure_future(tc->st, tc->coro, tc->loop);
    if (task != NULL) {
        int rc = chain_future(tc->st, task, tc->future);
        Py_DECREF(task);
        if (rc == 0) {
            return 0;
        }
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    /* Hand the error to the waiting thread, and raise it here too. */
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(v, tb);
    }
    PyObject *ok = PyObject_CallMethod(tc->future,
                                       "set_running_or_notify_cancel", NULL);
    int rc = ok == NULL ? -1 : PyObject_IsTrue(ok);
    Py_XDECREF(ok);
    if (rc > 0) {
        PyObject *res = PyObject_CallMethod(tc->future, "set_exception", "(O)",
                                            v);
        Py_XDECREF(res);
    }
    comb_restore_chained(t, v, tb);
    return -1;
}

static PyObject *
threadsafe_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (threadsafe_call_run((ThreadsafeCallObj *)self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
threadsafe_call_traverse(PyObject *self, visitproc visit, void *arg)
{
    ThreadsafeCallObj *tc = (ThreadsafeCallObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(tc->coro);
    Py_VISIT(tc->loop);
    Py_VISIT(tc->future);
    return 0;
}

static int
threadsafe_call_clear(PyObject *self)
{
    ThreadsafeCallObj *tc = (ThreadsafeCallObj *)self;
    Py_CLEAR(tc->coro);
    Py_CLEAR(tc->loop);
    Py_CLEAR(tc->future);
    return 0;
}

static PyType_Slot threadsafe_call_slots[] = {
    {Py_tp_dealloc, comb_gc_dealloc},
    {Py_tp_traverse, threadsafe_call_traverse},
    {Py_tp_clear, threadsafe_call_clear},
    {Py_tp_call, threadsafe_call},
    {0, NULL},
};

static PyType_Spec threadsafe_call_spec = {
    .name = "pyasync._core._ThreadsafeCall",
    .basicsize = sizeof(ThreadsafeCallObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = threadsafe_call_slots,
};

static PyObject *
run_coroutine_threadsafe(PyObject *module, PyObject *const *args,
                         Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "run_coroutine_threadsafe() takes 2 positional "
                     "arguments but %zd were given", nargs);
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    int r = comb_iscoroutine(st, args[0]);
    if (r <= 0) {
        if (r == 0) {
            PyErr_SetString(PyExc_TypeError, "A coroutine object is required");
        }
        return NULL;
    }
    PyObject *future = PyObject_CallNoArgs(st->comb_concurrent_future);
    if (future == NULL) {
        return NULL;
    }
    ThreadsafeCallObj *tc = PyObject_GC_New(ThreadsafeCallObj,
                                            st->ThreadsafeCall_Type);
    if (tc == NULL) {
        Py_DECREF(future);
        return NULL;
    }
    tc->st = st;
    tc->coro = Py_NewRef(args[0]);
    tc->loop = Py_NewRef(args[1]);
    tc->future = Py_NewRef(future);
    PyObject_GC_Track(tc);
    PyObject *res = PyObject_CallMethod(args[1], "call_soon_threadsafe", "(O)",
                                        (PyObject *)tc);
    Py_DECREF(tc);
    if (res == NULL) {
        Py_DECREF(future);
        return NULL;
    }
    Py_DECREF(res);
    return future;
}

/* ---- to_thread ------------------------------------------------------ */

typedef struct {
    CombCoro base;
    PyObject *func;
    PyObject *args;           /* tuple */
    PyObject *kwargs;         /* dict or NULL */
} ToThreadObj;

enum { TT_START = 0, TT_WAITING };

/* loop.run_in_executor(None, partial(copy_context().run, func, ...)) */
static int
to_thread_step(CombCoro *co, PyObject *value, PyObject **out)
{
    ToThreadObj *tt = (ToThreadObj *)co;
    if (co->state == TT_WAITING) {
        if (value == NULL) {
            return COMB_ERROR;
        }
        *out = Py_NewRef(value);
        return COMB_RETURN;
    }
    PyObject *loop = comb_get_running_loop(co->st);
    if (loop == NULL) {
        return COMB_ERROR;
    }
    PyObject *ctx = PyContext_CopyCurrent();
    PyObject *run = ctx == NULL ? NULL : PyObject_GetAttrString(ctx, "run");
    Py_XDECREF(ctx);
    PyObject *head = run == NULL ? NULL : PyTuple_Pack(2, run, tt->func);
    Py_XDECREF(run);
    PyObject *pargs = head == NULL ? NULL : PySequence_Concat(head, tt->args);
    Py_XDECREF(head);
    PyObject *call = pargs == NULL ? NULL
        : PyObject_Call(co->st->comb_partial, pargs, tt->kwargs);
    Py_XDECREF(pargs);
    if (call == NULL) {
        Py_DECREF(loop);
        return COMB_ERROR;
    }
    *out = PyObject_CallMethod(loop, "run_in_executor", "OO", Py_None, call);
    Py_DECREF(call);
    Py_DECREF(loop);
    if (*out == NULL) {
        return COMB_ERROR;
    }
    co->state = TT_WAITING;
    return COMB_AWAIT;
}

static int
to_thread_traverse(PyObject *self, visitproc visit, void *arg)
{
    ToThreadObj *tt = (ToThreadObj *)self;
    Py_VISIT(tt->func);
    Py_VISIT(tt->args);
    Py_VISIT(tt->kwargs);
    return comb_coro_traverse(&tt->base, visit, arg);
}

static int
to_thread_clear(PyObject *self)
{
    ToThreadObj *tt = (ToThreadObj *)self;
    Py_CLEAR(tt->func);
    Py_CLEAR(tt->args);
    Py_CLEAR(tt->kwargs);
    comb_coro_clear(&tt->base);
    return 0;
}

static PyObject *
to_thread(PyObject *module, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "to_thread() missing 1 required positional argument: "
                        "'func'");
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    ToThreadObj *tt = (ToThreadObj *)comb_coro_alloc(st, st->ToThread_Type,
                                                     to_thread_step);
    if (tt == NULL) {
        return NULL;
    }
    tt->func = Py_NewRef(PyTuple_GET_ITEM(args, 0));
    tt->args = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    tt->kwargs = kwargs == NULL ? NULL : PyDict_Copy(kwargs);
    if (tt->args == NULL || (kwargs != NULL && tt->kwargs == NULL)) {
        Py_DECREF(tt);
        return NULL;
    }
    return (PyObject *)tt;
}

static PyMethodDef threads_methods[] = {
    {"wrap_future", (PyCFunction)(void (*)(void))wrap_future,
     METH_VARARGS | METH_KEYWORDS,
     "wrap_future(future, *, loop=None)\n--\n\n"
     "Wrap a concurrent.futures.Future in an asyncio future."},
    {"run_coroutine_threadsafe",
     (PyCFunction)(void (*)(void))run_coroutine_threadsafe, METH_FASTCALL,
     "run_coroutine_threadsafe(coro, loop)\n--\n\n"
     "Submit a coroutine to the given loop; return a concurrent future."},
    {"to_thread", (PyCFunction)(void (*)(void))to_thread,
     METH_VARARGS | METH_KEYWORDS,
     "to_thread(func, /, *args, **kwargs)\n--\n\n"
     "Run func in the default executor, with the current context."},
    {NULL, NULL, 0, NULL},
};

int
pyasync_threads_init(PyObject *module, pyasync_state *st)
{
    st->FutureChain_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &future_chain_spec, NULL);
    if (st->FutureChain_Type == NULL) {
        return -1;
    }
    st->ThreadsafeCall_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &threadsafe_call_spec, NULL);
    if (st->ThreadsafeCall_Type == NULL) {
        return -1;
    }
    st->ToThread_Type = comb_coro_type_new(
        module, "pyasync._core.to_thread", sizeof(ToThreadObj),
        to_thread_traverse, to_thread_clear);
    if (st->ToThread_Type == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, threads_methods);
}
