/* barrier.c: asyncio.Barrier in C (new in 3.11).
 *
 * Mirrors locks.py: all state changes happen under an internal Condition
 * (_cond); wait() blocks while the barrier drains or resets, then counts
 * itself in and either releases everybody (the last party) or waits for
 * the filling phase to end. */
#include "sync/waiter.h"

enum { B_FILLING, B_DRAINING, B_RESETTING, B_BROKEN };
static const char *const state_names[] = {
    "FILLING", "DRAINING", "RESETTING", "BROKEN",
};
static const char *const state_values[] = {
    "filling", "draining", "resetting", "broken",
};

typedef struct {
    SYNC_HEAD
    PyObject *cond;        /* _cond */
    Py_ssize_t parties;    /* _parties */
    Py_ssize_t count;      /* _count */
    int state;             /* _state, as an index into state_names */
} BarrierObj;

static int
barrier_notify_all(BarrierObj *self)
{
    PyObject *r = PyObject_CallMethod(self->cond, "notify_all", NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* `await self._cond.<name>()` from a step. */
static int
await_cond(sync_coro *c, PyObject *name)
{
    BarrierObj *self = (BarrierObj *)c->self;
    PyObject *aw = PyObject_CallMethodNoArgs(self->cond, name);
    if (aw == NULL) {
        return SYNC_ERROR;
    }
    int rc = sync_await(c, aw);
    Py_DECREF(aw);
    return rc;
}

enum {
    W_START, W_LOCKED, W_BLOCK, W_WAIT,
};

/* Leave `async with self._cond` (release the lock), then finish with
 * c->exc raised if set, else with c->result. */
static int
barrier_wait_leave(sync_coro *c)
{
    BarrierObj *self = (BarrierObj *)c->self;
    PyObject *exc = c->exc;
    c->exc = NULL;
    PyObject *r = PyObject_CallMethodNoArgs(self->cond, c->st->str_release);
    if (r == NULL) {
        if (exc != NULL) {
            sync_chain_exception(exc);
        }
        return SYNC_ERROR;
    }
    Py_DECREF(r);
    if (exc != NULL) {
        sync_restore_exception(exc);
        return SYNC_ERROR;
    }
    return SYNC_RETURN;
}

/* The `finally` of wait()'s try: count out, wake those waiting for the
 * barrier to drain; then leave the lock. */
static int
barrier_wait_finally(sync_coro *c)
{
    BarrierObj *self = (BarrierObj *)c->self;
    self->count--;
    if (self->count == 0) {
        if (self->state == B_RESETTING || self->state == B_DRAINING) {
            self->state = B_FILLING;
        }
        if (barrier_notify_all(self) < 0) {
            PyObject *pending = c->exc;
            c->exc = NULL;
            if (pending != NULL) {
                sync_chain_exception(pending);
            }
            c->exc = sync_fetch_exception();
            Py_CLEAR(c->result);
        }
    }
    return barrier_wait_leave(c);
}

static int
barrier_wait_fail(sync_coro *c, int in_try)
{
    c->exc = sync_fetch_exception();
    return in_try ? barrier_wait_finally(c) : barrier_wait_leave(c);
}

static int
barrier_wait_step(sync_coro *c, PyObject *value)
{
    BarrierObj *self = (BarrierObj *)c->self;
    pyasync_state *st = c->st;

    switch (c->state) {
    case W_START:
        if (value == NULL) {
            return SYNC_ERROR;
        }
        c->state = W_LOCKED;
        return await_cond(c, st->str_acquire);
    case W_LOCKED:
        if (value == NULL) {
            return SYNC_ERROR;   /* the lock was not taken */
        }
        c->state = W_BLOCK;
        /* _block() */
        /* fall through */
    case W_BLOCK:
        if (value == NULL) {
            return barrier_wait_fail(c, 0);
        }
        if (self->state == B_DRAINING || self->state == B_RESETTING) {
            return await_cond(c, st->str_wait);
        }
        if (self->state == B_BROKEN) {
            PyErr_SetString(st->BrokenBarrierError, "Barrier aborted");
            return barrier_wait_fail(c, 0);
        }
        c->index = self->count++;
        if (c->index + 1 == self->parties) {
            /* _release(): the last party lets everybody go. */
            self->state = B_DRAINING;
            if (barrier_notify_all(self) < 0) {
                return barrier_wait_fail(c, 1);
            }
            c->result = PyLong_FromSsize_t(c->index);
            if (c->result == NULL) {
                return barrier_wait_fail(c, 1);
            }
            return barrier_wait_finally(c);
        }
        c->state = W_WAIT;
        /* _wait() */
        /* fall through */
    case W_WAIT:
        if (value == NULL) {
            return barrier_wait_fail(c, 1);
        }
        if (self->state == B_FILLING) {
            return await_cond(c, st->str_wait);
        }
        if (self->state == B_BROKEN || self->state == B_RESETTING) {
            PyErr_SetString(st->BrokenBarrierError,
                            "Abort or reset of barrier");
            return barrier_wait_fail(c, 1);
        }
        c->result = PyLong_FromSsize_t(c->index);
        if (c->result == NULL) {
            return barrier_wait_fail(c, 1);
        }
        return barrier_wait_finally(c);
    }
    PyErr_SetString(PyExc_SystemError, "bad Barrier.wait state");
    return SYNC_ERROR;
}

/* reset() (c->flag == 0) and abort() (c->flag == 1). */
static int
barrier_change_step(sync_coro *c, PyObject *value)
{
    BarrierObj *self = (BarrierObj *)c->self;
    if (value == NULL) {
        return SYNC_ERROR;
    }
    if (c->state == 0) {
        c->state = 1;
        return await_cond(c, c->st->str_acquire);
    }
    if (c->flag) {
        self->state = B_BROKEN;
    }
    else if (self->count > 0) {
        self->state = B_RESETTING;
    }
    else {
        self->state = B_FILLING;
    }
    if (barrier_notify_all(self) < 0) {
        c->exc = sync_fetch_exception();
    }
    return barrier_wait_leave(c);
}

static int
barrier_aenter_step(sync_coro *c, PyObject *value)
{
    if (value == NULL) {
        return SYNC_ERROR;
    }
    if (c->state == 1) {
        return sync_return(c, value);
    }
    PyObject *aw = PyObject_CallMethodNoArgs(c->self, c->st->str_wait);
    if (aw == NULL) {
        return SYNC_ERROR;
    }
    c->state = 1;
    int rc = sync_await(c, aw);
    Py_DECREF(aw);
    return rc;
}

static int
barrier_aexit_step(sync_coro *c, PyObject *value)
{
    return value == NULL ? SYNC_ERROR : SYNC_RETURN;
}

static PyObject *
barrier_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    BarrierObj *self = (BarrierObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (sync_head_init((sync_obj *)self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->parties = 1;
    return (PyObject *)self;
}

static int
barrier_init_lock_held(BarrierObj *self, PyObject *args, PyObject *kwds)
{
    PyObject *parties_obj = NULL;
    if (sync_parse_init_arg("Barrier", args, kwds, "parties", 1,
                            &parties_obj) < 0) {
        return -1;
    }
    Py_ssize_t parties = PyNumber_AsSsize_t(parties_obj, PyExc_OverflowError);
    if (parties == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (parties < 1) {
#if PY_VERSION_HEX >= 0x030E0000
        PyErr_SetString(PyExc_ValueError, "parties must be >= 1");
#else
        PyErr_SetString(PyExc_ValueError, "parties must be > 0");
#endif
        return -1;
    }
    PyObject *cond = PyObject_CallNoArgs(self->st->Condition_Type);
    if (cond == NULL) {
        return -1;
    }
    Py_XSETREF(self->cond, cond);
    self->parties = parties;
    self->state = B_FILLING;
    self->count = 0;
    return 0;
}

SYNC_LOCKED_INIT(barrier_init, BarrierObj)

static int
barrier_check(BarrierObj *self)
{
    if (self->cond == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Barrier.__init__() was not called");
        return -1;
    }
    return 0;
}

static PyObject *
barrier_wait(BarrierObj *self, PyObject *Py_UNUSED(ignored))
{
    if (barrier_check(self) < 0) {
        return NULL;
    }
    return sync_coro_new(self->st, barrier_wait_step, "Barrier.wait",
                         (PyObject *)self, NULL);
}

static PyObject *
barrier_change(BarrierObj *self, const char *qualname, int abort)
{
    if (barrier_check(self) < 0) {
        return NULL;
    }
    sync_coro *c = (sync_coro *)sync_coro_new(
        self->st, barrier_change_step, qualname, (PyObject *)self, NULL);
    if (c != NULL) {
        c->flag = abort;
    }
    return (PyObject *)c;
}

static PyObject *
barrier_reset(BarrierObj *self, PyObject *Py_UNUSED(ignored))
{
    return barrier_change(self, "Barrier.reset", 0);
}

static PyObject *
barrier_abort(BarrierObj *self, PyObject *Py_UNUSED(ignored))
{
    return barrier_change(self, "Barrier.abort", 1);
}

static PyObject *
barrier_aenter(BarrierObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, barrier_aenter_step, "Barrier.__aenter__",
                         (PyObject *)self, NULL);
}

static PyObject *
barrier_aexit(BarrierObj *self, PyObject *args)
{
    return sync_coro_new(self->st, barrier_aexit_step, "Barrier.__aexit__",
                         (PyObject *)self, NULL);
}

static PyObject *
barrier_get_parties(BarrierObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->parties);
}

/* The state, and into *n_waiting the waiters' count, read together in
 * the barrier's critical section (waiter.h). */
static int
barrier_read_state(BarrierObj *self, Py_ssize_t *n_waiting)
{
    int state;
    Py_BEGIN_CRITICAL_SECTION(self);
    state = self->state;
    *n_waiting = state == B_FILLING ? self->count : 0;
    Py_END_CRITICAL_SECTION();
    return state;
}

static PyObject *
barrier_get_n_waiting(BarrierObj *self, void *Py_UNUSED(closure))
{
    Py_ssize_t n;
    (void)barrier_read_state(self, &n);
    return PyLong_FromSsize_t(n);
}

static PyObject *
barrier_get_broken(BarrierObj *self, void *Py_UNUSED(closure))
{
    Py_ssize_t n;
    return PyBool_FromLong(barrier_read_state(self, &n) == B_BROKEN);
}

static PyObject *
barrier_get_state(BarrierObj *self, void *Py_UNUSED(closure))
{
    Py_ssize_t n;
    return PyObject_GetAttrString(self->st->sync_barrier_states,
                                  state_names[barrier_read_state(self, &n)]);
}

static int
barrier_set_state(BarrierObj *self, PyObject *value, void *Py_UNUSED(closure))
{
    for (int i = 0; i < 4; i++) {
        PyObject *member = PyObject_GetAttrString(self->st->sync_barrier_states,
                                                  state_names[i]);
        if (member == NULL) {
            return -1;
        }
        Py_DECREF(member);   /* kept alive by the enum class */
        if (member == value) {
            Py_BEGIN_CRITICAL_SECTION(self);
            self->state = i;
            Py_END_CRITICAL_SECTION();
            return 0;
        }
    }
    PyErr_SetString(PyExc_TypeError, "_state must be a _BarrierState");
    return -1;
}

static PyObject *
barrier_repr_lock_held(BarrierObj *self)
{
    PyObject *extra;
    if (self->state == B_BROKEN) {
        extra = PyUnicode_FromString(state_values[self->state]);
    }
    else {
        extra = PyUnicode_FromFormat(
            "%s, waiters:%zd/%zd", state_values[self->state],
            self->state == B_FILLING ? self->count : 0, self->parties);
    }
    return sync_repr_extra((PyObject *)self, extra);
}

SYNC_LOCKED_REPR(barrier_repr, BarrierObj)

static int
barrier_traverse(BarrierObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cond);
    return sync_head_traverse((sync_obj *)self, visit, arg);
}

static int
barrier_clear(PyObject *op)
{
    BarrierObj *self = (BarrierObj *)op;
    Py_CLEAR(self->cond);
    sync_head_clear((sync_obj *)self);
    return 0;
}

SYNC_DEFINE_DEALLOC(barrier_dealloc, barrier_clear)

static PyMethodDef barrier_methods[] = {
    {"wait", (PyCFunction)barrier_wait, METH_NOARGS, NULL},
    {"reset", (PyCFunction)barrier_reset, METH_NOARGS, NULL},
    {"abort", (PyCFunction)barrier_abort, METH_NOARGS, NULL},
    {"__aenter__", (PyCFunction)barrier_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)barrier_aexit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef barrier_getset[] = {
    {"parties", (getter)barrier_get_parties, NULL, NULL, NULL},
    {"n_waiting", (getter)barrier_get_n_waiting, NULL, NULL, NULL},
    {"broken", (getter)barrier_get_broken, NULL, NULL, NULL},
    {"_state", (getter)barrier_get_state, (setter)barrier_set_state, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef barrier_members[] = {
    SYNC_HEAD_MEMBERS(BarrierObj),
    {"_cond", T_OBJECT, offsetof(BarrierObj, cond), READONLY, NULL},
    {"_parties", T_PYSSIZET, offsetof(BarrierObj, parties), READONLY, NULL},
    {"_count", T_PYSSIZET, offsetof(BarrierObj, count), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot barrier_slots[] = {
    {Py_tp_doc, "Asyncio equivalent to threading.Barrier (asyncio.Barrier)."},
    {Py_tp_new, barrier_new},
    {Py_tp_init, barrier_init},
    {Py_tp_dealloc, barrier_dealloc},
    {Py_tp_traverse, barrier_traverse},
    {Py_tp_clear, barrier_clear},
    {Py_tp_repr, barrier_repr},
    {Py_tp_methods, barrier_methods},
    {Py_tp_getset, barrier_getset},
    {Py_tp_members, barrier_members},
    {0, NULL},
};

static PyType_Spec barrier_spec = {
    .name = "pyasync.Barrier",
    .basicsize = sizeof(BarrierObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = barrier_slots,
};

int
pyasync_barrier_init(PyObject *module, pyasync_state *st)
{
    st->Barrier_Type = sync_add_type(module, &barrier_spec, NULL);
    return st->Barrier_Type == NULL ? -1 : 0;
}
