/* semaphore.c: asyncio.Semaphore and asyncio.BoundedSemaphore in C.
 *
 * 3.11 semantics: locked() is true while any live waiter is queued (no
 * barging), release() hands the unit to the first waiter that is not done
 * (_wake_up_next), and a waiter cancelled after being handed a unit gives
 * it back and wakes the next.  3.13: the woken-then-cancelled waiter only
 * gives the unit back, and every acquire that waited, however it ends, wakes
 * as many queued waiters as there are units (FIFO made newcomers queue
 * even with units free). */
#include "sync/waiter.h"
#include "diag/lock_diag.h"

/* A semaphore made with value 1 is taken for a lock by the deadlock
 * diagnosis (lock_diag.h): its holder is the task that took the unit. */
#define SEM_DIAG(self) ((self)->as_lock && pyasync_diag_active((self)->st))

typedef struct {
    SYNC_WAITERS_HEAD    /* _waiters: None until the first contention */
    Py_ssize_t value;      /* _value */
    Py_ssize_t bound;      /* _bound_value (BoundedSemaphore) */
    char as_lock;          /* made with value 1 */
} SemObj;

/* value == 0 or any(not w.cancelled() for w in waiters) */
static int
sem_is_locked(SemObj *self)
{
    if (self->value == 0) {
        return 1;
    }
    int all = sync_waiters_all_cancelled(self->st, self->waiters);
    return all < 0 ? -1 : !all;
}

/* 1: a waiter was handed a unit, 0: nobody to wake, -1: error. */
static int
sem_wake_up_next(SemObj *self)
{
    pyasync_state *st = self->st;
    if (sync_waiters_len(self->waiters) <= 0) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *it = PyObject_GetIter(self->waiters);
    if (it == NULL) {
        return -1;
    }
    PyObject *fut;
    int rc = 0;
    while ((fut = PyIter_Next(it)) != NULL) {
        int done = sync_future_done(st, fut);
        if (done == 0) {
            self->value--;
            rc = sync_future_set_result(st, fut, Py_True) < 0 ? -1 : 1;
            Py_DECREF(fut);
            break;
        }
        Py_DECREF(fut);
        if (done < 0) {
            rc = -1;
            break;
        }
    }
    Py_DECREF(it);
    if (rc == 0 && PyErr_Occurred()) {
        rc = -1;
    }
    return rc;
}

/* c->flag: 1 when run as __aenter__ (returns None instead of True). */
static int
sem_acquire_step(sync_coro *c, PyObject *value)
{
    SemObj *self = (SemObj *)c->self;
    pyasync_state *st = c->st;
    PyObject *ret = c->flag ? Py_None : Py_True;

    if (c->state == 0) {
        if (value == NULL) {
            return SYNC_ERROR;
        }
        int locked = sem_is_locked(self);
        if (locked < 0) {
            return SYNC_ERROR;
        }
        if (!locked) {
            self->value--;
            if (SEM_DIAG(self)) {
                pyasync_diag_notify(st, PYASYNC_DIAG_ACQUIRED,
                                    (PyObject *)self);
            }
            return sync_return(c, ret);
        }
        if (SEM_DIAG(self)
            && sync_diag_before_wait(st, (PyObject *)self, &self->loop) < 0) {
            return SYNC_ERROR;   /* DeadlockError: this wait never ends */
        }
        return sync_wait_new_future(c, &self->waiters, &self->loop, 1);
    }

    if (SEM_DIAG(self)) {
        pyasync_diag_notify(st, PYASYNC_DIAG_WAIT_ENDED, (PyObject *)self);
    }
    PyObject *exc;
    if (sync_wait_finally(c, value, self->waiters, &exc) < 0) {
        return SYNC_ERROR;
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (exc != NULL && PyErr_GivenExceptionMatches(exc, st->CancelledError)) {
        int done = sync_future_done(st, c->fut);
        int cancelled = done > 0 ? sync_future_cancelled(st, c->fut) : 0;
        if (done < 0 || cancelled < 0) {
            sync_chain_exception(exc);
            return SYNC_ERROR;
        }
        if (done && !cancelled) {
            self->value++;          /* woken, then cancelled: give it back */
        }
    }
    while (self->value > 0) {
        int woke = sem_wake_up_next(self);
        if (woke < 0) {
            if (exc != NULL) {
                sync_chain_exception(exc);
            }
            return SYNC_ERROR;
        }
        if (woke == 0) {
            break;
        }
    }
    if (exc != NULL) {
        sync_restore_exception(exc);
        return SYNC_ERROR;
    }
#else
    if (exc != NULL) {
        if (PyErr_GivenExceptionMatches(exc, st->CancelledError)) {
            int cancelled = sync_future_cancelled(st, c->fut);
            if (cancelled == 0) {
                /* Woken, then cancelled: give the unit back. */
                self->value++;
                cancelled = sem_wake_up_next(self);
            }
            if (cancelled < 0) {
                sync_chain_exception(exc);
                return SYNC_ERROR;
            }
        }
        sync_restore_exception(exc);
        return SYNC_ERROR;
    }
    if (self->value > 0 && sem_wake_up_next(self) < 0) {
        return SYNC_ERROR;
    }
#endif
    if (SEM_DIAG(self)) {
        pyasync_diag_notify(st, PYASYNC_DIAG_ACQUIRED, (PyObject *)self);
    }
    return sync_return(c, ret);
}

static int
sem_fields_init(SemObj *self, Py_ssize_t value)
{
    if (sync_head_init((sync_obj *)self) < 0) {
        return -1;
    }
    if (value < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "Semaphore initial value must be >= 0");
        return -1;
    }
    Py_XSETREF(self->waiters, Py_NewRef(Py_None));
    self->value = value;
    self->as_lock = value == 1;
    return 0;
}

static PyObject *
sem_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    SemObj *self = (SemObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (sem_fields_init(self, 1) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->bound = 1;
    return (PyObject *)self;
}

static int
parse_value(PyObject *args, PyObject *kwds, const char *cls,
            Py_ssize_t *value)
{
    PyObject *v = NULL;
    if (sync_parse_init_arg(cls, args, kwds, "value", 0, &v) < 0) {
        return -1;
    }
    if (v == NULL) {
        *value = 1;
        return 0;
    }
    *value = PyNumber_AsSsize_t(v, PyExc_OverflowError);
    return (*value == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
sem_init_lock_held(SemObj *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t value;
    if (parse_value(args, kwds, "Semaphore", &value) < 0) {
        return -1;
    }
    return sem_fields_init(self, value);
}

SYNC_LOCKED_INIT(sem_init, SemObj)

static int
bsem_init_lock_held(SemObj *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t value;
    if (parse_value(args, kwds, "BoundedSemaphore", &value) < 0) {
        return -1;
    }
    self->bound = value;
    return sem_fields_init(self, value);
}

SYNC_LOCKED_INIT(bsem_init, SemObj)

static PyObject *
sem_locked_lock_held(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    int locked = sem_is_locked(self);
    return locked < 0 ? NULL : PyBool_FromLong(locked);
}

SYNC_LOCKED(sem_locked, SemObj)

static PyObject *
sem_acquire(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, sem_acquire_step, "Semaphore.acquire",
                         (PyObject *)self, NULL);
}

static PyObject *
sem_release_lock_held(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    self->value++;
    if (SEM_DIAG(self)) {
        pyasync_diag_notify(self->st, PYASYNC_DIAG_RELEASED, (PyObject *)self);
    }
    if (sem_wake_up_next(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(sem_release, SemObj)

static PyObject *
bsem_release_lock_held(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->value >= self->bound) {
        PyErr_SetString(PyExc_ValueError,
                        "BoundedSemaphore released too many times");
        return NULL;
    }
    return sem_release_lock_held(self, NULL);
}

SYNC_LOCKED(bsem_release, SemObj)

static PyObject *
sem_wake_up_next_meth_lock_held(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    if (sem_wake_up_next(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(sem_wake_up_next_meth, SemObj)

static PyObject *
sem_aenter(SemObj *self, PyObject *Py_UNUSED(ignored))
{
    if (Py_IS_TYPE(self, (PyTypeObject *)self->st->Semaphore_Type)
        || Py_IS_TYPE(self, (PyTypeObject *)self->st->BoundedSemaphore_Type)) {
        sync_coro *c = (sync_coro *)sync_coro_new(
            self->st, sem_acquire_step, "_ContextManagerMixin.__aenter__",
            (PyObject *)self, NULL);
        if (c != NULL) {
            c->flag = 1;
        }
        return (PyObject *)c;
    }
    return sync_generic_aenter(self->st, (PyObject *)self);
}

static PyObject *
sem_aexit(SemObj *self, PyObject *args)
{
    return sync_generic_aexit(self->st, (PyObject *)self);
}

static PyObject *
sem_repr_lock_held(SemObj *self)
{
    int locked = sem_is_locked(self);
    if (locked < 0) {
        return NULL;
    }
    PyObject *extra = locked
        ? PyUnicode_FromString("locked")
        : PyUnicode_FromFormat("unlocked, value:%zd", self->value);
    return sync_repr_extra((PyObject *)self,
                           sync_extra_waiters(extra, self->waiters));
}

SYNC_LOCKED_REPR(sem_repr, SemObj)

static PyMethodDef sem_methods[] = {
    {"acquire", (PyCFunction)sem_acquire, METH_NOARGS, NULL},
    {"release", (PyCFunction)sem_release, METH_NOARGS, NULL},
    {"locked", (PyCFunction)sem_locked, METH_NOARGS, NULL},
    {"_wake_up_next", (PyCFunction)sem_wake_up_next_meth, METH_NOARGS, NULL},
    {"__aenter__", (PyCFunction)sem_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)sem_aexit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef sem_members[] = {
    SYNC_WAITERS_MEMBERS(SemObj),
    {"_value", T_PYSSIZET, offsetof(SemObj, value), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot sem_slots[] = {
    {Py_tp_doc, "A semaphore (asyncio.Semaphore)."},
    {Py_tp_new, sem_new},
    {Py_tp_init, sem_init},
    SYNC_WAITERS_SLOTS,
    {Py_tp_repr, sem_repr},
    {Py_tp_methods, sem_methods},
    {Py_tp_members, sem_members},
    {0, NULL},
};

static PyType_Spec sem_spec = {
    .name = "pyasync.Semaphore",
    .basicsize = sizeof(SemObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = sem_slots,
};

static PyMethodDef bsem_methods[] = {
    {"release", (PyCFunction)bsem_release, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef bsem_members[] = {
    {"_bound_value", T_PYSSIZET, offsetof(SemObj, bound), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot bsem_slots[] = {
    {Py_tp_doc, "A bounded semaphore (asyncio.BoundedSemaphore)."},
    {Py_tp_init, bsem_init},
    SYNC_WAITERS_SLOTS,
    {Py_tp_methods, bsem_methods},
    {Py_tp_members, bsem_members},
    {0, NULL},
};

static PyType_Spec bsem_spec = {
    .name = "pyasync.BoundedSemaphore",
    .basicsize = sizeof(SemObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = bsem_slots,
};

int
pyasync_semaphore_init(PyObject *module, pyasync_state *st)
{
    st->Semaphore_Type = sync_add_type(module, &sem_spec, NULL);
    if (st->Semaphore_Type == NULL) {
        return -1;
    }
    st->BoundedSemaphore_Type = sync_add_type(module, &bsem_spec,
                                              st->Semaphore_Type);
    return st->BoundedSemaphore_Type == NULL ? -1 : 0;
}
