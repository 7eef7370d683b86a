/* wait_for.c: wait_for(fut, timeout) and _cancel_and_wait(fut, loop), as
 * C coroutines with asyncio 3.11's semantics:
 *
 *   - timeout None: plain `await fut`;
 *   - timeout <= 0: cancel fut unless done, wait for it, TimeoutError;
 *   - otherwise wait for fut or the timer; on timeout cancel fut and wait
 *     for it: its result if it finished anyway, else TimeoutError raised
 *     from its CancelledError;
 *   - cancelled while waiting: the result if fut finished meanwhile, else
 *     cancel fut, wait for it, and re-raise the CancelledError. */
#include "comb/combinator.h"
#include "diag/introspect.h"

/* ---- _cancel_and_wait ----------------------------------------------- */

typedef struct {
    CombCoro base;
    PyObject *fut;
    PyObject *loop;
    PyObject *waiter;
    PyObject *cb;
} CancelAndWaitObj;

enum { CW_START = 0, CW_WAITING };

/* finally: fut.remove_done_callback(cb) */
static int
cancel_and_wait_finally(CancelAndWaitObj *cw, PyObject *value,
                        PyObject **out)
{
    pyasync_state *st = cw->base.st;
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int rc = comb_fut_remove_done_callback(st, cw->fut, cw->cb);
    comb_restore_chained(t, v, tb);
    if (rc < 0 || value == NULL) {
        return COMB_ERROR;
    }
    *out = Py_NewRef(Py_None);
    return COMB_RETURN;
}

static int
cancel_and_wait_step(CombCoro *co, PyObject *value, PyObject **out)
{
    CancelAndWaitObj *cw = (CancelAndWaitObj *)co;
    pyasync_state *st = co->st;
    if (co->state == CW_WAITING) {
        return cancel_and_wait_finally(cw, value, out);
    }
    cw->waiter = comb_create_future(st, cw->loop);
    if (cw->waiter == NULL) {
        return COMB_ERROR;
    }
    cw->cb = comb_release_waiter_new(cw->waiter);
    if (cw->cb == NULL || comb_fut_add_done_callback(st, cw->fut, cw->cb) < 0) {
        return COMB_ERROR;
    }
    if (comb_fut_cancel(st, cw->fut, NULL) < 0) {
        return cancel_and_wait_finally(cw, NULL, out);
    }
    /* Await the waiter, not fut: this coroutine stays cancellable. */
    co->state = CW_WAITING;
    *out = Py_NewRef(cw->waiter);
    return COMB_AWAIT;
}

static int
cancel_and_wait_traverse(PyObject *self, visitproc visit, void *arg)
{
    CancelAndWaitObj *cw = (CancelAndWaitObj *)self;
    Py_VISIT(cw->fut);
    Py_VISIT(cw->loop);
    Py_VISIT(cw->waiter);
    Py_VISIT(cw->cb);
    return comb_coro_traverse(&cw->base, visit, arg);
}

static int
cancel_and_wait_clear(PyObject *self)
{
    CancelAndWaitObj *cw = (CancelAndWaitObj *)self;
    Py_CLEAR(cw->fut);
    Py_CLEAR(cw->loop);
    Py_CLEAR(cw->waiter);
    Py_CLEAR(cw->cb);
    comb_coro_clear(&cw->base);
    return 0;
}

static PyObject *
cancel_and_wait_new(pyasync_state *st, PyObject *fut, PyObject *loop)
{
    CancelAndWaitObj *cw = (CancelAndWaitObj *)comb_coro_alloc(
        st, st->CancelAndWait_Type, cancel_and_wait_step);
    if (cw == NULL) {
        return NULL;
    }
    cw->fut = Py_NewRef(fut);
    cw->loop = Py_NewRef(loop);
    return (PyObject *)cw;
}

/* ---- wait_for ------------------------------------------------------- */

typedef struct {
    CombCoro base;
    PyObject *fut;            /* the argument, then ensure_future() of it */
    PyObject *timeout;
    PyObject *loop;
    PyObject *waiter;
    PyObject *timeout_handle;
    PyObject *cb;             /* _release_waiter(waiter) on fut */
    PyObject *exc_type;       /* the CancelledError to re-raise */
    PyObject *exc_value;
    PyObject *exc_tb;
} WaitForObj;

enum {
    WF_START = 0,
    WF_DIRECT,            /* timeout None: awaiting fut itself */
    WF_ZERO,              /* timeout <= 0: cancelling fut */
    WF_WAITING,           /* awaiting the waiter */
    WF_CANCEL_ON_CANCEL,  /* we were cancelled: cancelling fut */
    WF_CANCEL_ON_TIMEOUT, /* timed out: cancelling fut */
};

/* finally: timeout_handle.cancel(); res is the result or NULL. */
static int
wait_for_finish(WaitForObj *wf, PyObject *res, PyObject **out)
{
    pyasync_state *st = wf->base.st;
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int rc = comb_handle_cancel(st, wf->timeout_handle);
    comb_restore_chained(t, v, tb);
    if (rc < 0 || res == NULL) {
        Py_XDECREF(res);
        return COMB_ERROR;
    }
    *out = res;
    return COMB_RETURN;
}

/* fut.result(), with CancelledError turned into TimeoutError from it. */
static PyObject *
result_or_timeout(WaitForObj *wf)
{
    pyasync_state *st = wf->base.st;
    PyObject *res = comb_fut_result(st, wf->fut);
    if (res == NULL
        && PyErr_ExceptionMatches(st->CancelledError)) {
        comb_raise_from_current(PyExc_TimeoutError);
    }
    return res;
}

static int
await_cancel_and_wait(WaitForObj *wf, int state, PyObject **out)
{
    *out = cancel_and_wait_new(wf->base.st, wf->fut, wf->loop);
    if (*out == NULL) {
        return COMB_ERROR;
    }
    wf->base.state = state;
    return COMB_AWAIT;
}

static int
wait_for_start(WaitForObj *wf, PyObject **out)
{
    pyasync_state *st = wf->base.st;
    wf->loop = comb_get_running_loop(st);
    if (wf->loop == NULL) {
        return COMB_ERROR;
    }
    if (wf->timeout == Py_None) {
        wf->base.state = WF_DIRECT;
        *out = Py_NewRef(wf->fut);
        return COMB_AWAIT;
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return COMB_ERROR;
    }
    int expired = PyObject_RichCompareBool(wf->timeout, zero, Py_LE);
    Py_DECREF(zero);
    if (expired < 0) {
        return COMB_ERROR;
    }
    if (expired) {
        Py_SETREF(wf->fut, comb_ensure_future(st, wf->fut, wf->loop));
        if (wf->fut == NULL) {
            return COMB_ERROR;
        }
        int done = comb_fut_done(st, wf->fut);
        if (done < 0) {
            return COMB_ERROR;
        }
        if (done) {
            *out = comb_fut_result(st, wf->fut);
            return *out == NULL ? COMB_ERROR : COMB_RETURN;
        }
        return await_cancel_and_wait(wf, WF_ZERO, out);
    }
    wf->waiter = comb_create_future(st, wf->loop);
    if (wf->waiter == NULL) {
        return COMB_ERROR;
    }
    PyObject *release = comb_release_waiter_new(wf->waiter);
    if (release == NULL) {
        return COMB_ERROR;
    }
    wf->timeout_handle = comb_call_later(st, wf->loop, wf->timeout, release);
    Py_DECREF(release);
    if (wf->timeout_handle == NULL) {
        return COMB_ERROR;
    }
    wf->cb = comb_release_waiter_new(wf->waiter);
    if (wf->cb == NULL) {
        return COMB_ERROR;
    }
    /* As in asyncio, failures here come before the try/finally. */
    Py_SETREF(wf->fut, comb_ensure_future(st, wf->fut, wf->loop));
    if (wf->fut == NULL || comb_fut_add_done_callback(st, wf->fut, wf->cb) < 0) {
        return COMB_ERROR;
    }
    wf->base.state = WF_WAITING;
    *out = Py_NewRef(wf->waiter);
    return COMB_AWAIT;
}

/* The waiter is done (value), or awaiting it raised (NULL). */
static int
wait_for_woken(WaitForObj *wf, PyObject *value, PyObject **out)
{
    pyasync_state *st = wf->base.st;
    if (value == NULL) {
        if (!PyErr_ExceptionMatches(st->CancelledError)) {
            return wait_for_finish(wf, NULL, out);
        }
        PyErr_Fetch(&wf->exc_type, &wf->exc_value, &wf->exc_tb);
    }
    int done = comb_fut_done(st, wf->fut);
    if (done > 0) {
        /* Finished even though we were cancelled: keep its result. */
        Py_CLEAR(wf->exc_type);
        Py_CLEAR(wf->exc_value);
        Py_CLEAR(wf->exc_tb);
        return wait_for_finish(wf, comb_fut_result(st, wf->fut), out);
    }
    if (done == 0 && comb_fut_remove_done_callback(st, wf->fut, wf->cb) == 0) {
        return await_cancel_and_wait(
            wf, value == NULL ? WF_CANCEL_ON_CANCEL : WF_CANCEL_ON_TIMEOUT,
            out);
    }
    comb_restore_chained(wf->exc_type, wf->exc_value, wf->exc_tb);
    wf->exc_type = wf->exc_value = wf->exc_tb = NULL;
    return wait_for_finish(wf, NULL, out);
}

static int
wait_for_step(CombCoro *co, PyObject *value, PyObject **out)
{
    WaitForObj *wf = (WaitForObj *)co;
    switch (co->state) {
    case WF_START:
        return wait_for_start(wf, out);
    case WF_DIRECT:
        if (value == NULL) {
            return COMB_ERROR;
        }
        *out = Py_NewRef(value);
        return COMB_RETURN;
    case WF_ZERO:
        if (value == NULL) {
            return COMB_ERROR;
        }
        *out = result_or_timeout(wf);
        return *out == NULL ? COMB_ERROR : COMB_RETURN;
    case WF_WAITING:
        return wait_for_woken(wf, value, out);
    case WF_CANCEL_ON_CANCEL:
        /* Re-raise our CancelledError; a new error wins, chained to it. */
        if (value != NULL) {
            PyErr_Restore(wf->exc_type, wf->exc_value, wf->exc_tb);
        }
        else {
            comb_restore_chained(wf->exc_type, wf->exc_value, wf->exc_tb);
        }
        wf->exc_type = wf->exc_value = wf->exc_tb = NULL;
        return wait_for_finish(wf, NULL, out);
    case WF_CANCEL_ON_TIMEOUT:
        return wait_for_finish(wf, value ? result_or_timeout(wf) : NULL, out);
    }
    PyErr_SetString(PyExc_SystemError, "wait_for: bad state");
    return COMB_ERROR;
}

static int
wait_for_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitForObj *wf = (WaitForObj *)self;
    Py_VISIT(wf->fut);
    Py_VISIT(wf->timeout);
    Py_VISIT(wf->loop);
    Py_VISIT(wf->waiter);
    Py_VISIT(wf->timeout_handle);
    Py_VISIT(wf->cb);
    Py_VISIT(wf->exc_type);
    Py_VISIT(wf->exc_value);
    Py_VISIT(wf->exc_tb);
    return comb_coro_traverse(&wf->base, visit, arg);
}

static int
wait_for_clear(PyObject *self)
{
    WaitForObj *wf = (WaitForObj *)self;
    Py_CLEAR(wf->fut);
    Py_CLEAR(wf->timeout);
    Py_CLEAR(wf->loop);
    Py_CLEAR(wf->waiter);
    Py_CLEAR(wf->timeout_handle);
    Py_CLEAR(wf->cb);
    Py_CLEAR(wf->exc_type);
    Py_CLEAR(wf->exc_value);
    Py_CLEAR(wf->exc_tb);
    comb_coro_clear(&wf->base);
    return 0;
}

/* wait_for(fut, timeout): a coroutine; nothing runs until it is awaited. */
static PyObject *
wait_for(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fut", "timeout", NULL};
    PyObject *fut, *timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:wait_for", kwlist,
                                     &fut, &timeout)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    WaitForObj *wf = (WaitForObj *)comb_coro_alloc(st, st->WaitFor_Type,
                                                   wait_for_step);
    if (wf == NULL) {
        return NULL;
    }
    wf->fut = Py_NewRef(fut);
    wf->timeout = Py_NewRef(timeout);
    return (PyObject *)wf;
}

static PyMethodDef wait_for_methods[] = {
    {"wait_for", (PyCFunction)(void (*)(void))wait_for,
     METH_VARARGS | METH_KEYWORDS,
     "wait_for(fut, timeout)\n--\n\n"
     "Wait for a future or coroutine to complete, with a timeout."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
wait_for_view(PyObject *coro)
{
    WaitForObj *wf = (WaitForObj *)coro;
    return Py_BuildValue("{s:s,s:O,s:O,s:O}", "kind", "wait_for",
                         "fut", view_field(wf->fut),
                         "waiter", view_field(wf->waiter),
                         "timeout_handle", view_field(wf->timeout_handle));
}

static PyObject *
cancel_and_wait_view(PyObject *coro)
{
    CancelAndWaitObj *cw = (CancelAndWaitObj *)coro;
    return Py_BuildValue("{s:s,s:O,s:O}", "kind", "cancel_and_wait",
                         "fut", view_field(cw->fut),
                         "waiter", view_field(cw->waiter));
}

int
pyasync_wait_for_init(PyObject *module, pyasync_state *st)
{
    st->WaitFor_Type = comb_coro_type_new(
        module, "pyasync._core.wait_for", sizeof(WaitForObj),
        wait_for_traverse, wait_for_clear);
    if (st->WaitFor_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->WaitFor_Type, wait_for_view) < 0) {
        return -1;
    }
    st->CancelAndWait_Type = comb_coro_type_new(
        module, "pyasync._core._cancel_and_wait", sizeof(CancelAndWaitObj),
        cancel_and_wait_traverse, cancel_and_wait_clear);
    if (st->CancelAndWait_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->CancelAndWait_Type,
                              cancel_and_wait_view) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, wait_for_methods);
}
