/* threads.c: the bridges to threads, asyncio 3.11's: wrap_future(),
 * run_coroutine_threadsafe() and to_thread().  They are cold, so they stay
 * simple: the future chaining itself is asyncio.futures._chain_future,
 * which already speaks both future protocols. */
#include "combinator.h"

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
    PyObject *res = PyObject_CallFunctionObjArgs(st->comb_chain_future,
                                                 future, new_future, NULL);
    if (res == NULL) {
        Py_DECREF(new_future);
        return NULL;
    }
    Py_DECREF(res);
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
        PyObject *res = PyObject_CallFunctionObjArgs(
            tc->st->comb_chain_future, task, tc->future, NULL);
        Py_DECREF(task);
        if (res != NULL) {
            Py_DECREF(res);
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
        PyObject *res = PyObject_CallMethod(tc->future, "set_exception", "O",
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
    PyObject *res = PyObject_CallMethod(args[1], "call_soon_threadsafe", "O",
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
