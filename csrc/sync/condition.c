/* condition.c: asyncio.Condition in C.
 *
 * The underlying lock may be any asyncio-style lock, so it is driven
 * through its methods.  wait() always re-acquires the lock before it
 * returns or raises; a cancellation during the re-acquire is remembered and
 * raised as a new CancelledError once the lock is held again (3.11, 3.12).
 * 3.13 re-raises the last CancelledError instance instead, and a wait()
 * that raises after letting go of the lock notifies another waiter. */
#include "sync/waiter.h"

typedef struct {
    SYNC_HEAD
    PyObject *lock;      /* _lock */
    PyObject *waiters;   /* _waiters: a deque */
} CondObj;

static int
cond_is_locked(CondObj *self)
{
    if (self->lock == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_lock");
        return -1;
    }
    PyObject *r = PyObject_CallMethodNoArgs(self->lock, self->st->str_locked);
    if (r == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(r);
    Py_DECREF(r);
    return b;
}

static PyObject *
cond_call_lock(CondObj *self, PyObject *name)
{
    if (self->lock == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_lock");
        return NULL;
    }
    return PyObject_CallMethodNoArgs(self->lock, name);
}

/* _notify(n): wake the first n waiters not yet done.  0 or -1. */
static int
cond_notify_waiters(CondObj *self, Py_ssize_t n)
{
    if (self->waiters == NULL) {
        return 0;
    }
    PyObject *it = PyObject_GetIter(self->waiters);
    if (it == NULL) {
        return -1;
    }
    Py_ssize_t idx = 0;
    PyObject *fut;
    while (idx < n && (fut = PyIter_Next(it)) != NULL) {
        int done = sync_future_done(self->st, fut);
        if (done == 0) {
            idx++;
            done = sync_future_set_result(self->st, fut, Py_False);
        }
        Py_DECREF(fut);
        if (done < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *
cond_notify_n(CondObj *self, Py_ssize_t n)
{
    int locked = cond_is_locked(self);
    if (locked < 0) {
        return NULL;
    }
    if (!locked) {
        PyErr_SetString(PyExc_RuntimeError, "cannot notify on un-acquired lock");
        return NULL;
    }
    if (cond_notify_waiters(self, n) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

enum { WAIT_START, WAIT_NOTIFIED, WAIT_REACQUIRE };

/* Start re-acquiring the lock: `await self.acquire()` in wait()'s finally. */
static int
cond_wait_reacquire(sync_coro *c)
{
    PyObject *aw = PyObject_CallMethodNoArgs(c->self, c->st->str_acquire);
    if (aw == NULL) {
        if (c->exc != NULL) {
            sync_chain_exception(Py_NewRef(c->exc));
        }
        return SYNC_ERROR;
    }
    c->state = WAIT_REACQUIRE;
    int rc = sync_await(c, aw);
    Py_DECREF(aw);
    return rc;
}

/* c->exc: what wait() is raising once the lock is back (NULL: return
 * True); c->flag: cancelled during the re-acquire. */
static int
cond_wait_step_body(sync_coro *c, PyObject *value)
{
    CondObj *self = (CondObj *)c->self;
    pyasync_state *st = c->st;

    switch (c->state) {
    case WAIT_START: {
        if (value == NULL) {
            return SYNC_ERROR;
        }
        int locked = cond_is_locked(self);
        if (locked < 0) {
            return SYNC_ERROR;
        }
        if (!locked) {
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot wait on un-acquired lock");
            return SYNC_ERROR;
        }
#if PY_VERSION_HEX >= 0x030D0000
        /* 3.13 makes the future before it lets go of the lock. */
        PyObject *loop = sync_get_loop(st, (PyObject *)self, &self->loop);
        if (loop == NULL) {
            return SYNC_ERROR;
        }
        c->fut = sync_future_new(st, loop);
        Py_DECREF(loop);
        if (c->fut == NULL) {
            return SYNC_ERROR;
        }
        PyObject *r = PyObject_CallMethodNoArgs(c->self, st->str_release);
        if (r == NULL) {
            return SYNC_ERROR;
        }
        Py_DECREF(r);
        c->index = 1;   /* released: a failure from here on notifies another */
        if (sync_waiters_append(st, self->waiters, c->fut) < 0) {
#else
        PyObject *r = PyObject_CallMethodNoArgs(c->self, st->str_release);
        if (r == NULL) {
            return SYNC_ERROR;
        }
        Py_DECREF(r);
        /* From here on every way out goes through the re-acquire. */
        PyObject *loop = sync_get_loop(st, (PyObject *)self, &self->loop);
        if (loop != NULL) {
            c->fut = sync_future_new(st, loop);
            Py_DECREF(loop);
        }
        if (c->fut == NULL
            || sync_waiters_append(st, self->waiters, c->fut) < 0) {
#endif
            c->exc = sync_fetch_exception();
            return cond_wait_reacquire(c);
        }
        c->state = WAIT_NOTIFIED;
        return sync_await(c, c->fut);
    }
    case WAIT_NOTIFIED:
        if (value == NULL) {
            c->exc = sync_fetch_exception();
        }
        if (sync_waiters_remove(st, self->waiters, c->fut) < 0) {
            if (c->exc != NULL) {
                PyObject *pending = c->exc;
                c->exc = NULL;
                sync_chain_exception(pending);
            }
            c->exc = sync_fetch_exception();
        }
        return cond_wait_reacquire(c);
    case WAIT_REACQUIRE:
        if (value == NULL) {
            if (!PyErr_ExceptionMatches(st->CancelledError)) {
                if (c->exc != NULL) {
                    sync_chain_exception(Py_NewRef(c->exc));
                }
                return SYNC_ERROR;
            }
#if PY_VERSION_HEX >= 0x030D0000
            /* 3.13 re-raises the most recent CancelledError itself. */
            Py_XSETREF(c->arg, sync_fetch_exception());
#else
            PyErr_Clear();
#endif
            c->flag = 1;
            return cond_wait_reacquire(c);
        }
        if (c->flag) {
#if PY_VERSION_HEX >= 0x030D0000
            PyObject *err = c->arg;
            c->arg = NULL;
            sync_restore_exception(err);
#else
            PyErr_SetNone(st->CancelledError);
#endif
            if (c->exc != NULL) {
                sync_chain_exception(Py_NewRef(c->exc));
            }
            return SYNC_ERROR;
        }
        if (c->exc != NULL) {
            PyObject *exc = c->exc;
            c->exc = NULL;
            sync_restore_exception(exc);
            return SYNC_ERROR;
        }
        return sync_return(c, Py_True);
    }
    PyErr_SetString(PyExc_SystemError, "bad Condition.wait state");
    return SYNC_ERROR;
}

static int
cond_wait_step(sync_coro *c, PyObject *value)
{
    int rc = cond_wait_step_body(c, value);
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13: whatever makes wait() raise may come after this waiter was
       notified, so it hands a notification on (a spurious wake-up at
       worst, which a condition variable allows). */
    if (rc == SYNC_ERROR && c->index == 1) {
        c->index = 0;
        PyObject *exc = sync_fetch_exception();
        if (cond_notify_waiters((CondObj *)c->self, 1) < 0) {
            sync_chain_exception(exc);
        }
        else {
            sync_restore_exception(exc);
        }
    }
#endif
    return rc;
}

/* c->arg: the predicate; c->result: its last value. */
static int
cond_wait_for_step(sync_coro *c, PyObject *value)
{
    if (value == NULL) {
        return SYNC_ERROR;
    }
    PyObject *result = PyObject_CallNoArgs(c->arg);
    if (result == NULL) {
        return SYNC_ERROR;
    }
    int truth = PyObject_IsTrue(result);
    if (truth != 0) {
        if (truth < 0) {
            Py_DECREF(result);
            return SYNC_ERROR;
        }
        Py_XSETREF(c->result, result);
        return SYNC_RETURN;
    }
    Py_DECREF(result);
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
cond_fields_init(CondObj *self, PyObject *lock)
{
    if (sync_head_init((sync_obj *)self) < 0) {
        return -1;
    }
    if (lock == NULL || lock == Py_None) {
        lock = PyObject_CallNoArgs(self->st->Lock_Type);
        if (lock == NULL) {
            return -1;
        }
    }
    else {
        /* asyncio exports lock.locked, .acquire and .release here, so a
         * lock without them fails now, with AttributeError, not later. */
        PyObject *names[3] = {self->st->str_locked, self->st->str_acquire,
                              self->st->str_release};
        for (int i = 0; i < 3; i++) {
            PyObject *meth = PyObject_GetAttr(lock, names[i]);
            if (meth == NULL) {
                return -1;
            }
            Py_DECREF(meth);
        }
        Py_INCREF(lock);
    }
    Py_XSETREF(self->lock, lock);
    PyObject *dq = sync_deque_new(self->st);
    if (dq == NULL) {
        return -1;
    }
    Py_XSETREF(self->waiters, dq);
    return 0;
}

static PyObject *
cond_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    CondObj *self = (CondObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (sync_head_init((sync_obj *)self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
cond_init_lock_held(CondObj *self, PyObject *args, PyObject *kwds)
{
    PyObject *lock = NULL;
    if (sync_parse_init_arg("Condition", args, kwds, "lock", 0, &lock) < 0) {
        return -1;
    }
    return cond_fields_init(self, lock);
}

SYNC_LOCKED_INIT(cond_init, CondObj)

static PyObject *
cond_locked_lock_held(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    return cond_call_lock(self, self->st->str_locked);
}

SYNC_LOCKED(cond_locked, CondObj)

static PyObject *
cond_acquire_lock_held(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    return cond_call_lock(self, self->st->str_acquire);
}

SYNC_LOCKED(cond_acquire, CondObj)

static PyObject *
cond_release_lock_held(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    return cond_call_lock(self, self->st->str_release);
}

SYNC_LOCKED(cond_release, CondObj)

static PyObject *
cond_wait(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, cond_wait_step, "Condition.wait",
                         (PyObject *)self, NULL);
}

static PyObject *
cond_wait_for(CondObj *self, PyObject *predicate)
{
    return sync_coro_new(self->st, cond_wait_for_step, "Condition.wait_for",
                         (PyObject *)self, predicate);
}

static PyObject *
cond_notify_lock_held(CondObj *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    static const char *const names[] = {"n", NULL};
    PyObject *n_obj = NULL;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError,
                        "notify() takes at most 1 argument");
        return NULL;
    }
    if (nargs == 1) {
        n_obj = args[0];
    }
    else if (nkw == 1) {
        if (!sync_str_equal(PyTuple_GET_ITEM(kwnames, 0),
                                           names[0])) {
            PyErr_Format(PyExc_TypeError,
                         "notify() got an unexpected keyword argument '%U'",
                         PyTuple_GET_ITEM(kwnames, 0));
            return NULL;
        }
        n_obj = args[0];
    }
    Py_ssize_t n = 1;
    if (n_obj != NULL) {
        n = PyNumber_AsSsize_t(n_obj, PyExc_OverflowError);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    return cond_notify_n(self, n);
}

SYNC_LOCKED_FASTCALL(cond_notify, CondObj)

static PyObject *
cond_notify_all_lock_held(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = sync_waiters_len(self->waiters);
    if (n < 0) {
        return NULL;
    }
    return cond_notify_n(self, n);
}

SYNC_LOCKED(cond_notify_all, CondObj)

static PyObject *
cond_aenter(CondObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_generic_aenter(self->st, (PyObject *)self);
}

static PyObject *
cond_aexit(CondObj *self, PyObject *args)
{
    return sync_generic_aexit(self->st, (PyObject *)self);
}

static PyObject *
cond_repr_lock_held(CondObj *self)
{
    int locked = cond_is_locked(self);
    if (locked < 0) {
        return NULL;
    }
    PyObject *extra = PyUnicode_FromString(locked ? "locked" : "unlocked");
    return sync_repr_extra((PyObject *)self,
                           sync_extra_waiters(extra, self->waiters));
}

SYNC_LOCKED_REPR(cond_repr, CondObj)

static int
cond_traverse(CondObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->lock);
    Py_VISIT(self->waiters);
    return sync_head_traverse((sync_obj *)self, visit, arg);
}

static int
cond_clear(PyObject *op)
{
    CondObj *self = (CondObj *)op;
    Py_CLEAR(self->lock);
    Py_CLEAR(self->waiters);
    sync_head_clear((sync_obj *)self);
    return 0;
}

SYNC_DEFINE_DEALLOC(cond_dealloc, cond_clear)

static PyMethodDef cond_methods[] = {
    {"locked", (PyCFunction)cond_locked, METH_NOARGS, NULL},
    {"acquire", (PyCFunction)cond_acquire, METH_NOARGS, NULL},
    {"release", (PyCFunction)cond_release, METH_NOARGS, NULL},
    {"wait", (PyCFunction)cond_wait, METH_NOARGS, NULL},
    {"wait_for", (PyCFunction)cond_wait_for, METH_O, NULL},
    {"notify", (PyCFunction)(void (*)(void))cond_notify,
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"notify_all", (PyCFunction)cond_notify_all, METH_NOARGS, NULL},
    {"__aenter__", (PyCFunction)cond_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)cond_aexit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef cond_members[] = {
    SYNC_HEAD_MEMBERS(CondObj),
    {"_lock", T_OBJECT, offsetof(CondObj, lock), 0, NULL},
    {"_waiters", T_OBJECT, offsetof(CondObj, waiters), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot cond_slots[] = {
    {Py_tp_doc, "Asynchronous equivalent to threading.Condition "
                "(asyncio.Condition)."},
    {Py_tp_new, cond_new},
    {Py_tp_init, cond_init},
    {Py_tp_dealloc, cond_dealloc},
    {Py_tp_traverse, cond_traverse},
    {Py_tp_clear, cond_clear},
    {Py_tp_repr, cond_repr},
    {Py_tp_methods, cond_methods},
    {Py_tp_members, cond_members},
    {0, NULL},
};

static PyType_Spec cond_spec = {
    .name = "pyasync.Condition",
    .basicsize = sizeof(CondObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = cond_slots,
};

int
pyasync_condition_init(PyObject *module, pyasync_state *st)
{
    st->Condition_Type = sync_add_type(module, &cond_spec, NULL);
    return st->Condition_Type == NULL ? -1 : 0;
}
