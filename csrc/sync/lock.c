/* lock.c: asyncio.Lock in C.
 *
 * Fair: acquire() takes the lock at once only when no live (uncancelled)
 * waiter is queued, and a waiter cancelled after its wake-up passes the
 * wake-up on to the next one. */
#include "sync/waiter.h"
#include "diag/lock_diag.h"

typedef struct {
    SYNC_WAITERS_HEAD    /* _waiters: None until the first contention */
    char locked;         /* _locked */
} LockObj;

static int
lock_wake_up_first(LockObj *self)
{
    pyasync_state *st = self->st;
    PyObject *waiters = self->waiters;
    if (sync_waiters_len(waiters) <= 0) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *fut = sync_waiters_first(st, waiters);
    if (fut == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    int done = sync_future_done(st, fut);
    int rc = done;
    if (done == 0) {
        rc = sync_future_set_result(st, fut, Py_True);
    }
    Py_DECREF(fut);
    return rc < 0 ? -1 : 0;
}

/* c->flag: 1 when run as __aenter__ (returns None instead of True). */
static int
lock_acquire_step(sync_coro *c, PyObject *value)
{
    LockObj *self = (LockObj *)c->self;
    pyasync_state *st = c->st;
    PyObject *ret = c->flag ? Py_None : Py_True;

    if (c->state == 0) {
        if (value == NULL) {
            return SYNC_ERROR;
        }
        if (!self->locked) {
            int all = sync_waiters_all_cancelled(st, self->waiters);
            if (all < 0) {
                return SYNC_ERROR;
            }
            if (all) {
                self->locked = 1;
                if (pyasync_diag_active(st)) {
                    pyasync_diag_notify(st, PYASYNC_DIAG_ACQUIRED,
                                        (PyObject *)self);
                }
                return sync_return(c, ret);
            }
        }
        if (pyasync_diag_active(st)
            && sync_diag_before_wait(st, (PyObject *)self, &self->loop) < 0) {
            return SYNC_ERROR;   /* DeadlockError: this wait never ends */
        }
        return sync_wait_new_future(c, &self->waiters, &self->loop, 1);
    }

    /* Woken up, or thrown into: first the `finally` removing the waiter. */
    if (pyasync_diag_active(st)) {
        pyasync_diag_notify(st, PYASYNC_DIAG_WAIT_ENDED, (PyObject *)self);
    }
    PyObject *exc;
    if (sync_wait_finally(c, value, self->waiters, &exc) < 0) {
        return SYNC_ERROR;
    }
    if (exc != NULL) {
        if (PyErr_GivenExceptionMatches(exc, st->CancelledError)
            && !self->locked) {
            /* Cancelled after being woken: pass the wake-up on. */
            if (lock_wake_up_first(self) < 0) {
                sync_chain_exception(exc);
                return SYNC_ERROR;
            }
        }
        sync_restore_exception(exc);
        return SYNC_ERROR;
    }
    self->locked = 1;
    if (pyasync_diag_active(st)) {
        pyasync_diag_notify(st, PYASYNC_DIAG_ACQUIRED, (PyObject *)self);
    }
    return sync_return(c, ret);
}

static int
lock_init_lock_held(LockObj *self, PyObject *args, PyObject *kwds)
{
    if (sync_check_no_args("Lock", args, kwds) < 0) {
        return -1;
    }
    if (sync_head_init((sync_obj *)self) < 0) {
        return -1;
    }
    Py_XSETREF(self->waiters, Py_NewRef(Py_None));
    self->locked = 0;
    return 0;
}

SYNC_LOCKED_INIT(lock_init, LockObj)

static PyObject *
lock_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    LockObj *self = (LockObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (sync_head_init((sync_obj *)self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->waiters = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static PyObject *
lock_acquire(LockObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, lock_acquire_step, "Lock.acquire",
                         (PyObject *)self, NULL);
}

static PyObject *
lock_release_lock_held(LockObj *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->locked) {
        PyErr_SetString(PyExc_RuntimeError, "Lock is not acquired.");
        return NULL;
    }
    self->locked = 0;
    if (pyasync_diag_active(self->st)) {
        pyasync_diag_notify(self->st, PYASYNC_DIAG_RELEASED, (PyObject *)self);
    }
    if (lock_wake_up_first(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(lock_release, LockObj)

static PyObject *
lock_wake_up_first_meth_lock_held(LockObj *self, PyObject *Py_UNUSED(ignored))
{
    if (lock_wake_up_first(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(lock_wake_up_first_meth, LockObj)

static PyObject *
lock_locked_lock_held(LockObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->locked);
}

SYNC_LOCKED(lock_locked, LockObj)

static PyObject *
lock_aenter(LockObj *self, PyObject *Py_UNUSED(ignored))
{
    if (Py_IS_TYPE(self, (PyTypeObject *)self->st->Lock_Type)) {
        sync_coro *c = (sync_coro *)sync_coro_new(
            self->st, lock_acquire_step, "_ContextManagerMixin.__aenter__",
            (PyObject *)self, NULL);
        if (c != NULL) {
            c->flag = 1;
        }
        return (PyObject *)c;
    }
    return sync_generic_aenter(self->st, (PyObject *)self);
}

static int
lock_aexit_step(sync_coro *c, PyObject *value)
{
    if (value == NULL) {
        return SYNC_ERROR;
    }
    PyObject *r = lock_release_lock_held((LockObj *)c->self, NULL);
    if (r == NULL) {
        return SYNC_ERROR;
    }
    Py_DECREF(r);
    return SYNC_RETURN;
}

static PyObject *
lock_aexit(LockObj *self, PyObject *args)
{
    /* An exact Lock's release() cannot be overridden: call it directly. */
    if (Py_IS_TYPE(self, (PyTypeObject *)self->st->Lock_Type)) {
        return sync_coro_new(self->st, lock_aexit_step,
                             "_ContextManagerMixin.__aexit__",
                             (PyObject *)self, NULL);
    }
    return sync_generic_aexit(self->st, (PyObject *)self);
}

static PyObject *
lock_repr_lock_held(LockObj *self)
{
    PyObject *extra = PyUnicode_FromString(self->locked ? "locked" : "unlocked");
    return sync_repr_extra((PyObject *)self,
                           sync_extra_waiters(extra, self->waiters));
}

SYNC_LOCKED_REPR(lock_repr, LockObj)

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)lock_acquire, METH_NOARGS, NULL},
    {"release", (PyCFunction)lock_release, METH_NOARGS, NULL},
    {"locked", (PyCFunction)lock_locked, METH_NOARGS, NULL},
    {"_wake_up_first", (PyCFunction)lock_wake_up_first_meth, METH_NOARGS, NULL},
    {"__aenter__", (PyCFunction)lock_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)lock_aexit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef lock_members[] = {
    SYNC_WAITERS_MEMBERS(LockObj),
    {"_locked", T_BOOL, offsetof(LockObj, locked), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot lock_slots[] = {
    {Py_tp_doc, "Primitive lock objects (asyncio.Lock)."},
    {Py_tp_new, lock_new},
    {Py_tp_init, lock_init},
    SYNC_WAITERS_SLOTS,
    {Py_tp_repr, lock_repr},
    {Py_tp_methods, lock_methods},
    {Py_tp_members, lock_members},
    {0, NULL},
};

static PyType_Spec lock_spec = {
    .name = "pyasync.Lock",
    .basicsize = sizeof(LockObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = lock_slots,
};

int
pyasync_lock_init(PyObject *module, pyasync_state *st)
{
    st->Lock_Type = sync_add_type(module, &lock_spec, NULL);
    return st->Lock_Type == NULL ? -1 : 0;
}
