/* event.c: asyncio.Event in C. */
#include "sync/waiter.h"

typedef struct {
    SYNC_WAITERS_HEAD    /* _waiters: a deque */
    char value;          /* _value */
} EventObj;

static int
event_wait_step(sync_coro *c, PyObject *value)
{
    EventObj *self = (EventObj *)c->self;
    if (c->state == 0) {
        if (value == NULL) {
            return SYNC_ERROR;
        }
        if (self->value) {
            return sync_return(c, Py_True);
        }
        return sync_wait_new_future(c, &self->waiters, &self->loop, 0);
    }
    PyObject *exc;
    if (sync_wait_finally(c, value, self->waiters, &exc) < 0) {
        return SYNC_ERROR;
    }
    if (exc != NULL) {
        sync_restore_exception(exc);
        return SYNC_ERROR;
    }
    return sync_return(c, Py_True);
}

static int
event_fields_init(EventObj *self)
{
    if (sync_head_init((sync_obj *)self) < 0) {
        return -1;
    }
    PyObject *dq = sync_deque_new(self->st);
    if (dq == NULL) {
        return -1;
    }
    Py_XSETREF(self->waiters, dq);
    self->value = 0;
    return 0;
}

static PyObject *
event_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    EventObj *self = (EventObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (event_fields_init(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
event_init_lock_held(EventObj *self, PyObject *args, PyObject *kwds)
{
    if (sync_check_no_args("Event", args, kwds) < 0) {
        return -1;
    }
    return event_fields_init(self);
}

SYNC_LOCKED_INIT(event_init, EventObj)

static PyObject *
event_is_set_lock_held(EventObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->value);
}

SYNC_LOCKED(event_is_set, EventObj)

static PyObject *
event_set_lock_held(EventObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->value) {
        Py_RETURN_NONE;
    }
    self->value = 1;
    if (self->waiters == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *it = PyObject_GetIter(self->waiters);
    if (it == NULL) {
        return NULL;
    }
    PyObject *fut;
    while ((fut = PyIter_Next(it)) != NULL) {
        int done = sync_future_done(self->st, fut);
        if (done == 0) {
            done = sync_future_set_result(self->st, fut, Py_True);
        }
        Py_DECREF(fut);
        if (done < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(event_set, EventObj)

static PyObject *
event_clear_meth_lock_held(EventObj *self, PyObject *Py_UNUSED(ignored))
{
    self->value = 0;
    Py_RETURN_NONE;
}

SYNC_LOCKED(event_clear_meth, EventObj)

int
sync_event_clear(pyasync_state *st, PyObject *event)
{
    if (Py_IS_TYPE(event, (PyTypeObject *)st->Event_Type)) {
        Py_BEGIN_CRITICAL_SECTION(event);
        ((EventObj *)event)->value = 0;   /* what Event.clear() does */
        Py_END_CRITICAL_SECTION();
        return 0;
    }
    PyObject *r = PyObject_CallMethodNoArgs(event, st->str_clear);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *
event_wait(EventObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, event_wait_step, "Event.wait",
                         (PyObject *)self, NULL);
}

static PyObject *
event_repr_lock_held(EventObj *self)
{
    PyObject *extra = PyUnicode_FromString(self->value ? "set" : "unset");
    return sync_repr_extra((PyObject *)self,
                           sync_extra_waiters(extra, self->waiters));
}

SYNC_LOCKED_REPR(event_repr, EventObj)

static PyMethodDef event_methods[] = {
    {"is_set", (PyCFunction)event_is_set, METH_NOARGS, NULL},
    {"set", (PyCFunction)event_set, METH_NOARGS, NULL},
    {"clear", (PyCFunction)event_clear_meth, METH_NOARGS, NULL},
    {"wait", (PyCFunction)event_wait, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef event_members[] = {
    SYNC_WAITERS_MEMBERS(EventObj),
    {"_value", T_BOOL, offsetof(EventObj, value), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot event_slots[] = {
    {Py_tp_doc, "Asynchronous equivalent to threading.Event (asyncio.Event)."},
    {Py_tp_new, event_new},
    {Py_tp_init, event_init},
    SYNC_WAITERS_SLOTS,
    {Py_tp_repr, event_repr},
    {Py_tp_methods, event_methods},
    {Py_tp_members, event_members},
    {0, NULL},
};

static PyType_Spec event_spec = {
    .name = "pyasync.Event",
    .basicsize = sizeof(EventObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = event_slots,
};

int
pyasync_event_init(PyObject *module, pyasync_state *st)
{
    st->Event_Type = sync_add_type(module, &event_spec, NULL);
    return st->Event_Type == NULL ? -1 : 0;
}
