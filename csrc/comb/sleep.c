/* sleep.c: asyncio.sleep(delay, result=None) as a C coroutine (ccoro.h).
 *
 * asyncio 3.11's sleep is an `async def`:
 *
 *     if delay <= 0: bare yield once (the task is rescheduled); return result
 *     loop = get_running_loop(); future = loop.create_future()
 *     h = loop.call_later(delay, _set_result_unless_cancelled, future, result)
 *     try: return await future
 *     finally: h.cancel()
 *
 * Its coroutine object and frame cost more than the switch it performs;
 * this object does the same steps without a frame, and freed ones are
 * kept for reuse.  As with the `async def`, the arguments are only looked
 * at when the coroutine first runs (sleep('x') raises at the await), and
 * the loop's own methods are called, so any running loop works. */
#include "core/ccoro.h"
#include "core/future.h"
#include "diag/introspect.h"
#include <math.h>                 /* isnan */

typedef struct {
    CCORO_HEAD
    PyObject *delay;
    PyObject *result;
    PyObject *future;    /* while waiting for the timer */
    PyObject *timer;     /* its TimerHandle, cancelled on every exit */
} SleepObj;

enum { SLEEP_START = 0, SLEEP_YIELDED, SLEEP_WAITING };

/* `delay <= 0`: 1/0, or -1 with the comparison's error. */
static int
delay_expired(PyObject *delay)
{
    if (PyFloat_CheckExact(delay)) {
        return PyFloat_AS_DOUBLE(delay) <= 0.0;   /* nan: 0, as in Python */
    }
    if (PyLong_CheckExact(delay)) {
#if PY_VERSION_HEX >= 0x030E0000
        int sign;
        (void)PyLong_GetSign(delay, &sign);    /* cannot fail on an int */
        return sign <= 0;
#else
        return _PyLong_Sign(delay) <= 0;
#endif
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return -1;
    }
    /* The rich comparison gives asyncio's TypeError for a bad delay. */
    int r = PyObject_RichCompareBool(delay, zero, Py_LE);
    Py_DECREF(zero);
    return r;
}

/* future = loop.create_future(); timer = loop.call_later(...). */
static int
sleep_start_timer(SleepObj *s)
{
    pyasync_state *st = s->st;
    PyObject *loop = PyObject_CallNoArgs(st->comb_get_running_loop);
    if (loop == NULL) {
        return -1;
    }
    PyObject *fut = pyasync_loop_create_future_fast(st, loop);
    if (fut == NULL && !PyErr_Occurred()) {
        fut = PyObject_CallMethodNoArgs(loop, st->comb_str_create_future);
    }
    if (fut == NULL) {
        Py_DECREF(loop);
        return -1;
    }
    s->future = fut;
    PyObject *args[5] = {loop, s->delay, st->sleep_set_result, fut, s->result};
    s->timer = PyObject_VectorcallMethod(
        st->comb_str_call_later, args, 5 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        NULL);
    Py_DECREF(loop);
    return s->timer == NULL ? -1 : 0;
}

/* The finally clause: cancel the timer; an error from cancel() wins, with
 * the pending exception as its context.  res: the result (stolen) or NULL
 * with the exception set. */
static int
sleep_finish(SleepObj *s, PyObject *res, PyObject **out)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyObject *timer = s->timer;
    s->timer = NULL;
    Py_CLEAR(s->future);
    PyObject *r = PyObject_CallMethodNoArgs(timer, s->st->comb_str_cancel);
    Py_DECREF(timer);
    if (r == NULL) {
        Py_XDECREF(res);
        if (t != NULL) {
            PyErr_NormalizeException(&t, &v, &tb);
            if (tb != NULL) {
                PyException_SetTraceback(v, tb);
            }
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
        return CCORO_ERROR;
    }
    Py_DECREF(r);
    if (res == NULL) {
        PyErr_Restore(t, v, tb);
        return CCORO_ERROR;
    }
    *out = res;
    return CCORO_RETURN;
}

static int
sleep_step(ccoro *co, PyObject *value, PyObject **out)
{
    SleepObj *s = (SleepObj *)co;
    switch (co->state) {
    case SLEEP_START: {
        int expired = delay_expired(s->delay);
        if (expired < 0) {
            return CCORO_ERROR;
        }
        if (expired) {
            /* A bare yield: the task reschedules itself, no future. */
            *out = Py_NewRef(Py_None);
            co->state = SLEEP_YIELDED;
            return CCORO_YIELD;
        }
#if PY_VERSION_HEX >= 0x030D0000
        /* 3.13 refuses a NaN delay (math.isnan, so any real number). */
        double d = PyFloat_AsDouble(s->delay);
        if (d == -1.0 && PyErr_Occurred()) {
            return CCORO_ERROR;
        }
        if (isnan(d)) {
            PyErr_SetString(PyExc_ValueError,
                            "Invalid delay: NaN (not a number)");
            return CCORO_ERROR;
        }
#endif
        if (sleep_start_timer(s) < 0) {
            Py_CLEAR(s->future);
            return CCORO_ERROR;
        }
        co->state = SLEEP_WAITING;
        *out = Py_NewRef(s->future);
        return CCORO_AWAIT;
    }
    case SLEEP_YIELDED:
        if (value == NULL) {
            return CCORO_ERROR;   /* thrown in at the yield */
        }
        *out = Py_NewRef(s->result);
        return CCORO_RETURN;
    case SLEEP_WAITING:
        return sleep_finish(s, Py_XNewRef(value), out);
    }
    PyErr_SetString(PyExc_SystemError, "sleep: bad state");
    return CCORO_ERROR;
}

/* ---- the object ------------------------------------------------------ */

static int
sleep_traverse(PyObject *self, visitproc visit, void *arg)
{
    SleepObj *s = (SleepObj *)self;
    Py_VISIT(s->delay);
    Py_VISIT(s->result);
    Py_VISIT(s->future);
    Py_VISIT(s->timer);
    return ccoro_traverse((ccoro *)s, visit, arg);
}

static int
sleep_clear(PyObject *self)
{
    SleepObj *s = (SleepObj *)self;
    ccoro_clear((ccoro *)s);
    Py_CLEAR(s->delay);
    Py_CLEAR(s->result);
    Py_CLEAR(s->future);
    Py_CLEAR(s->timer);
    return 0;
}

/* How many freed sleep coroutines a module keeps for reuse. */
#ifdef Py_GIL_DISABLED
/* None free-threaded: the list would be shared by every thread's deallocs
 * (and mimalloc's per-thread heaps make allocation cheap there). */
#define SLEEP_FREE_MAX 0
#else
#define SLEEP_FREE_MAX 1024
#endif

static void
sleep_dealloc(PyObject *self)
{
    SleepObj *s = (SleepObj *)self;
    PyTypeObject *tp = Py_TYPE(self);
    if (ccoro_dealloc_begin(self) < 0) {
        return;   /* resurrected */
    }
    (void)sleep_clear(self);
    pyasync_state *st = s->st;
    /* Only memory never finalized may be reused: the flag would stick. */
    if (st->sleep_nfree < SLEEP_FREE_MAX && !PyObject_GC_IsFinalized(self)) {
        s->delay = st->sleep_free;   /* the list's link */
        st->sleep_free = s;
        st->sleep_nfree++;
    }
    else {
        tp->tp_free(self);
    }
    Py_DECREF(tp);
}

void
pyasync_sleep_free(pyasync_state *st)
{
    while (st->sleep_free != NULL) {
        SleepObj *s = st->sleep_free;
        st->sleep_free = (void *)s->delay;
        PyObject_GC_Del(s);
    }
    st->sleep_nfree = 0;
}

static PyObject *
sleep_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<coroutine object sleep at %p>", self);
}

static PyObject *
sleep_new(pyasync_state *st, PyObject *delay, PyObject *result)
{
    PyTypeObject *tp = st->Sleep_Type;
    SleepObj *s = st->sleep_free;
    if (s != NULL) {
        /* Reuse a freed one: no allocation and no GC generation count. */
        st->sleep_free = (void *)s->delay;
        st->sleep_nfree--;
        (void)PyObject_Init((PyObject *)s, tp);
    }
    else {
        s = PyObject_GC_New(SleepObj, tp);
        if (s == NULL) {
            return NULL;
        }
    }
    ccoro_init((ccoro *)s, st, sleep_step, "sleep");
    s->delay = Py_NewRef(delay);
    s->result = Py_NewRef(result);
    s->future = NULL;
    s->timer = NULL;
    PyObject_GC_Track(s);
    return (PyObject *)s;
}

/* ---- sleep(delay, result=None) --------------------------------------- */

/* Bind the arguments as Python binds `async def sleep(delay, result=None)`,
 * with its error messages.  0 or -1. */
static int
sleep_bind(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           PyObject **delay, PyObject **result)
{
    *delay = nargs > 0 ? args[0] : NULL;
    *result = nargs > 1 ? args[1] : NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot;
        if (PyUnicode_CompareWithASCIIString(name, "delay") == 0) {
            slot = delay;
        }
        else if (PyUnicode_CompareWithASCIIString(name, "result") == 0) {
            slot = result;
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "sleep() got an unexpected keyword argument '%S'",
                         name);
            return -1;
        }
        if (*slot != NULL && (slot == delay ? nargs > 0 : nargs > 1)) {
            PyErr_Format(PyExc_TypeError,
                         "sleep() got multiple values for argument '%S'",
                         name);
            return -1;
        }
        *slot = args[nargs + i];
    }
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "sleep() takes from 1 to 2 positional arguments but "
                     "%zd were given", nargs);
        return -1;
    }
    if (*delay == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "sleep() missing 1 required positional argument: "
                        "'delay'");
        return -1;
    }
    if (*result == NULL) {
        *result = Py_None;
    }
    return 0;
}

static PyObject *
sleep_func(PyObject *module, PyObject *const *args, Py_ssize_t nargsf,
           PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *delay, *result;
    if (kwnames == NULL && (nargs == 1 || nargs == 2)) {
        delay = args[0];
        result = nargs == 2 ? args[1] : Py_None;
    }
    else if (sleep_bind(args, nargs, kwnames, &delay, &result) < 0) {
        return NULL;
    }
    return sleep_new(st, delay, result);
}

static PyMethodDef sleep_functions[] = {
    {"sleep", (PyCFunction)(void (*)(void))sleep_func,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("sleep($module, /, delay, result=None)\n--\n\n"
               "Coroutine that completes after a given time (in seconds).")},
    {NULL, NULL, 0, NULL},
};

/* After task.c (_set_result_unless_cancelled) and the
 * combinators (get_running_loop and the method names). */
static PyObject *
sleep_view(PyObject *coro)
{
    SleepObj *s = (SleepObj *)coro;
    return Py_BuildValue("{s:s,s:O,s:O,s:O}", "kind", "sleep",
                         "delay", view_field(s->delay),
                         "future", view_field(s->future),
                         "timer", view_field(s->timer));
}

int
pyasync_sleep_init(PyObject *module, pyasync_state *st)
{
    st->Sleep_Type = ccoro_type_new(module, "pyasync._core._Sleep",
                                    sizeof(SleepObj), sleep_traverse,
                                    sleep_clear, sleep_dealloc, sleep_repr);
    if (st->Sleep_Type == NULL) {
        return -1;
    }
    if (pyasync_register_view(st, st->Sleep_Type, sleep_view) < 0) {
        return -1;
    }
    st->sleep_set_result = PyObject_GetAttrString(
        module, "_set_result_unless_cancelled");
    if (st->sleep_set_result == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, sleep_functions);
}
