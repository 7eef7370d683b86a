/* queue.c: asyncio.Queue, PriorityQueue and LifoQueue in C.
 *
 * The three exact types keep their items directly (a deque, a heap list, a
 * list).  Subclasses may override the storage hooks (_init, _put, _get) and
 * qsize/empty/full/put_nowait/get_nowait, as asyncio allows, so for any
 * other type every hook is called through attribute lookup.  A getter or
 * putter cancelled after its wake-up passes the wake-up on.  On 3.13+ a
 * queue can be shut down (shutdown(), QueueShutDown), as asyncio's. */
#include "sync/waiter.h"

enum { KIND_FIFO, KIND_HEAP, KIND_LIFO, KIND_CUSTOM };

typedef struct {
    SYNC_HEAD
    PyObject *queue;            /* _queue */
    PyObject *getters;          /* _getters: a deque */
    PyObject *putters;          /* _putters: a deque */
    PyObject *finished;         /* _finished: an Event */
    PyObject *maxsize_obj;      /* _maxsize, as given */
    Py_ssize_t maxsize;         /* the same when it is an int */
    char maxsize_is_int;
    Py_ssize_t unfinished;      /* _unfinished_tasks */
    char is_shutdown;           /* _is_shutdown (3.13+; always 0 before) */
    int kind;
} QueueObj;

/* ---- the storage hooks ----------------------------------------------- */

static int
queue_kind(QueueObj *self)
{
    pyasync_state *st = self->st;
    PyTypeObject *tp = Py_TYPE(self);
    if (tp == (PyTypeObject *)st->Queue_Type) {
        return KIND_FIFO;
    }
    if (tp == (PyTypeObject *)st->PriorityQueue_Type) {
        return KIND_HEAP;
    }
    if (tp == (PyTypeObject *)st->LifoQueue_Type) {
        return KIND_LIFO;
    }
    return KIND_CUSTOM;
}

static PyObject *
items_missing(void)
{
    PyErr_SetString(PyExc_AttributeError, "_queue");
    return NULL;
}

static Py_ssize_t
items_len(QueueObj *self)
{
    if (self->queue == NULL) {
        items_missing();
        return -1;
    }
    return PyObject_Length(self->queue);
}

static int
call_truth(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(res);
    Py_DECREF(res);
    return b;
}

static Py_ssize_t
queue_qsize(QueueObj *self)
{
    if (self->kind != KIND_CUSTOM) {
        return items_len(self);
    }
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)self, self->st->str_qsize);
    if (r == NULL) {
        return -1;
    }
    Py_ssize_t n = PyNumber_AsSsize_t(r, PyExc_OverflowError);
    Py_DECREF(r);
    return n;
}

/* full() as Queue defines it, with qsize() possibly overridden. */
static int
queue_full_impl(QueueObj *self)
{
    if (self->maxsize_is_int) {
        if (self->maxsize <= 0) {
            return 0;
        }
        Py_ssize_t n = queue_qsize(self);
        if (n == -1 && PyErr_Occurred()) {
            return -1;
        }
        return n >= self->maxsize;
    }
    /* Any other maxsize (a float, say) compares as Python would. */
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return -1;
    }
    int unbounded = PyObject_RichCompareBool(self->maxsize_obj, zero, Py_LE);
    Py_DECREF(zero);
    if (unbounded != 0) {
        return unbounded < 0 ? -1 : 0;
    }
    PyObject *size = self->kind == KIND_CUSTOM
        ? PyObject_CallMethodNoArgs((PyObject *)self, self->st->str_qsize)
        : PyLong_FromSsize_t(items_len(self));
    if (size == NULL || PyErr_Occurred()) {
        Py_XDECREF(size);
        return -1;
    }
    int full = PyObject_RichCompareBool(size, self->maxsize_obj, Py_GE);
    Py_DECREF(size);
    return full;
}

static int
queue_set_maxsize(QueueObj *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _maxsize");
        return -1;
    }
    self->maxsize_is_int = 0;
    if (PyLong_Check(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (!overflow && v >= PY_SSIZE_T_MIN && v <= PY_SSIZE_T_MAX) {
            self->maxsize = (Py_ssize_t)v;
            self->maxsize_is_int = 1;
        }
    }
    Py_XSETREF(self->maxsize_obj, Py_NewRef(value));
    return 0;
}

static int
queue_is_full(QueueObj *self)
{
    if (self->kind != KIND_CUSTOM) {
        return queue_full_impl(self);
    }
    return call_truth(PyObject_CallMethodNoArgs((PyObject *)self,
                                                self->st->str_full));
}

static int
queue_is_empty(QueueObj *self)
{
    if (self->kind != KIND_CUSTOM) {
        if (self->queue == NULL) {
            items_missing();
            return -1;
        }
        int b = PyObject_IsTrue(self->queue);
        return b < 0 ? -1 : !b;
    }
    return call_truth(PyObject_CallMethodNoArgs((PyObject *)self,
                                                self->st->str_empty));
}

static int
queue_put_item(QueueObj *self, PyObject *item)
{
    pyasync_state *st = self->st;
    PyObject *r;
    switch (self->kind) {
    case KIND_FIFO:
    case KIND_LIFO:
        if (self->queue == NULL) {
            items_missing();
            return -1;
        }
        if (PyList_CheckExact(self->queue)) {
            return PyList_Append(self->queue, item);
        }
        return sync_deque_append(st, self->queue, item);
    case KIND_HEAP:
        if (self->queue == NULL) {
            items_missing();
            return -1;
        }
        r = PyObject_CallFunctionObjArgs(st->sync_heappush, self->queue,
                                         item, NULL);
        break;
    default:
        r = PyObject_CallMethodOneArg((PyObject *)self, st->str_put_hook, item);
        break;
    }
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyObject *
queue_get_item(QueueObj *self)
{
    pyasync_state *st = self->st;
    if (self->kind == KIND_CUSTOM) {
        return PyObject_CallMethodNoArgs((PyObject *)self, st->str_get_hook);
    }
    if (self->queue == NULL) {
        return items_missing();
    }
    switch (self->kind) {
    case KIND_FIFO:
        return sync_deque_popleft(st, self->queue);
    case KIND_HEAP:
        return PyObject_CallOneArg(st->sync_heappop, self->queue);
    default:
        return PyObject_CallMethod(self->queue, "pop", NULL);
    }
}

/* _wakeup_next(waiters): wake the first waiter not yet done. */
static int
queue_wakeup_next(QueueObj *self, PyObject *waiters)
{
    pyasync_state *st = self->st;
    for (;;) {
        Py_ssize_t n = sync_waiters_len(waiters);
        if (n <= 0) {
            return n < 0 ? -1 : 0;
        }
        PyObject *w = sync_deque_popleft(st, waiters);
        if (w == NULL) {
            return -1;
        }
        int done = sync_future_done(st, w);
        if (done == 0) {
            done = sync_future_set_result(st, w, Py_None);
            Py_DECREF(w);
            return done;
        }
        Py_DECREF(w);
        if (done < 0) {
            return -1;
        }
    }
}

/* ---- put / get -------------------------------------------------------- */

static PyObject *
queue_put_nowait_impl(QueueObj *self, PyObject *item)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (self->is_shutdown) {
        PyErr_SetNone(self->st->QueueShutDown);
        return NULL;
    }
#endif
    int full = queue_is_full(self);
    if (full < 0) {
        return NULL;
    }
    if (full) {
        PyErr_SetNone(self->st->QueueFull);
        return NULL;
    }
    if (queue_put_item(self, item) < 0) {
        return NULL;
    }
    self->unfinished++;
    if (self->finished == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_finished");
        return NULL;
    }
    if (sync_event_clear(self->st, self->finished) < 0) {
        return NULL;
    }
    if (queue_wakeup_next(self, self->getters) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
queue_get_nowait_impl(QueueObj *self)
{
    int empty = queue_is_empty(self);
    if (empty < 0) {
        return NULL;
    }
    if (empty) {
#if PY_VERSION_HEX >= 0x030D0000
        if (self->is_shutdown) {
            PyErr_SetNone(self->st->QueueShutDown);
            return NULL;
        }
#endif
        PyErr_SetNone(self->st->QueueEmpty);
        return NULL;
    }
    PyObject *item = queue_get_item(self);
    if (item == NULL) {
        return NULL;
    }
    if (queue_wakeup_next(self, self->putters) < 0) {
        Py_DECREF(item);
        return NULL;
    }
    return item;
}

/* The except-clause of put()/get(): the waiter (c->fut) was woken with an
 * exception (usually cancellation).  Clean up and pass a wake-up on when
 * this waiter's turn would otherwise be lost. */
static int
queue_waiter_failed(sync_coro *c, PyObject *waiters, int is_put)
{
    QueueObj *self = (QueueObj *)c->self;
    pyasync_state *st = c->st;
    PyObject *exc = sync_fetch_exception();
    if (sync_future_cancel(st, c->fut) < 0) {
        goto chain;
    }
    if (sync_waiters_remove(st, waiters, c->fut) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
            goto chain;
        }
        PyErr_Clear();
    }
    int blocked = is_put ? queue_is_full(self) : queue_is_empty(self);
    if (blocked < 0) {
        goto chain;
    }
    if (!blocked) {
        int cancelled = sync_future_cancelled(st, c->fut);
        if (cancelled < 0) {
            goto chain;
        }
        if (!cancelled && queue_wakeup_next(self, waiters) < 0) {
            goto chain;
        }
    }
    sync_restore_exception(exc);
    return SYNC_ERROR;
chain:
    sync_chain_exception(exc);
    return SYNC_ERROR;
}

/* c->arg: the item. */
static int
queue_put_step(sync_coro *c, PyObject *value)
{
    QueueObj *self = (QueueObj *)c->self;
    if (value == NULL) {
        if (c->state == 0) {
            return SYNC_ERROR;
        }
        return queue_waiter_failed(c, self->putters, 1);
    }
    int full = queue_is_full(self);
    if (full < 0) {
        return SYNC_ERROR;
    }
    if (full) {
#if PY_VERSION_HEX >= 0x030D0000
        if (self->is_shutdown) {
            PyErr_SetNone(c->st->QueueShutDown);
            return SYNC_ERROR;
        }
#endif
        return sync_wait_new_future(c, &self->putters, &self->loop, 0);
    }
    PyObject *r;
    if (self->kind == KIND_CUSTOM) {
        r = PyObject_CallMethodOneArg((PyObject *)self, c->st->str_put_nowait,
                                      c->arg);
    }
    else {
        r = queue_put_nowait_impl(self, c->arg);
    }
    if (r == NULL) {
        return SYNC_ERROR;
    }
    Py_XSETREF(c->result, r);
    return SYNC_RETURN;
}

static int
queue_get_step(sync_coro *c, PyObject *value)
{
    QueueObj *self = (QueueObj *)c->self;
    if (value == NULL) {
        if (c->state == 0) {
            return SYNC_ERROR;
        }
        return queue_waiter_failed(c, self->getters, 0);
    }
    int empty = queue_is_empty(self);
    if (empty < 0) {
        return SYNC_ERROR;
    }
    if (empty) {
#if PY_VERSION_HEX >= 0x030D0000
        /* asyncio asks empty() a second time here (a subclass sees it). */
        if (self->is_shutdown) {
            empty = queue_is_empty(self);
            if (empty < 0) {
                return SYNC_ERROR;
            }
            if (empty) {
                PyErr_SetNone(c->st->QueueShutDown);
                return SYNC_ERROR;
            }
        }
#endif
        return sync_wait_new_future(c, &self->getters, &self->loop, 0);
    }
    PyObject *r;
    if (self->kind == KIND_CUSTOM) {
        r = PyObject_CallMethodNoArgs((PyObject *)self, c->st->str_get_nowait);
    }
    else {
        r = queue_get_nowait_impl(self);
    }
    if (r == NULL) {
        return SYNC_ERROR;
    }
    Py_XSETREF(c->result, r);
    return SYNC_RETURN;
}

static int
queue_join_step(sync_coro *c, PyObject *value)
{
    QueueObj *self = (QueueObj *)c->self;
    if (value == NULL) {
        return SYNC_ERROR;
    }
    if (c->state == 1 || self->unfinished <= 0) {
        return SYNC_RETURN;
    }
    if (self->finished == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_finished");
        return SYNC_ERROR;
    }
    PyObject *aw = PyObject_CallMethodNoArgs(self->finished, c->st->str_wait);
    if (aw == NULL) {
        return SYNC_ERROR;
    }
    c->state = 1;
    int rc = sync_await(c, aw);
    Py_DECREF(aw);
    return rc;
}

/* ---- the type --------------------------------------------------------- */

static PyObject *
queue_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    QueueObj *self = (QueueObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (sync_head_init((sync_obj *)self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->kind = queue_kind(self);
    self->maxsize_obj = PyLong_FromLong(0);
    self->maxsize_is_int = 1;
    if (self->maxsize_obj == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *
queue_init_hook_fifo_lock_held(QueueObj *self, PyObject *maxsize)
{
    PyObject *dq = sync_deque_new(self->st);
    if (dq == NULL) {
        return NULL;
    }
    Py_XSETREF(self->queue, dq);
    Py_RETURN_NONE;
}

SYNC_LOCKED(queue_init_hook_fifo, QueueObj)

static PyObject *
queue_init_hook_list_lock_held(QueueObj *self, PyObject *maxsize)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    Py_XSETREF(self->queue, list);
    Py_RETURN_NONE;
}

SYNC_LOCKED(queue_init_hook_list, QueueObj)

static int
queue_init_lock_held(QueueObj *self, PyObject *args, PyObject *kwds)
{
    PyObject *maxsize_obj = NULL;
    pyasync_state *st = self->st;
    if (sync_parse_init_arg("Queue", args, kwds, "maxsize", 0,
                            &maxsize_obj) < 0) {
        return -1;
    }
    PyObject *size = maxsize_obj != NULL ? Py_NewRef(maxsize_obj)
                                         : PyLong_FromLong(0);
    if (size == NULL) {
        return -1;
    }
    if (queue_set_maxsize(self, size, NULL) < 0) {
        goto fail;
    }
    self->kind = queue_kind(self);
    PyObject *getters = sync_deque_new(st);
    if (getters == NULL) {
        goto fail;
    }
    Py_XSETREF(self->getters, getters);
    PyObject *putters = sync_deque_new(st);
    if (putters == NULL) {
        goto fail;
    }
    Py_XSETREF(self->putters, putters);
    self->unfinished = 0;
    PyObject *finished = PyObject_CallNoArgs(st->Event_Type);
    if (finished == NULL) {
        goto fail;
    }
    Py_XSETREF(self->finished, finished);
    PyObject *r = PyObject_CallMethodNoArgs(finished, st->str_set);
    if (r == NULL) {
        goto fail;
    }
    Py_DECREF(r);
    switch (self->kind) {
    case KIND_FIFO:
        r = queue_init_hook_fifo_lock_held(self, size);
        break;
    case KIND_HEAP:
    case KIND_LIFO:
        r = queue_init_hook_list_lock_held(self, size);
        break;
    default:
        r = PyObject_CallMethodOneArg((PyObject *)self, st->str_init_hook, size);
        break;
    }
    Py_DECREF(size);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    self->is_shutdown = 0;      /* set after _init, as asyncio does */
    return 0;
fail:
    Py_DECREF(size);
    return -1;
}

SYNC_LOCKED_INIT(queue_init, QueueObj)

static PyObject *
queue_put_hook_fifo_lock_held(QueueObj *self, PyObject *item)
{
    if (self->queue == NULL) {
        return items_missing();
    }
    return PyObject_CallMethodOneArg(self->queue, self->st->str_append, item);
}

SYNC_LOCKED(queue_put_hook_fifo, QueueObj)

static PyObject *
queue_get_hook_fifo_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->queue == NULL) {
        return items_missing();
    }
    return PyObject_CallMethodNoArgs(self->queue, self->st->str_popleft);
}

SYNC_LOCKED(queue_get_hook_fifo, QueueObj)

static PyObject *
queue_put_hook_heap_lock_held(QueueObj *self, PyObject *item)
{
    if (self->queue == NULL) {
        return items_missing();
    }
    return PyObject_CallFunctionObjArgs(self->st->sync_heappush, self->queue,
                                        item, NULL);
}

SYNC_LOCKED(queue_put_hook_heap, QueueObj)

static PyObject *
queue_get_hook_heap_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->queue == NULL) {
        return items_missing();
    }
    return PyObject_CallOneArg(self->st->sync_heappop, self->queue);
}

SYNC_LOCKED(queue_get_hook_heap, QueueObj)

static PyObject *
queue_get_hook_lifo_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->queue == NULL) {
        return items_missing();
    }
    return PyObject_CallMethod(self->queue, "pop", NULL);
}

SYNC_LOCKED(queue_get_hook_lifo, QueueObj)

static PyObject *
queue_qsize_meth_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = items_len(self);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

SYNC_LOCKED(queue_qsize_meth, QueueObj)

static PyObject *
queue_empty_meth_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->queue == NULL) {
        return items_missing();
    }
    int b = PyObject_IsTrue(self->queue);
    return b < 0 ? NULL : PyBool_FromLong(!b);
}

SYNC_LOCKED(queue_empty_meth, QueueObj)

static PyObject *
queue_full_meth_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    int full = queue_full_impl(self);
    return full < 0 ? NULL : PyBool_FromLong(full);
}

SYNC_LOCKED(queue_full_meth, QueueObj)

static PyObject *
queue_put(QueueObj *self, PyObject *item)
{
    return sync_coro_new(self->st, queue_put_step, "Queue.put",
                         (PyObject *)self, item);
}

static PyObject *
queue_get(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, queue_get_step, "Queue.get",
                         (PyObject *)self, NULL);
}

static PyObject *
queue_join(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    return sync_coro_new(self->st, queue_join_step, "Queue.join",
                         (PyObject *)self, NULL);
}

static PyObject *
queue_put_nowait_lock_held(QueueObj *self, PyObject *item)
{
    return queue_put_nowait_impl(self, item);
}

SYNC_LOCKED(queue_put_nowait, QueueObj)

static PyObject *
queue_get_nowait_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    return queue_get_nowait_impl(self);
}

SYNC_LOCKED(queue_get_nowait, QueueObj)

/* self._finished.set(): join() may return.  0 or -1. */
static int
queue_set_finished(QueueObj *self)
{
    if (self->finished == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_finished");
        return -1;
    }
    PyObject *r = PyObject_CallMethodNoArgs(self->finished, self->st->str_set);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *
queue_task_done_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->unfinished <= 0) {
        PyErr_SetString(PyExc_ValueError, "task_done() called too many times");
        return NULL;
    }
    self->unfinished--;
    if (self->unfinished == 0 && queue_set_finished(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(queue_task_done, QueueObj)

#if PY_VERSION_HEX >= 0x030D0000
/* Wake every waiter of the deque self->*slot, not only the next one.  The
 * deque is read afresh each turn: set_result may run code that replaces
 * it, and asyncio's loop re-reads the attribute too. */
static int
queue_wake_all(QueueObj *self, PyObject **slot)
{
    pyasync_state *st = self->st;
    for (;;) {
        Py_ssize_t n = sync_waiters_len(*slot);
        if (n <= 0) {
            return n < 0 ? -1 : 0;
        }
        PyObject *w = sync_deque_popleft(st, *slot);
        if (w == NULL) {
            return -1;
        }
        int done = sync_future_done(st, w);
        if (done == 0) {
            done = sync_future_set_result(st, w, Py_None);
        }
        Py_DECREF(w);
        if (done < 0) {
            return -1;
        }
    }
}

/* shutdown(immediate=False), taking its argument as a Python function
 * would (same TypeError messages). */
static PyObject *
queue_shutdown_lock_held(QueueObj *self, PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *immediate_obj = NULL;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "Queue.shutdown() takes from 1 to 2 "
                     "positional arguments but %zd were given", nargs + 1);
        return NULL;
    }
    if (nargs == 1) {
        immediate_obj = args[0];
    }
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (!sync_str_equal(key, "immediate")) {
            PyErr_Format(PyExc_TypeError, "Queue.shutdown() got an "
                         "unexpected keyword argument '%U'", key);
            return NULL;
        }
        if (immediate_obj != NULL) {
            PyErr_SetString(PyExc_TypeError, "Queue.shutdown() got multiple "
                            "values for argument 'immediate'");
            return NULL;
        }
        immediate_obj = args[nargs + i];
    }
    self->is_shutdown = 1;
    int immediate = immediate_obj != NULL ? PyObject_IsTrue(immediate_obj)
                                          : 0;
    if (immediate < 0) {
        return NULL;
    }
    if (immediate) {
        /* Drop what is left, each item counting as a task done. */
        for (;;) {
            int empty = queue_is_empty(self);
            if (empty < 0) {
                return NULL;
            }
            if (empty) {
                break;
            }
            PyObject *item = queue_get_item(self);
            if (item == NULL) {
                return NULL;
            }
            Py_DECREF(item);
            if (self->unfinished > 0) {
                self->unfinished--;
            }
        }
        if (self->unfinished == 0 && queue_set_finished(self) < 0) {
            return NULL;
        }
    }
    /* Every blocked get() and put() wakes to re-check and raise. */
    if (queue_wake_all(self, &self->getters) < 0
        || queue_wake_all(self, &self->putters) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED_FASTCALL(queue_shutdown, QueueObj)
#endif

static PyObject *
queue_wakeup_next_meth_lock_held(QueueObj *self, PyObject *waiters)
{
    if (queue_wakeup_next(self, waiters) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

SYNC_LOCKED(queue_wakeup_next_meth, QueueObj)

/* The part of the repr after the class name, as Queue._format(). */
static PyObject *
queue_format_lock_held(QueueObj *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *res = PyUnicode_FromFormat("maxsize=%R", self->maxsize_obj);
    if (res == NULL) {
        return NULL;
    }
    int has_items = self->queue != NULL ? PyObject_IsTrue(self->queue) : 0;
    if (has_items < 0) {
        goto error;
    }
    if (has_items) {
        PyObject *list = PySequence_List(self->queue);
        if (list == NULL) {
            goto error;
        }
        Py_SETREF(res, PyUnicode_FromFormat("%U _queue=%R", res, list));
        Py_DECREF(list);
        if (res == NULL) {
            return NULL;
        }
    }
    Py_ssize_t n = sync_waiters_len(self->getters);
    if (n < 0) {
        goto error;
    }
    if (n > 0) {
        Py_SETREF(res, PyUnicode_FromFormat("%U _getters[%zd]", res, n));
        if (res == NULL) {
            return NULL;
        }
    }
    n = sync_waiters_len(self->putters);
    if (n < 0) {
        goto error;
    }
    if (n > 0) {
        Py_SETREF(res, PyUnicode_FromFormat("%U _putters[%zd]", res, n));
        if (res == NULL) {
            return NULL;
        }
    }
    if (self->unfinished) {
        Py_SETREF(res, PyUnicode_FromFormat("%U tasks=%zd", res,
                                            self->unfinished));
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (res != NULL && self->is_shutdown) {
        Py_SETREF(res, PyUnicode_FromFormat("%U shutdown", res));
    }
#endif
    return res;
error:
    Py_DECREF(res);
    return NULL;
}

SYNC_LOCKED(queue_format, QueueObj)

static PyObject *
queue_call_format(QueueObj *self)
{
    if (self->kind != KIND_CUSTOM) {
        return queue_format_lock_held(self, NULL);
    }
    return PyObject_CallMethod((PyObject *)self, "_format", NULL);
}

/* "<Name at 0x... fmt>" (with_id) or "<Name fmt>", Name being
 * type(self).__name__. */
static PyObject *
queue_describe(QueueObj *self, int with_id)
{
    PyObject *name = PyType_GetName(Py_TYPE(self));
    if (name == NULL) {
        return NULL;
    }
    PyObject *fmt = queue_call_format(self);
    if (fmt == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyObject *res = with_id
        ? PyUnicode_FromFormat("<%U at %p %U>", name, self, fmt)
        : PyUnicode_FromFormat("<%U %U>", name, fmt);
    Py_DECREF(name);
    Py_DECREF(fmt);
    return res;
}

static PyObject *
queue_repr_lock_held(QueueObj *self)
{
    return queue_describe(self, 1);
}

SYNC_LOCKED_REPR(queue_repr, QueueObj)

static PyObject *
queue_str_lock_held(QueueObj *self)
{
    return queue_describe(self, 0);
}

SYNC_LOCKED_REPR(queue_str, QueueObj)

static PyObject *
queue_get_maxsize(QueueObj *self, void *Py_UNUSED(closure))
{
    PyObject *res;
    Py_BEGIN_CRITICAL_SECTION(self);
    res = Py_NewRef(self->maxsize_obj != NULL ? self->maxsize_obj : Py_None);
    Py_END_CRITICAL_SECTION();
    return res;
}

/* The setter of _maxsize, in the queue's critical section. */
static int
queue_set_maxsize_locked(QueueObj *self, PyObject *value, void *closure)
{
    int res;
    Py_BEGIN_CRITICAL_SECTION(self);
    res = queue_set_maxsize(self, value, closure);
    Py_END_CRITICAL_SECTION();
    return res;
}

static int
queue_traverse(QueueObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->queue);
    Py_VISIT(self->getters);
    Py_VISIT(self->putters);
    Py_VISIT(self->finished);
    Py_VISIT(self->maxsize_obj);
    return sync_head_traverse((sync_obj *)self, visit, arg);
}

static int
queue_clear(PyObject *op)
{
    QueueObj *self = (QueueObj *)op;
    Py_CLEAR(self->queue);
    Py_CLEAR(self->getters);
    Py_CLEAR(self->putters);
    Py_CLEAR(self->finished);
    Py_CLEAR(self->maxsize_obj);
    sync_head_clear((sync_obj *)self);
    return 0;
}

SYNC_DEFINE_DEALLOC(queue_dealloc, queue_clear)

static PyMethodDef queue_methods[] = {
    {"_init", (PyCFunction)queue_init_hook_fifo, METH_O, NULL},
    {"_put", (PyCFunction)queue_put_hook_fifo, METH_O, NULL},
    {"_get", (PyCFunction)queue_get_hook_fifo, METH_NOARGS, NULL},
    {"_wakeup_next", (PyCFunction)queue_wakeup_next_meth, METH_O, NULL},
    {"_format", (PyCFunction)queue_format, METH_NOARGS, NULL},
    {"qsize", (PyCFunction)queue_qsize_meth, METH_NOARGS, NULL},
    {"empty", (PyCFunction)queue_empty_meth, METH_NOARGS, NULL},
    {"full", (PyCFunction)queue_full_meth, METH_NOARGS, NULL},
    {"put", (PyCFunction)queue_put, METH_O, NULL},
    {"get", (PyCFunction)queue_get, METH_NOARGS, NULL},
    {"put_nowait", (PyCFunction)queue_put_nowait, METH_O, NULL},
    {"get_nowait", (PyCFunction)queue_get_nowait, METH_NOARGS, NULL},
    {"task_done", (PyCFunction)queue_task_done, METH_NOARGS, NULL},
    {"join", (PyCFunction)queue_join, METH_NOARGS, NULL},
#if PY_VERSION_HEX >= 0x030D0000
    {"shutdown", (PyCFunction)(void (*)(void))queue_shutdown,
     METH_FASTCALL | METH_KEYWORDS, NULL},
#endif
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef queue_getset[] = {
    {"maxsize", (getter)queue_get_maxsize, NULL, NULL, NULL},
    {"_maxsize", (getter)queue_get_maxsize,
     (setter)queue_set_maxsize_locked, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef queue_members[] = {
    SYNC_HEAD_MEMBERS(QueueObj),
    {"_queue", T_OBJECT_EX, offsetof(QueueObj, queue), 0, NULL},
    {"_getters", T_OBJECT, offsetof(QueueObj, getters), 0, NULL},
    {"_putters", T_OBJECT, offsetof(QueueObj, putters), 0, NULL},
    {"_finished", T_OBJECT, offsetof(QueueObj, finished), 0, NULL},
    {"_unfinished_tasks", T_PYSSIZET, offsetof(QueueObj, unfinished), 0, NULL},
#if PY_VERSION_HEX >= 0x030D0000
    {"_is_shutdown", T_BOOL, offsetof(QueueObj, is_shutdown), 0, NULL},
#endif
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot queue_slots[] = {
    {Py_tp_doc, "A queue for coordinating producer and consumer coroutines "
                "(asyncio.Queue)."},
    {Py_tp_new, queue_new},
    {Py_tp_init, queue_init},
    {Py_tp_dealloc, queue_dealloc},
    {Py_tp_traverse, queue_traverse},
    {Py_tp_clear, queue_clear},
    {Py_tp_repr, queue_repr},
    {Py_tp_str, queue_str},
    {Py_tp_methods, queue_methods},
    {Py_tp_getset, queue_getset},
    {Py_tp_members, queue_members},
    {0, NULL},
};

static PyType_Spec queue_spec = {
    .name = "pyasync.Queue",
    .basicsize = sizeof(QueueObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = queue_slots,
};

static PyMethodDef pqueue_methods[] = {
    {"_init", (PyCFunction)queue_init_hook_list, METH_O, NULL},
    {"_put", (PyCFunction)queue_put_hook_heap, METH_O, NULL},
    {"_get", (PyCFunction)queue_get_hook_heap, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pqueue_slots[] = {
    {Py_tp_doc, "A Queue retrieving entries in priority order, lowest first "
                "(asyncio.PriorityQueue)."},
    {Py_tp_methods, pqueue_methods},
    {Py_tp_dealloc, queue_dealloc},
    {Py_tp_traverse, queue_traverse},
    {Py_tp_clear, queue_clear},
    {0, NULL},
};

static PyType_Spec pqueue_spec = {
    .name = "pyasync.PriorityQueue",
    .basicsize = sizeof(QueueObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = pqueue_slots,
};

static PyMethodDef lqueue_methods[] = {
    {"_init", (PyCFunction)queue_init_hook_list, METH_O, NULL},
    {"_put", (PyCFunction)queue_put_hook_fifo, METH_O, NULL},
    {"_get", (PyCFunction)queue_get_hook_lifo, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot lqueue_slots[] = {
    {Py_tp_doc, "A Queue retrieving the most recently added entries first "
                "(asyncio.LifoQueue)."},
    {Py_tp_methods, lqueue_methods},
    {Py_tp_dealloc, queue_dealloc},
    {Py_tp_traverse, queue_traverse},
    {Py_tp_clear, queue_clear},
    {0, NULL},
};

static PyType_Spec lqueue_spec = {
    .name = "pyasync.LifoQueue",
    .basicsize = sizeof(QueueObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = lqueue_slots,
};

int
pyasync_queue_init(PyObject *module, pyasync_state *st)
{
    st->Queue_Type = sync_add_type(module, &queue_spec, NULL);
    if (st->Queue_Type == NULL) {
        return -1;
    }
    st->PriorityQueue_Type = sync_add_type(module, &pqueue_spec,
                                           st->Queue_Type);
    if (st->PriorityQueue_Type == NULL) {
        return -1;
    }
    st->LifoQueue_Type = sync_add_type(module, &lqueue_spec, st->Queue_Type);
    return st->LifoQueue_Type == NULL ? -1 : 0;
}
