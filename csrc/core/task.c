/* task.c: pyasync.Task, asyncio.Task in C.
 *
 * A Task drives a coroutine: each step sends None into it (or throws an
 * exception), then looks at what it yielded.  A future it yields becomes
 * _fut_waiter and gets the task's wake-up as done-callback; a bare yield
 * reschedules the step; anything else schedules a step that throws
 * RuntimeError into the coroutine, with asyncio's messages.
 *
 * Steps are scheduled on a pyasync loop through its C ready queue
 * (pyasync_loop_schedule); on any other loop through
 * loop.call_soon(<TaskStep>, context=task.context), where TaskStep is a
 * small callable holding the task and the exception to throw.
 *
 * Tasks enter and leave asyncio's current-task slot (current_task.c) and
 * register where asyncio.all_tasks() looks (all_tasks.c), so asyncio's
 * current_task() and all_tasks() see them.  The behaviour follows the running Python's asyncio/tasks.py. */
#include "pyasync.h"
#include "core/future.h"
#include "core/task.h"
#include "core/loop.h"
#include "diag/lock_diag.h"
#include "core/all_tasks.h"
#include "core/task_numbers.h"
#include "core/current_task.h"
#include "core/awaited_by.h"

#include <string.h>

/* ---- small helpers --------------------------------------------------- */

/* The pending exception (one must be set) as one normalised object
 * carrying its traceback, so that throwing it or storing it in a future
 * keeps the frames. */
static PyObject *
fetch_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {
        /* Only possible with a broken exception type; keep going. */
        value = Py_NewRef(Py_None);
    }
    if (tb != NULL && PyExceptionInstance_Check(value)) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Make exc (from fetch_exception, reference stolen) the pending exception
 * again as it was: unlike PyErr_SetObject, no implicit chaining. */
static void
restore_exception(PyObject *exc)
{
    if (!PyExceptionInstance_Check(exc)) {
        Py_DECREF(exc);
        PyErr_SetString(PyExc_SystemError, "lost an exception");
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef(Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* coro.throw() ended the coroutine: take StopIteration's value.  Returns 1
 * with *pvalue set, or 0 (no StopIteration pending, nothing changed). */
static int
take_stop_iteration_value(PyObject **pvalue)
{
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        return 0;
    }
    PyObject *exc = fetch_exception();
    PyObject *value = Py_None;
    if (PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_StopIteration)) {
        value = ((PyStopIterationObject *)exc)->value;
        if (value == NULL) {
            value = Py_None;
        }
    }
    *pvalue = Py_NewRef(value);
    Py_DECREF(exc);
    return 1;
}

static inline int
is_pyasync_future_exact(pyasync_state *st, PyObject *obj)
{
    return Py_IS_TYPE(obj, st->Future_Type) || Py_IS_TYPE(obj, st->Task_Type);
}

/* asyncio.futures._get_loop(): fut.get_loop(), or fut._loop for futures
 * without that method.  New reference or NULL. */
static PyObject *
get_future_loop(pyasync_state *st, PyObject *fut)
{
    if (is_pyasync_future_exact(st, fut)) {
        PyObject *loop = ((FutureObj *)fut)->loop;
        if (loop == NULL) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Future object is not initialized.");
        }
        return Py_XNewRef(loop);
    }
    PyObject *meth = PyObject_GetAttr(fut, st->str_get_loop);
    if (meth != NULL) {
        PyObject *loop = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        return loop;
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return NULL;
    }
    PyErr_Clear();
    return PyObject_GetAttr(fut, st->str_loop);
}

/* ---- TaskStep: the callable a foreign loop runs for one step --------- */

typedef struct {
    PyObject_HEAD
    TaskObj *task;
    PyObject *exc;      /* exception to throw into the coroutine, or NULL */
} TaskStepObj;

static PyObject *
taskstep_new(pyasync_state *st, TaskObj *task, PyObject *exc)
{
    TaskStepObj *step = PyObject_GC_New(TaskStepObj, st->TaskStep_Type);
    if (step == NULL) {
        return NULL;
    }
    step->task = (TaskObj *)Py_NewRef(task);
    step->exc = Py_XNewRef(exc);
    PyObject_GC_Track(step);
    return (PyObject *)step;
}

static PyObject *
taskstep_call(TaskStepObj *self, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0
        || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "TaskStep takes no arguments");
        return NULL;
    }
    if (task_step(self->task, self->exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
taskstep_traverse(TaskStepObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->task);
    Py_VISIT(self->exc);
    return 0;
}

static int
taskstep_clear(TaskStepObj *self)
{
    Py_CLEAR(self->task);
    Py_CLEAR(self->exc);
    return 0;
}

static void
taskstep_dealloc(TaskStepObj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)taskstep_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
taskstep_get_self(TaskStepObj *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->task != NULL ? (PyObject *)self->task : Py_None);
}

/* As asyncio's own, so that Handle reprs in loop logs read the same. */
static PyObject *
taskstep_repr(TaskStepObj *self)
{
    return PyUnicode_FromFormat("<TaskStepMethWrapper object at %p>", self);
}

static PyGetSetDef taskstep_getset[] = {
    {"__self__", (getter)taskstep_get_self, NULL, NULL, NULL},
    {0},
};

static PyType_Slot taskstep_slots[] = {
    {Py_tp_call, taskstep_call},
    {Py_tp_repr, taskstep_repr},
    {Py_tp_traverse, taskstep_traverse},
    {Py_tp_clear, taskstep_clear},
    {Py_tp_dealloc, taskstep_dealloc},
    {Py_tp_getset, taskstep_getset},
    {0, NULL},
};

static PyType_Spec taskstep_spec = {
    .name = "pyasync._core.TaskStepMethWrapper",
    .basicsize = sizeof(TaskStepObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = taskstep_slots,
};

/* ---- scheduling ------------------------------------------------------ */

static int
task_step_ready(PyObject *task, PyObject *exc)
{
    return task_step((TaskObj *)task, exc == Py_None ? NULL : exc);
}

/* Schedule one step of task, throwing exc (may be NULL) into the coroutine,
 * in the task's context. */
static int
task_schedule_step(TaskObj *task, PyObject *exc)
{
    pyasync_state *st = task->fut.st;
    PyObject *loop = task->fut.loop;
    if (task->fut.loop_is_pyasync && pyasync_loop_methods_own(loop)) {
        return pyasync_loop_schedule(loop, task_step_ready, (PyObject *)task,
                                     exc == NULL ? Py_None : exc,
                                     task->context);
    }
    PyObject *step = taskstep_new(st, task, exc);
    if (step == NULL) {
        return -1;
    }
    /* loop.call_soon(step, context=task.context); looked up each time, as
     * asyncio does, so a patched call_soon is honoured. */
    PyObject *args[3] = {loop, step, task->context};
    PyObject *res = PyObject_VectorcallMethod(
        st->str_call_soon, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        st->kwnames_context);
    Py_DECREF(step);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* Schedule a step that throws RuntimeError(message) into the coroutine. */
static int
task_schedule_error(TaskObj *task, PyObject *message)
{
    if (message == NULL) {
        return -1;
    }
    PyObject *exc = PyObject_CallOneArg(PyExc_RuntimeError, message);
    Py_DECREF(message);
    if (exc == NULL) {
        return -1;
    }
    int rc = task_schedule_step(task, exc);
    Py_DECREF(exc);
    return rc;
}

/* ---- cancellation ---------------------------------------------------- */

/* waiter.cancel(msg=msg) for any asyncio-compatible future: 1 if it was
 * cancelled, 0 if not, -1 on error.  msg may be NULL (None). */
static int
cancel_future_like(pyasync_state *st, PyObject *waiter, PyObject *msg)
{
    if (Py_IS_TYPE(waiter, st->Future_Type)) {
        return future_cancel((FutureObj *)waiter, msg);
    }
    if (Py_IS_TYPE(waiter, st->Task_Type)) {
        return task_cancel((TaskObj *)waiter, msg);
    }
    PyObject *args[2] = {waiter, msg == NULL ? Py_None : msg};
    PyObject *res = PyObject_VectorcallMethod(
        st->str_cancel, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        st->kwnames_msg);
    if (res == NULL) {
        return -1;
    }
    int ok = PyObject_IsTrue(res);
    Py_DECREF(res);
    return ok;
}

int
task_cancel(TaskObj *task, PyObject *msg)
{
    task->fut.log_traceback = 0;
    if (task->fut.state != FUTURE_PENDING) {
        return 0;
    }
    task->num_cancels_requested++;
    if (task->fut_waiter != NULL) {
        /* Keep the waiter: it may be a task that swallows the
         * cancellation, to be cancelled again later. */
        PyObject *waiter = Py_NewRef(task->fut_waiter);
        int r = cancel_future_like(task->fut.st, waiter, msg);
        Py_DECREF(waiter);
        if (r != 0) {
            return r;
        }
    }
    /* A step is scheduled: it throws CancelledError into the coroutine. */
    task->must_cancel = 1;
    Py_XSETREF(task->fut.cancel_message,
               msg == Py_None ? NULL : Py_XNewRef(msg));
    return 1;
}

/* ---- the step -------------------------------------------------------- */

/* The coroutine returned value. */
static int
task_step_returned(TaskObj *task, PyObject *value)
{
    int rc;
    if (task->must_cancel) {
        /* Cancelled right before the coroutine returned. */
        task->must_cancel = 0;
        PyObject *msg = Py_XNewRef(task->fut.cancel_message);
        rc = future_cancel(&task->fut, msg);
        Py_XDECREF(msg);
    }
    else {
        rc = future_set_result(&task->fut, value);
    }
    Py_DECREF(value);
    return rc < 0 ? -1 : 0;
}

/* The coroutine raised (the exception is pending). */
static int
task_step_raised(TaskObj *task)
{
    pyasync_state *st = task->fut.st;
    if (PyErr_ExceptionMatches(st->CancelledError)) {
        /* Kept so that result() re-raises it, chained as it was. */
        Py_XSETREF(task->fut.cancelled_exc, fetch_exception());
        return future_cancel(&task->fut, NULL) < 0 ? -1 : 0;
    }
    int fatal = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)
                || PyErr_ExceptionMatches(PyExc_SystemExit);
    PyObject *exc = fetch_exception();
    if (future_set_exception(&task->fut, exc) < 0) {
        Py_DECREF(exc);
        return -1;
    }
    if (fatal) {
        /* Recorded in the task, then propagated to stop the loop. */
        restore_exception(exc);
        return -1;
    }
    Py_DECREF(exc);
    return 0;
}

/* result._asyncio_future_blocking = False;
 * result.add_done_callback(wakeup, context=task.context) */
static int
task_add_wakeup(TaskObj *task, PyObject *result, int exact)
{
    pyasync_state *st = task->fut.st;
    if (exact && Py_IS_TYPE(task, st->Task_Type)) {
        /* No callable object: the future stores the task itself. */
        ((FutureObj *)result)->blocking = 0;
        return future_add_task_wakeup((FutureObj *)result, (PyObject *)task);
    }
    /* Held: Python code below could re-run __init__, dropping the cache. */
    PyObject *wakeup = Py_XNewRef(task_get_wakeup(task));
    PyObject *context = Py_NewRef(task->context);
    int rc = -1;
    if (wakeup == NULL) {
        goto done;
    }
    if (exact) {
        ((FutureObj *)result)->blocking = 0;
        rc = future_add_done_callback((FutureObj *)result, wakeup, context);
        goto done;
    }
    if (PyObject_SetAttr(result, st->str_asyncio_future_blocking,
                         Py_False) < 0) {
        goto done;
    }
    PyObject *args[3] = {result, wakeup, context};
    PyObject *res = PyObject_VectorcallMethod(
        st->str_add_done_callback, args,
        2 | PY_VECTORCALL_ARGUMENTS_OFFSET, st->kwnames_context);
    if (res != NULL) {
        Py_DECREF(res);
        rc = 0;
    }
done:
    Py_XDECREF(wakeup);
    Py_DECREF(context);
    return rc;
}

/* The coroutine yielded result, a future that is not the task itself on
 * the task's loop and that wants to block: wait for it. */
static int
task_wait_for(TaskObj *task, PyObject *result, int exact)
{
    if (task_add_wakeup(task, result, exact) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030E0000
    if (awaited_by_add(task->fut.st, result, (PyObject *)task) < 0) {
        return -1;
    }
#endif
    Py_XSETREF(task->fut_waiter, Py_NewRef(result));
    if (task->must_cancel) {
        PyObject *msg = Py_XNewRef(task->fut.cancel_message);
        int r = cancel_future_like(task->fut.st, result, msg);
        Py_XDECREF(msg);
        if (r < 0) {
            return -1;
        }
        if (r) {
            task->must_cancel = 0;
        }
    }
    return 0;
}

/* The coroutine yielded result (a new reference, consumed). */
static int
task_step_yielded(TaskObj *task, PyObject *result)
{
    pyasync_state *st = task->fut.st;
    PyObject *self = (PyObject *)task;
    int rc;

    if (result == Py_None) {
        /* A bare yield gives up control for one loop iteration. */
        Py_DECREF(result);
        return task_schedule_step(task, NULL);
    }

    int exact = is_pyasync_future_exact(st, result);
    int blocking;
    if (exact) {
        blocking = ((FutureObj *)result)->blocking;
    }
    else {
        PyObject *flag = PyObject_GetAttr(result,
                                          st->str_asyncio_future_blocking);
        if (flag == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                Py_DECREF(result);
                return -1;
            }
            PyErr_Clear();
            blocking = -1;      /* not a future */
        }
        else if (flag == Py_None) {
            Py_DECREF(flag);
            blocking = -1;
        }
        else {
            blocking = PyObject_IsTrue(flag);
            Py_DECREF(flag);
            if (blocking < 0) {
                Py_DECREF(result);
                return -1;
            }
        }
    }

    if (blocking >= 0) {
        /* A future: it must come from Future.__await__ on our loop. */
        PyObject *loop = get_future_loop(st, result);
        if (loop == NULL) {
            Py_DECREF(result);
            return -1;
        }
        Py_DECREF(loop);
        if (loop != task->fut.loop) {
            rc = task_schedule_error(task, PyUnicode_FromFormat(
                "Task %R got Future %R attached to a different loop",
                self, result));
        }
        else if (!blocking) {
            rc = task_schedule_error(task, PyUnicode_FromFormat(
                "yield was used instead of yield from in task %R with %R",
                self, result));
        }
        else if (result == self) {
            rc = task_schedule_error(task, PyUnicode_FromFormat(
                "Task cannot await on itself: %R", self));
        }
        else {
            rc = task_wait_for(task, result, exact);
        }
    }
    else if (PyGen_Check(result)) {
        rc = task_schedule_error(task, PyUnicode_FromFormat(
            "yield was used instead of yield from for generator "
            "in task %R with %R", self, result));
    }
    else {
        rc = task_schedule_error(task, PyUnicode_FromFormat(
            "Task got bad yield: %R", result));
    }
    Py_DECREF(result);
    return rc;
}

/* Run the coroutine up to its next yield, between enter and leave. */
static int
task_step_run(TaskObj *task, PyObject *exc)
{
    PyObject *result = NULL;
    PySendResult status;
    /* Held: the coroutine could re-run task.__init__, replacing coro. */
    PyObject *coro = Py_NewRef(task->coro);
    if (exc == NULL) {
        status = PyIter_Send(coro, Py_None, &result);
    }
    else {
        result = PyObject_CallMethodOneArg(coro, task->fut.st->str_throw, exc);
        if (result != NULL) {
            status = PYGEN_NEXT;
        }
        else if (take_stop_iteration_value(&result)) {
            status = PYGEN_RETURN;
        }
        else {
            status = PYGEN_ERROR;
        }
    }
    Py_DECREF(coro);
    switch (status) {
    case PYGEN_RETURN:
        return task_step_returned(task, result);
    case PYGEN_ERROR:
        return task_step_raised(task);
    default:
        return task_step_yielded(task, result);
    }
}

int
task_step(TaskObj *task, PyObject *exc)
{
    pyasync_state *st = task->fut.st;
    PyObject *self = (PyObject *)task;

    if (task->coro == NULL || task->fut.loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Task object is not initialized.");
        return -1;
    }
    if (task->fut.state != FUTURE_PENDING) {
        PyErr_Format(st->InvalidStateError, "_step(): already done: %R, %R",
                     self, exc == NULL ? Py_None : exc);
        return -1;
    }
    Py_INCREF(self);            /* the step may drop the last other ref */
    Py_XINCREF(exc);
    if (task->must_cancel) {
        if (exc == NULL
            || !PyObject_TypeCheck(exc, (PyTypeObject *)st->CancelledError)) {
            Py_XSETREF(exc, future_make_cancelled_error(&task->fut));
            if (exc == NULL) {
                Py_DECREF(self);
                return -1;
            }
        }
        task->must_cancel = 0;
    }
    Py_CLEAR(task->fut_waiter);

    PyObject *loop = Py_NewRef(task->fut.loop);
    int rc = current_task_enter(st, loop, self);
    if (rc == 0) {
        rc = task_step_run(task, exc);
        if (rc < 0) {
            /* Leave even on error; a failure to leave wins, chained. */
            PyObject *err = fetch_exception();
            if (current_task_leave(st, loop, self) < 0) {
                PyObject *err2 = fetch_exception();
                PyException_SetContext(err2, err);     /* steals err */
                restore_exception(err2);
            }
            else {
                restore_exception(err);
            }
        }
        else {
            rc = current_task_leave(st, loop, self);
        }
    }
    if (task->fut.state != FUTURE_PENDING) {
        /* Done: break the task <-> wake-up cycle early. */
        Py_CLEAR(task->wakeup);
        if (pyasync_diag_active(st)) {
            /* (reports the locks it still holds) */
            pyasync_diag_notify(st, PYASYNC_DIAG_TASK_DONE, self);
        }
    }
    Py_DECREF(loop);
    Py_XDECREF(exc);
    Py_DECREF(self);
    return rc;
}

/* ---- wake-up: the done-callback of the awaited future ---------------- */

int
task_wakeup_ready(PyObject *self, PyObject *fut)
{
    TaskObj *task = (TaskObj *)self;
    pyasync_state *st = task->fut.st;
    PyObject *res;
#if PY_VERSION_HEX >= 0x030E0000
    if (awaited_by_discard(st, fut, self) < 0) {
        return -1;
    }
#endif
    if (is_pyasync_future_exact(st, fut)) {
        FutureObj *f = (FutureObj *)fut;
        if (f->state == FUTURE_FINISHED && f->exception == NULL) {
            res = Py_NewRef(Py_None);       /* value not needed */
        }
        else {
            res = future_get_result(f);
        }
    }
    else {
        res = PyObject_CallMethodNoArgs(fut, st->str_result);
    }
    int rc;
    if (res != NULL) {
        /* The coroutine gets the value from the future's __await__. */
        Py_DECREF(res);
        rc = task_step(task, NULL);
    }
    else {
        /* Any exception, a cancellation included, goes into the coro. */
        PyObject *exc = fetch_exception();
        rc = task_step(task, exc);
        Py_DECREF(exc);
    }
    return rc;
}

static PyObject *
task_wakeup_impl(PyObject *self, PyObject *fut)
{
    if (task_wakeup_ready(self, fut) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Named like asyncio's C wake-up, so reprs of awaited futures match:
 * cb=[Task.task_wakeup()]. */
static PyMethodDef task_wakeup_def = {
    "task_wakeup", (PyCFunction)task_wakeup_impl, METH_O, NULL,
};

PyObject *
task_new_wakeup(PyObject *task)
{
    return PyCFunction_New(&task_wakeup_def, task);
}

PyObject *
task_wakeup_context(PyObject *task)
{
    return ((TaskObj *)task)->context;
}

PyObject *
task_get_wakeup(TaskObj *task)
{
    if (task->wakeup == NULL) {
        task->wakeup = PyCFunction_New(&task_wakeup_def, (PyObject *)task);
    }
    return task->wakeup;
}

/* ---- construction ---------------------------------------------------- */

/* The task's name, borrowed; NULL with an error set, or without one
 * before __init__ ran.
 * A default name "Task-N" is only made into a string when asked for:
 * most tasks never are, and the string is a tenth of creating a task. */
static PyObject *
task_name(TaskObj *task)
{
    if (task->name == NULL && task->name_number != 0) {
        char buf[32];
        char *end = buf + sizeof(buf), *p = end;
        uint64_t n = task->name_number;
        do {
            *--p = (char)('0' + n % 10);
            n /= 10;
        } while (n != 0);
        p -= 5;
        memcpy(p, "Task-", 5);
        task->name = PyUnicode_DecodeASCII(p, end - p, NULL);
    }
    return task->name;
}

/* Set the name from Task(name=...): a str as is, None for a default. */
static int
task_set_name_from(pyasync_state *st, TaskObj *task, PyObject *name)
{
    PyObject *tname = NULL;
    if (name == Py_None) {
        task->name_number = task_number_next(st);
    }
    else {
        tname = PyUnicode_CheckExact(name) ? Py_NewRef(name)
                                           : PyObject_Str(name);
        if (tname == NULL) {
            return -1;
        }
        task->name_number = 0;
    }
    Py_XSETREF(task->name, tname);
    return 0;
}

/* asyncio.iscoroutine(obj), without the call for native coroutines. */
static int
task_is_coroutine(pyasync_state *st, PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return 1;
    }
    PyObject *ok = PyObject_CallOneArg(st->iscoroutine, obj);
    if (ok == NULL) {
        return -1;
    }
    int res = PyObject_IsTrue(ok);
    Py_DECREF(ok);
    return res;
}

static int
task_register(pyasync_state *st, PyObject *task)
{
    return all_tasks_add(st, task, &((TaskObj *)task)->all_node);
}

#if PY_VERSION_HEX >= 0x030C0000
/* ---- eager start (3.12+) ---------------------------------------------- */

/* Run the first step now, inside Task(), as the loop's current task and
 * listed in _eager_tasks; a task still pending after it is registered and
 * runs on as any other, one done already was never scheduled at all.
 * Errors of the bookkeeping win over none; the first one is kept. */
static int
task_eager_start(TaskObj *task)
{
    pyasync_state *st = task->fut.st;
    PyObject *self = (PyObject *)task;
    PyObject *loop = Py_NewRef(task->fut.loop);
    PyObject *prev = NULL, *err = NULL;
    int rc = current_task_swap(st, loop, self, &prev);
    if (rc < 0) {
        Py_DECREF(loop);
        return -1;
    }
    Py_INCREF(self);            /* the step may drop the last other ref */
    if (PySet_Add(st->eager_tasks, self) == 0) {
        if (PyContext_Enter(task->context) == 0) {
            if (task_step_run(task, NULL) < 0) {
                err = fetch_exception();
            }
            if (PyContext_Exit(task->context) < 0 && err == NULL) {
                err = fetch_exception();
            }
        }
        else {
            err = fetch_exception();
        }
        if (PySet_Discard(st->eager_tasks, self) < 0 && err == NULL) {
            err = fetch_exception();
        }
    }
    else {
        err = fetch_exception();
    }
    PyObject *cur = NULL;
    if (current_task_swap(st, loop, prev, &cur) < 0 && err == NULL) {
        err = fetch_exception();
    }
    Py_XDECREF(cur);
    Py_XDECREF(prev);
    Py_DECREF(loop);
    if (task->fut.state == FUTURE_PENDING) {
        if (task_register(st, self) < 0 && err == NULL) {
            err = fetch_exception();
        }
    }
    else {
        /* As asyncio: a task done eagerly lets go of its coroutine. */
        Py_CLEAR(task->coro);
        Py_CLEAR(task->wakeup);
    }
    Py_DECREF(self);
    if (err != NULL) {
        restore_exception(err);
        return -1;
    }
    return 0;
}

/* loop.is_running(), read from the field on a pyasync loop. */
static int
loop_is_running(pyasync_state *st, PyObject *loop)
{
    if (pyasync_is_loop(st, loop)) {
        return pyasync_loop_is_running(loop);
    }
    PyObject *res = PyObject_CallMethod(loop, "is_running", NULL);
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}
#endif /* 3.12+ */

/* Task.__init__(coro, *, loop=None, name=None, context=None,
 * eager_start=False) on parsed arguments (borrowed); eager_start is only
 * ever set on 3.12+. */
static int
task_init(TaskObj *task, PyObject *coro, PyObject *loop, PyObject *name,
          PyObject *context, int eager_start)
{
    if (future_init_fields(&task->fut, loop) < 0) {
        return -1;
    }
    pyasync_state *st = task->fut.st;

    int is_coro = task_is_coroutine(st, coro);
    if (is_coro <= 0) {
        /* No "destroyed but pending" report for a task that never was. */
        task->log_destroy_pending = 0;
        if (is_coro == 0) {
            PyErr_Format(PyExc_TypeError,
                         "a coroutine was expected, got %R", coro);
        }
        return -1;
    }

    if (task_set_name_from(st, task, name) < 0) {
        return -1;
    }
    if (context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(context);
    }
    Py_XSETREF(task->context, context);
    Py_XSETREF(task->coro, Py_NewRef(coro));
    Py_CLEAR(task->fut_waiter);
    Py_CLEAR(task->wakeup);
    task->num_cancels_requested = 0;
    task->must_cancel = 0;
    task->log_destroy_pending = 1;

#if PY_VERSION_HEX >= 0x030C0000
    if (eager_start) {
        int running = loop_is_running(st, task->fut.loop);
        if (running < 0) {
            return -1;
        }
        if (running) {
            return task_eager_start(task);
        }
    }
#else
    (void)eager_start;
#endif
    if (task_schedule_step(task, NULL) < 0) {
        return -1;
    }
    return task_register(st, (PyObject *)task);
}

static int
task_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *coro, *loop = Py_None, *name = Py_None, *context = Py_None;
    int eager_start = 0;
#if PY_VERSION_HEX >= 0x030C0000
    static char *kwlist[] = {"coro", "loop", "name", "context", "eager_start",
                             NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOOp:Task", kwlist,
                                     &coro, &loop, &name, &context,
                                     &eager_start)) {
        return -1;
    }
#else
    static char *kwlist[] = {"coro", "loop", "name", "context", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOO:Task", kwlist,
                                     &coro, &loop, &name, &context)) {
        return -1;
    }
#endif
    return task_init((TaskObj *)self, coro, loop, name, context, eager_start);
}

PyObject *
task_create(pyasync_state *st, PyObject *coro, PyObject *loop,
            PyObject *name, PyObject *context)
{
    return task_create_ex(st, coro, loop, name, context, 0);
}

PyObject *
task_create_ex(pyasync_state *st, PyObject *coro, PyObject *loop,
               PyObject *name, PyObject *context, int eager_start)
{
    PyTypeObject *tp = st->Task_Type;
    PyObject *noargs = PyTuple_New(0);
    if (noargs == NULL) {
        return NULL;
    }
    PyObject *task = tp->tp_new(tp, noargs, NULL);
    Py_DECREF(noargs);
    if (task != NULL &&
            task_init((TaskObj *)task, coro, loop, name, context,
                      eager_start) < 0) {
        Py_CLEAR(task);
    }
    return task;
}

#if PY_VERSION_HEX >= 0x030E0000
/* Task(coro, loop=loop, **kwds) the slow way: kwds has an argument we do
 * not take apart, so the type reports it as asyncio's Task would. */
static PyObject *
task_call_type(pyasync_state *st, PyObject *coro, PyObject *loop,
               PyObject *kwds)
{
    PyObject *kw = kwds != NULL ? PyDict_Copy(kwds) : PyDict_New();
    if (kw == NULL) {
        return NULL;
    }
    int has_loop = PyDict_ContainsString(kw, "loop");
    if (has_loop != 0) {
        if (has_loop > 0) {
            PyErr_SetString(PyExc_TypeError, "Task() got multiple values "
                            "for keyword argument 'loop'");
        }
        Py_DECREF(kw);
        return NULL;
    }
    PyObject *task = NULL;
    PyObject *args = PyTuple_Pack(1, coro);
    if (args != NULL && PyDict_SetItemString(kw, "loop", loop) == 0) {
        task = PyObject_Call((PyObject *)st->Task_Type, args, kw);
    }
    Py_XDECREF(args);
    Py_DECREF(kw);
    return task;
}

PyObject *
task_create_kw(pyasync_state *st, PyObject *coro, PyObject *loop,
               PyObject *kwds, int eager_default)
{
    PyObject *name = Py_None, *context = Py_None;
    int eager = eager_default;
    if (kwds != NULL) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kwds, &pos, &key, &value)) {
            if (!PyUnicode_Check(key)) {
                return task_call_type(st, coro, loop, kwds);
            }
            if (PyUnicode_CompareWithASCIIString(key, "name") == 0) {
                name = value;
            }
            else if (PyUnicode_CompareWithASCIIString(key, "context") == 0) {
                context = value;
            }
            else if (PyUnicode_CompareWithASCIIString(key,
                                                      "eager_start") == 0) {
                eager = PyObject_IsTrue(value);
                if (eager < 0) {
                    return NULL;
                }
            }
            else {
                return task_call_type(st, coro, loop, kwds);
            }
        }
    }
    return task_create_ex(st, coro, loop, name, context, eager);
}
#endif

/* ---- create_task(coro, *, name=None, context=None) -------------------- */

#if PY_VERSION_HEX < 0x030E0000
/* The arguments of create_task() from a vectorcall.  0 or -1. */
static int
create_task_parse(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                  PyObject **coro, PyObject **name, PyObject **context)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "create_task() takes 1 positional "
                     "argument but %zd were given", nargs);
        return -1;
    }
    *coro = nargs == 1 ? args[0] : NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot;
        if (PyUnicode_CompareWithASCIIString(key, "name") == 0) {
            slot = name;
        }
        else if (PyUnicode_CompareWithASCIIString(key, "context") == 0) {
            slot = context;
        }
        else if (PyUnicode_CompareWithASCIIString(key, "coro") == 0) {
            if (*coro != NULL) {
                PyErr_SetString(PyExc_TypeError, "create_task() got "
                                "multiple values for argument 'coro'");
                return -1;
            }
            slot = coro;
        }
        else {
            PyErr_Format(PyExc_TypeError, "create_task() got an unexpected "
                         "keyword argument '%S'", key);
            return -1;
        }
        *slot = args[nargs + i];
    }
    if (*coro == NULL) {
        PyErr_SetString(PyExc_TypeError, "create_task() missing 1 required "
                        "positional argument: 'coro'");
        return -1;
    }
    return 0;
}
#endif

#if PY_VERSION_HEX >= 0x030E0000
/* asyncio.create_task(coro, **kwargs), 3.14: loop.create_task(coro,
 * **kwargs) on the running loop, made in C when the loop is a plain
 * pyasync loop and at most name= is given. */
static PyObject *
create_task_func(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    pyasync_state *st = pyasync_state_from_module(module);
    if (nargs != 1) {
        if (nargs == 0) {
            PyErr_SetString(PyExc_TypeError, "create_task() missing 1 "
                            "required positional argument: 'coro'");
        }
        else {
            PyErr_Format(PyExc_TypeError, "create_task() takes 1 positional "
                         "argument but %zd were given", nargs);
        }
        return NULL;
    }
    if (st->comb_get_running_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyasync is not initialised");
        return NULL;
    }
    PyObject *loop = PyObject_CallNoArgs(st->comb_get_running_loop);
    if (loop == NULL) {
        return NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *task = NULL;
    if (nkw == 0 || (nkw == 1 && PyUnicode_CompareWithASCIIString(
                         PyTuple_GET_ITEM(kwnames, 0), "name") == 0)) {
        task = pyasync_loop_create_task_fast(st, loop, args[0],
                                             nkw ? args[1] : Py_None);
        if (task != NULL || PyErr_Occurred()) {
            Py_DECREF(loop);
            return task;
        }
    }
    /* loop.create_task(coro, **kwargs), the same vector behind the loop. */
    PyObject *small[8];
    PyObject **stack = small;
    if (2 + nkw > (Py_ssize_t)(sizeof(small) / sizeof(small[0]))) {
        stack = PyMem_New(PyObject *, 2 + nkw);
        if (stack == NULL) {
            Py_DECREF(loop);
            return PyErr_NoMemory();
        }
    }
    stack[0] = loop;
    memcpy(stack + 1, args, (size_t)(1 + nkw) * sizeof(PyObject *));
    task = PyObject_VectorcallMethod(st->str_create_task, stack,
                                     2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    Py_DECREF(loop);
    return task;
}
#else
/* asyncio.create_task(): loop.create_task() on the running loop, made in
 * C when the loop is a plain pyasync loop; then task.set_name(name). */
static PyObject *
create_task_func(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *coro, *name = Py_None, *context = Py_None;
    if (create_task_parse(args, nargs, kwnames, &coro, &name, &context) < 0) {
        return NULL;
    }
    if (st->comb_get_running_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyasync is not initialised");
        return NULL;
    }
    PyObject *loop = PyObject_CallNoArgs(st->comb_get_running_loop);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *task;
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13 hands the name to loop.create_task(), which names the task
     * before its first (maybe eager) step. */
    if (context == Py_None) {
        task = pyasync_loop_create_task_fast(st, loop, coro, name);
        if (task == NULL && !PyErr_Occurred()) {
            PyObject *cargs[3] = {loop, coro, name};
            task = PyObject_VectorcallMethod(
                st->str_create_task, cargs,
                2 | PY_VECTORCALL_ARGUMENTS_OFFSET, st->kwnames_name);
        }
    }
    else {
        PyObject *cargs[4] = {loop, coro, name, context};
        task = PyObject_VectorcallMethod(
            st->str_create_task, cargs, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
            st->kwnames_name_context);
    }
    Py_DECREF(loop);
    return task;
#else
    if (context == Py_None) {
        task = pyasync_loop_create_task_fast(st, loop, coro, Py_None);
        if (task == NULL && !PyErr_Occurred()) {
            task = PyObject_CallMethodOneArg(loop, st->str_create_task, coro);
        }
    }
    else {
        PyObject *cargs[3] = {loop, coro, context};
        task = PyObject_VectorcallMethod(
            st->str_create_task, cargs, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
            st->kwnames_context);
    }
    Py_DECREF(loop);
    if (task != NULL && name != Py_None) {
        PyObject *res = PyObject_CallMethod(task, "set_name", "(O)", name);
        if (res == NULL) {
            Py_CLEAR(task);
        }
        Py_XDECREF(res);
    }
    return task;
#endif
}

#endif

/* sleep()'s timer callback: fut.set_result(result) unless fut.cancelled().
 * In C so that a timer firing runs no Python frame. */
static PyObject *
set_result_unless_cancelled(PyObject *module, PyObject *const *args,
                            Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "_set_result_unless_cancelled() "
                     "takes 2 positional arguments but %zd were given", nargs);
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *fut = args[0], *result = args[1];
    if (Py_IS_TYPE(fut, st->Future_Type) && ((FutureObj *)fut)->loop != NULL) {
        if (((FutureObj *)fut)->state != FUTURE_CANCELLED
            && future_set_result((FutureObj *)fut, result) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *res = PyObject_CallMethod(fut, "cancelled", NULL);
    if (res == NULL) {
        return NULL;
    }
    int cancelled = PyObject_IsTrue(res);
    Py_DECREF(res);
    if (cancelled < 0) {
        return NULL;
    }
    if (!cancelled) {
        res = PyObject_CallMethod(fut, "set_result", "(O)", result);
        if (res == NULL) {
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_RETURN_NONE;
}

#if PY_VERSION_HEX >= 0x030E0000
/* asyncio.eager_task_factory(loop, coro, *, eager_start=True, **kwargs):
 * Task(coro, loop=loop, eager_start=eager_start, **kwargs), as 3.14's.
 * A pyasync loop whose factory this is does not even call it (loop.c). */
static PyObject *
eager_task_factory(PyObject *module, PyObject *args, PyObject *kwds)
{
    pyasync_state *st = pyasync_state_from_module(module);
    PyObject *loop, *coro;
    if (!PyArg_UnpackTuple(args, "factory", 2, 2, &loop, &coro)) {
        return NULL;
    }
    return task_create_kw(st, coro, loop, kwds, 1);
}
#  define EAGER_TASK_FACTORY_SIGNATURE \
    "eager_task_factory($module, loop, coro, /, *, eager_start=True, " \
    "**kwargs)"
#elif PY_VERSION_HEX >= 0x030C0000
/* asyncio.eager_task_factory(loop, coro, *, name=None, context=None):
 * Task(coro, loop=loop, name=name, context=context, eager_start=True).
 * A pyasync loop whose factory this is does not even call it (loop.c). */
static PyObject *
eager_task_factory(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "coro", "name", "context", NULL};
    PyObject *loop, *coro, *name = Py_None, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$OO:factory", kwlist,
                                     &loop, &coro, &name, &context)) {
        return NULL;
    }
    return task_create_ex(pyasync_state_from_module(module), coro, loop,
                          name, context, 1);
}
#  define EAGER_TASK_FACTORY_SIGNATURE \
    "eager_task_factory($module, /, loop, coro, *, name=None, context=None)"
#endif

static PyMethodDef task_functions[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {"eager_task_factory", (PyCFunction)(void (*)(void))eager_task_factory,
     METH_VARARGS | METH_KEYWORDS,
     EAGER_TASK_FACTORY_SIGNATURE "\n--\n\n"
     "A task factory whose tasks start running at once, in Task()."},
#endif
    {"_set_result_unless_cancelled",
     (PyCFunction)(void (*)(void))set_result_unless_cancelled, METH_FASTCALL,
     "Set fut's result unless it was cancelled (sleep()'s timer)."},
    {"create_task", (PyCFunction)(void (*)(void))create_task_func,
     METH_FASTCALL | METH_KEYWORDS,
     "create_task($module, /, coro, *, name=None, context=None)\n--\n\n"
     "Schedule coro on the running loop as a Task and return it."},
    {NULL, NULL, 0, NULL},
};

/* ---- Python-visible methods ------------------------------------------ */

static PyObject *
task_cancel_meth(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"msg", NULL};
    PyObject *msg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:cancel", kwlist, &msg)) {
        return NULL;
    }
    int r = task_cancel((TaskObj *)self, msg);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
task_cancelling(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(((TaskObj *)self)->num_cancels_requested);
}

static PyObject *
task_uncancel(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    TaskObj *task = (TaskObj *)self;
    if (task->num_cancels_requested > 0) {
        task->num_cancels_requested--;
#if PY_VERSION_HEX >= 0x030D0000
        /* 3.13: the last uncancel() withdraws a cancel not yet delivered. */
        if (task->num_cancels_requested == 0) {
            task->must_cancel = 0;
        }
#endif
    }
    return PyLong_FromLong(task->num_cancels_requested);
}

/* Getters of fields that stay NULL until __init__ ran. */
static PyObject *
none_if_null(PyObject *obj)
{
    return Py_NewRef(obj != NULL ? obj : Py_None);
}

static PyObject *
task_get_coro(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return none_if_null(((TaskObj *)self)->coro);
}

#if PY_VERSION_HEX >= 0x030C0000
static PyObject *
task_get_context(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return none_if_null(((TaskObj *)self)->context);
}
#endif

static PyObject *
task_get_name(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    /* (Other threads may ask, as asyncio lets them: under the task's
     * lock, free-threaded, with set_name().) */
    PyObject *name;
    Py_BEGIN_CRITICAL_SECTION(self);
    name = Py_XNewRef(task_name((TaskObj *)self));
    Py_END_CRITICAL_SECTION();
    if (name == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return name != NULL ? name : Py_NewRef(Py_None);
}

static PyObject *
task_set_name(PyObject *self, PyObject *value)
{
    PyObject *name = PyUnicode_CheckExact(value) ? Py_NewRef(value)
                                                 : PyObject_Str(value);
    if (name == NULL) {
        return NULL;
    }
    PyObject *old;
    Py_BEGIN_CRITICAL_SECTION(self);
    old = ((TaskObj *)self)->name;
    ((TaskObj *)self)->name = name;
    ((TaskObj *)self)->name_number = 0;
    Py_END_CRITICAL_SECTION();
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *
task_get_stack(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", NULL};
    PyObject *limit = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:get_stack", kwlist,
                                     &limit)) {
        return NULL;
    }
    pyasync_state *st = ((TaskObj *)self)->fut.st;
    return PyObject_CallFunctionObjArgs(st->task_get_stack, self, limit, NULL);
}

static PyObject *
task_print_stack(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", "file", NULL};
    PyObject *limit = Py_None, *file = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OO:print_stack", kwlist,
                                     &limit, &file)) {
        return NULL;
    }
    pyasync_state *st = ((TaskObj *)self)->fut.st;
    return PyObject_CallFunctionObjArgs(st->task_print_stack, self, limit,
                                        file, NULL);
}

static PyObject *
task_set_result(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(result))
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_result operation");
    return NULL;
}

static PyObject *
task_set_exception(PyObject *Py_UNUSED(self),
                   PyObject *Py_UNUSED(exception))
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_exception operation");
    return NULL;
}

static PyMethodDef task_methods[] = {
    {"cancel", (PyCFunction)(void (*)(void))task_cancel_meth,
     METH_VARARGS | METH_KEYWORDS,
     "Request that this task cancel itself."},
    {"cancelling", task_cancelling, METH_NOARGS,
     "Return the count of the task's cancellation requests."},
    {"uncancel", task_uncancel, METH_NOARGS,
     "Decrement the task's count of cancellation requests."},
    {"get_coro", task_get_coro, METH_NOARGS, NULL},
#if PY_VERSION_HEX >= 0x030C0000
    /* New in 3.12: code tests hasattr(task, "get_context"). */
    {"get_context", task_get_context, METH_NOARGS, NULL},
#endif
    {"get_name", task_get_name, METH_NOARGS, NULL},
    {"set_name", task_set_name, METH_O, NULL},
    {"get_stack", (PyCFunction)(void (*)(void))task_get_stack,
     METH_VARARGS | METH_KEYWORDS,
     "Return the list of stack frames for this task's coroutine."},
    {"print_stack", (PyCFunction)(void (*)(void))task_print_stack,
     METH_VARARGS | METH_KEYWORDS,
     "Print the stack or traceback for this task's coroutine."},
    {"set_result", task_set_result, METH_O, NULL},
    {"set_exception", task_set_exception, METH_O, NULL},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "See PEP 585"},
    {0},
};

static PyObject *
task_get_log_destroy_pending(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((TaskObj *)self)->log_destroy_pending);
}

static int
task_set_log_destroy_pending(PyObject *self, PyObject *value,
                             void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
        return -1;
    }
    int b = PyObject_IsTrue(value);
    if (b < 0) {
        return -1;
    }
    ((TaskObj *)self)->log_destroy_pending = (char)b;
    return 0;
}

static PyObject *
task_get_must_cancel(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((TaskObj *)self)->must_cancel);
}

static PyObject *
task_get_coro_attr(PyObject *self, void *Py_UNUSED(closure))
{
    return none_if_null(((TaskObj *)self)->coro);
}

static PyObject *
task_get_fut_waiter(PyObject *self, void *Py_UNUSED(closure))
{
    return none_if_null(((TaskObj *)self)->fut_waiter);
}

static PyGetSetDef task_getset[] = {
    {"_log_destroy_pending", task_get_log_destroy_pending,
     task_set_log_destroy_pending, NULL, NULL},
    {"_must_cancel", task_get_must_cancel, NULL, NULL, NULL},
    {"_coro", task_get_coro_attr, NULL, NULL, NULL},
    {"_fut_waiter", task_get_fut_waiter, NULL, NULL, NULL},
    {0},
};

/* <Task pending name='Task-1' coro=<...>>, from asyncio's own
 * _task_repr_info; "..." when the repr recurses into itself. */
static PyObject *
task_repr(PyObject *self)
{
    pyasync_state *st = ((TaskObj *)self)->fut.st;
    int r = Py_ReprEnter(self);
    if (r != 0) {
        return r > 0 ? PyUnicode_FromString("...") : NULL;
    }
    PyObject *res = NULL, *info = NULL, *sep = NULL, *joined = NULL;
    PyObject *cls_name = NULL;
    info = PyObject_CallOneArg(st->task_repr_info, self);
    if (info == NULL) {
        goto done;
    }
    sep = PyUnicode_FromString(" ");
    if (sep == NULL) {
        goto done;
    }
    joined = PyUnicode_Join(sep, info);
    if (joined == NULL) {
        goto done;
    }
    cls_name = PyType_GetName(Py_TYPE(self));
    if (cls_name == NULL) {
        goto done;
    }
    res = PyUnicode_FromFormat("<%U %U>", cls_name, joined);
done:
    Py_XDECREF(cls_name);
    Py_XDECREF(joined);
    Py_XDECREF(sep);
    Py_XDECREF(info);
    Py_ReprLeave(self);
    return res;
}

/* ---- life cycle ------------------------------------------------------ */

/* "Task was destroyed but it is pending!" through the loop's exception
 * handler, then the Future's "exception was never retrieved". */
static void
task_finalize(PyObject *self)
{
    TaskObj *task = (TaskObj *)self;
    pyasync_state *st = task->fut.st;
    if (task->fut.state == FUTURE_PENDING && task->log_destroy_pending
        && task->fut.loop != NULL && st != NULL) {
        /* A finalizer leaves the current exception as it found it. */
        PyObject *saved = PyErr_Occurred() ? fetch_exception() : NULL;
        PyObject *context = PyDict_New();
        PyObject *message = PyUnicode_FromString(
            "Task was destroyed but it is pending!");
        int ok = context != NULL && message != NULL
            && PyDict_SetItemString(context, "task", self) == 0
            && PyDict_SetItemString(context, "message", message) == 0;
        if (ok && task->fut.source_traceback != NULL) {
            int truth = PyObject_IsTrue(task->fut.source_traceback);
            ok = truth >= 0
                 && (truth == 0
                     || PyDict_SetItemString(context, "source_traceback",
                                             task->fut.source_traceback)
                        == 0);
        }
        if (ok) {
            PyObject *res = PyObject_CallMethodOneArg(
                task->fut.loop, st->str_call_exception_handler, context);
            ok = res != NULL;
            Py_XDECREF(res);
        }
        if (!ok) {
            PyErr_WriteUnraisable(self);
        }
        Py_XDECREF(message);
        Py_XDECREF(context);
        if (saved != NULL) {
            restore_exception(saved);
        }
    }
    future_finalize(&task->fut);
}

static int
task_traverse(PyObject *self, visitproc visit, void *arg)
{
    TaskObj *task = (TaskObj *)self;
    Py_VISIT(task->coro);
    Py_VISIT(task->context);
    Py_VISIT(task->name);
    Py_VISIT(task->fut_waiter);
    Py_VISIT(task->wakeup);
    return future_traverse_fields(&task->fut, visit, arg);
}

static int
task_clear(PyObject *self)
{
    TaskObj *task = (TaskObj *)self;
    Py_CLEAR(task->coro);
    Py_CLEAR(task->context);
    Py_CLEAR(task->name);
    Py_CLEAR(task->fut_waiter);
    Py_CLEAR(task->wakeup);
    future_clear_fields(&task->fut);
    return 0;
}

static void
task_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* Finalize while still tracked: a resurrected task must stay tracked.
     * For Python subclasses subtype_dealloc already ran it (no-op here). */
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;
    }
    PyObject_GC_UnTrack(self);
    TaskObj *task = (TaskObj *)self;
    all_tasks_forget(task->fut.st, &task->all_node, future_weakrefs(self));
    if (future_weakrefs(self) != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)task_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot task_slots[] = {
    {Py_tp_doc, "A coroutine wrapped in a Future."},
    {Py_tp_init, task_tp_init},
    {Py_tp_repr, task_repr},
    {Py_tp_methods, task_methods},
    {Py_tp_getset, task_getset},
    {Py_tp_finalize, task_finalize},
    {Py_tp_traverse, task_traverse},
    {Py_tp_clear, task_clear},
    {Py_tp_dealloc, task_dealloc},
    {0, NULL},
};

static PyType_Spec task_spec = {
    .name = "pyasync._core.Task",
    .basicsize = sizeof(TaskObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = task_slots,
};

/* ---- module init ----------------------------------------------------- */

static int
task_init_strings(pyasync_state *st)
{
#define INTERN(field, text) \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) return -1
    INTERN(str_call_soon, "call_soon");
    INTERN(str_add_done_callback, "add_done_callback");
    INTERN(str_asyncio_future_blocking, "_asyncio_future_blocking");
    INTERN(str_cancel, "cancel");
    INTERN(str_get_loop, "get_loop");
    INTERN(str_loop, "_loop");
    INTERN(str_result, "result");
    INTERN(str_throw, "throw");
    INTERN(str_add, "add");
    INTERN(str_create_task, "create_task");
    INTERN(str_debug, "_debug");
    INTERN(str_time, "time");
#undef INTERN
    st->kwnames_context = Py_BuildValue("(s)", "context");
    st->kwnames_name = Py_BuildValue("(s)", "name");
    st->kwnames_name_context = Py_BuildValue("(ss)", "name", "context");
    st->kwnames_msg = Py_BuildValue("(s)", "msg");
    if (st->kwnames_context == NULL || st->kwnames_name == NULL
            || st->kwnames_name_context == NULL || st->kwnames_msg == NULL) {
        return -1;
    }
    return 0;
}

int
pyasync_task_init(PyObject *module, pyasync_state *st)
{
    if (task_init_strings(st) < 0 || all_tasks_install(module, st) < 0) {
        return -1;
    }
    st->TaskStep_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &taskstep_spec, NULL);
    if (st->TaskStep_Type == NULL) {
        return -1;
    }
    if (st->Future_Type == NULL) {
        PyErr_SetString(PyExc_SystemError, "Task needs Future_Type first");
        return -1;
    }
    st->Task_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &task_spec, (PyObject *)st->Future_Type);
    if (st->Task_Type == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, st->Task_Type) < 0) {
        return -1;
    }
    if (PyModule_AddFunctions(module, task_functions) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030C0000
    st->eager_task_factory = PyObject_GetAttrString(module,
                                                    "eager_task_factory");
    if (st->eager_task_factory == NULL) {
        return -1;
    }
#endif
    return 0;
}
