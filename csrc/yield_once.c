/* yield_once.c: what `await sleep(0)` awaits, a one-shot bare yield.
 *
 * asyncio's sleep(0) awaits a generator that yields None once, which the
 * task takes as "reschedule me".  A Python generator costs a frame and
 * about a thousand instructions to make, run and free; this object does
 * the same with one small allocation: the first send yields None, the
 * second returns.  A throw() (a cancellation) is raised at the await in
 * the caller, as it would be after leaving the generator. */
#include "pyasync.h"

typedef struct {
    PyObject_HEAD
    char yielded;
} YieldOnceObj;

static PySendResult
yield_once_send(PyObject *self, PyObject *Py_UNUSED(arg), PyObject **result)
{
    YieldOnceObj *y = (YieldOnceObj *)self;
    *result = Py_NewRef(Py_None);
    if (y->yielded) {
        return PYGEN_RETURN;
    }
    y->yielded = 1;
    return PYGEN_NEXT;
}

static PyObject *
yield_once_next(PyObject *self)
{
    YieldOnceObj *y = (YieldOnceObj *)self;
    if (y->yielded) {
        return NULL;                  /* StopIteration(None) */
    }
    y->yielded = 1;
    Py_RETURN_NONE;
}

static PyObject *
yield_once_self(PyObject *self)
{
    return Py_NewRef(self);
}

static void
yield_once_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot yield_once_slots[] = {
    {Py_am_await, yield_once_self},
    {Py_am_send, yield_once_send},
    {Py_tp_iter, yield_once_self},
    {Py_tp_iternext, yield_once_next},
    {Py_tp_dealloc, yield_once_dealloc},
    {0, NULL},
};

static PyType_Spec yield_once_spec = {
    .name = "pyasync._core._YieldOnce",
    .basicsize = sizeof(YieldOnceObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = yield_once_slots,
};

/* _core._yield_once(): a fresh one-shot yield. */
static PyObject *
yield_once_new(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pyasync_state *st = pyasync_state_from_module(module);
    /* PyObject_New takes the heap type's reference for the instance. */
    YieldOnceObj *y = PyObject_New(YieldOnceObj, st->YieldOnce_Type);
    if (y == NULL) {
        return NULL;
    }
    y->yielded = 0;
    return (PyObject *)y;
}

static PyMethodDef yield_once_functions[] = {
    {"_yield_once", yield_once_new, METH_NOARGS,
     PyDoc_STR("An awaitable that yields None once: sleep(0)'s bare yield.")},
    {NULL, NULL, 0, NULL},
};

int
pyasync_yield_once_init(PyObject *module, pyasync_state *st)
{
    st->YieldOnce_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &yield_once_spec, NULL);
    if (st->YieldOnce_Type == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, yield_once_functions);
}
