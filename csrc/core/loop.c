/* loop.c: the pyasync event loop on libuv.
 *
 * One iteration follows asyncio's BaseEventLoop._run_once: poll libuv
 * (blocking, GIL released, only when nothing is ready, at most until the
 * earliest timer), move the due timers to the ready queue, then run exactly
 * the entries that were ready at that point.  Cold methods live in
 * pyasync/loop.py, largely borrowed from asyncio.BaseEventLoop. */
#include "core/loop.h"
#include "core/future.h"
#include "core/task.h"
#include "core/handle.h"
#include "core/task_numbers.h"
#include "diag/lock_diag.h"
#include <structmember.h>
#include <sys/socket.h>
#include <unistd.h>
#include <math.h>

/* asyncio's heuristics for compacting the timer heap. */
#define MIN_SCHEDULED_TIMER_HANDLES 100
#define MIN_CANCELLED_TIMER_HANDLES_FRACTION 0.5
/* asyncio's MAXIMUM_SELECT_TIMEOUT, in ms. */
#define MAX_POLL_TIMEOUT_MS (24ULL * 3600 * 1000)

/* ---- clock ---------------------------------------------------------- */

/* uv_hrtime() reads CLOCK_MONOTONIC: the clock of time.monotonic(). */
static double
loop_now(LoopObj *self)
{
    return (double)pyasync_loop_now_ns(self) / 1e9;
}

static uint64_t
seconds_to_ns(double when)
{
    if (!(when > 0)) {          /* also NaN: due at once, like asyncio */
        return 0;
    }
    if (when >= 1.8e10) {
        return UINT64_MAX;
    }
    return (uint64_t)(when * 1e9);
}

static int loop_keeps_method(pyasync_state *st, PyTypeObject *tp,
                             PyObject *name);
static void loop_refresh_methods_own(LoopObj *self);

/* asyncio's loop reads its clock through self.time(), which tests patch
 * (mock.patch.object(loop, "time")) and tools such as looptime replace.
 * Then, and only then, ours does too: clock_patched is set when "time"
 * is in the instance's dict or the type's time() is not Loop's. */
static void
loop_refresh_clock_patched(LoopObj *self)
{
    PyObject *name = self->st->str_time;
    int patched = !loop_keeps_method(self->st, Py_TYPE(self), name);
    if (!patched && self->dict != NULL) {
        patched = PyDict_GetItemWithError(self->dict, name) != NULL;
        PyErr_Clear();
    }
    self->clock_patched = (char)patched;
}

/* The clock as asyncio's loop reads it: self.time() when patched. */
static PyObject *
loop_time_object(LoopObj *self)
{
    if (self->clock_patched) {
        return PyObject_CallMethodNoArgs((PyObject *)self, self->st->str_time);
    }
    return PyFloat_FromDouble(loop_now(self));
}

/* loop_time_object() in ns for the timer heap; -1 with an exception. */
static int
loop_clock_ns(LoopObj *self, uint64_t *now)
{
    if (!self->clock_patched) {
        *now = pyasync_loop_now_ns(self);
        return 0;
    }
    PyObject *t = loop_time_object(self);
    double d = t != NULL ? PyFloat_AsDouble(t) : -1.0;
    Py_XDECREF(t);
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *now = seconds_to_ns(d);
    return 0;
}

/* ---- libuv handles -------------------------------------------------- */

/* The poll bound expired.  uv_stop() matters when libuv finds the timer
 * due before polling (we were descheduled after arming it): without it
 * uv_run(UV_RUN_ONCE) would then poll with no timeout at all. */
static void
poll_bound_timer_cb(uv_timer_t *timer)
{
    uv_stop(timer->loop);
}

static void
noop_async_cb(uv_async_t *async)
{
    (void)async;
}

/* A signal arrived while we slept: empty the pipe; the Python handlers
 * run from PyErr_CheckSignals() after the poll. */
static void
wakeup_readable_cb(uv_poll_t *poll, int status, int events)
{
    char buf[256];
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)poll, &fd) != 0) {
        return;
    }
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

static int
set_uv_error(int err)
{
    PyErr_Format(PyExc_OSError, "libuv: %s", uv_strerror(err));
    return -1;
}

static int
loop_open_uv(LoopObj *self)
{
    int err;
    self->wakeup_fds[0] = self->wakeup_fds[1] = -1;
    self->io_handles.next = self->io_handles.prev = &self->io_handles;
    if ((err = uv_loop_init(&self->uv)) != 0) {
        return set_uv_error(err);
    }
    uv_timer_init(&self->uv, &self->timer);
    uv_async_init(&self->uv, &self->async, noop_async_cb);
    self->uv_open = 1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   self->wakeup_fds) < 0) {
        self->wakeup_fds[0] = self->wakeup_fds[1] = -1;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if ((err = uv_poll_init(&self->uv, &self->wakeup_poll,
                            self->wakeup_fds[0])) != 0) {
        close(self->wakeup_fds[0]);
        close(self->wakeup_fds[1]);
        self->wakeup_fds[0] = self->wakeup_fds[1] = -1;
        return set_uv_error(err);
    }
    uv_poll_start(&self->wakeup_poll, UV_READABLE, wakeup_readable_cb);
    return 0;
}

/* Close every libuv handle, let libuv finish with them, free the loop. */
static void
loop_close_uv(LoopObj *self)
{
    if (!self->uv_open) {
        return;
    }
    /* Under the lock: another thread's call_soon_threadsafe() wakes the
     * loop through the async handle only while uv_open. */
    pyasync_mutex_lock(&self->inbox_lock);
    self->uv_open = 0;
    pyasync_mutex_unlock(&self->inbox_lock);
    /* The I/O objects' handles first (transports, servers, ...). */
    while (self->io_handles.next != &self->io_handles) {
        pyasync_iohandle *h = self->io_handles.next;
        pyasync_io_unlink(h);
        h->close_fn(h);
    }
    uv_close((uv_handle_t *)&self->timer, NULL);
    uv_close((uv_handle_t *)&self->async, NULL);
    if (self->wakeup_fds[0] >= 0) {
        uv_close((uv_handle_t *)&self->wakeup_poll, NULL);
    }
    pyasync_io_close(self);
    uv_run(&self->uv, UV_RUN_DEFAULT);
    uv_loop_close(&self->uv);
    pyasync_io_free(self);
    if (self->wakeup_fds[0] >= 0) {
        close(self->wakeup_fds[0]);
        close(self->wakeup_fds[1]);
        self->wakeup_fds[0] = self->wakeup_fds[1] = -1;
    }
}

/* ---- scheduling helpers --------------------------------------------- */

static int
loop_check_closed(LoopObj *self)
{
    if (FT_LOAD_CHAR(self->closed)) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return 0;
}

/* Debug-mode checks of asyncio's call_soon()/call_at(): the thread and
 * the callback, done by the BaseEventLoop methods pyasync/loop.py binds. */
static int
loop_debug_checks(LoopObj *self, PyObject *callback, const char *method,
                  int check_thread)
{
    PyObject *r;
    if (check_thread) {
        r = PyObject_CallMethod((PyObject *)self, "_check_thread", NULL);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    r = PyObject_CallMethod((PyObject *)self, "_check_callback", "Os",
                            callback, method);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Split fastcall (callback, *args, context=None) arguments. */
static int
parse_callback_args(PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames, Py_ssize_t first, const char *fname,
                    PyObject **context, PyObject **cbargs)
{
    *context = Py_None;
    if (kwnames == NULL && nargs == first + 1) {
        *cbargs = PyTuple_New(0);   /* the common case: no arguments */
        return *cbargs == NULL ? -1 : 0;
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (!PyUnicode_Check(key)
            || PyUnicode_CompareWithASCIIString(key, "context") != 0) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%S'",
                         fname, key);
            return -1;
        }
        *context = args[nargs + i];
    }
    if (nargs < first + 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s() missing required positional argument", fname);
        return -1;
    }
    *cbargs = PyTuple_New(nargs - first - 1);
    if (*cbargs == NULL) {
        return -1;
    }
    for (Py_ssize_t i = first + 1; i < nargs; i++) {
        PyTuple_SET_ITEM(*cbargs, i - first - 1, Py_NewRef(args[i]));
    }
    return 0;
}

/* Queue fn(obj, arg): into the ready queue from the thread running the
 * loop; from any other thread, under the inbox lock, into the ready queue
 * too while no thread runs the loop (none can start meanwhile: see
 * loop_set_owner), else into the inbox, waking the poll (free-threaded
 * build: see loop.h).  0, or -1 with an exception ("Event loop is closed"
 * once it is). */
static int
loop_push(LoopObj *self, pyasync_ready_fn fn, PyObject *obj, PyObject *arg,
          PyObject *context)
{
#ifdef Py_GIL_DISABLED
    if (!pyasync_loop_is_owner(self)) {
        int r = -1;
        pyasync_mutex_lock(&self->inbox_lock);
        if (self->closed) {
            PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        }
        else if (self->owner_tid == 0) {
            r = ready_push(&self->ready, fn, obj, arg, context);
        }
        else if (ready_push(&self->inbox, fn, obj, arg, context) == 0) {
            FT_STORE_SSIZE(self->inbox_len, (Py_ssize_t)self->inbox.len);
            if (self->uv_open) {
                uv_async_send(&self->async);
            }
            r = 0;
        }
        pyasync_mutex_unlock(&self->inbox_lock);
        return r;
    }
#endif
    return ready_push(&self->ready, fn, obj, arg, context);
}

#ifdef Py_GIL_DISABLED
static int arm_timer_entry(PyObject *h, PyObject *loop);
#endif

/* The running thread: what other threads queued joins the ready queue,
 * behind what is there, and their timers join the heap (as if armed when
 * made: a call_later(0) made before run() is due in the first iteration,
 * as asyncio's is).  0, or -1 with an exception. */
static int
loop_take_inbox(LoopObj *self)
{
#ifdef Py_GIL_DISABLED
    if (FT_LOAD_SSIZE(self->inbox_len) == 0) {
        return 0;
    }
    pyasync_mutex_lock(&self->inbox_lock);
    ready_queue taken = self->inbox;
    ready_init(&self->inbox);
    FT_STORE_SSIZE(self->inbox_len, 0);
    pyasync_mutex_unlock(&self->inbox_lock);
    int r = 0;
    ready_entry e;
    while (ready_pop(&taken, &e)) {
        if (e.fn == arm_timer_entry) {
            if (r == 0 && arm_timer_entry(e.obj, (PyObject *)self) < 0) {
                r = -1;
            }
        }
        else if (r == 0 && ready_append_entry(&self->ready, &e) == 0) {
            continue;       /* the ready queue took the references */
        }
        else {
            r = -1;
        }
        ready_entry_clear(&e);
    }
    ready_free(&taken);
    return r;
#else
    (void)self;
    return 0;
#endif
}

/* The Handle for callback(*cbargs), queued. */
static PyObject *
loop_push_handle(LoopObj *self, PyObject *callback, PyObject *cbargs,
                 PyObject *context)
{
    PyObject *h = handle_new_queued(self->st, callback, cbargs,
                                    (PyObject *)self, context, self->debug);
    if (h == NULL) {
        return NULL;
    }
    if (loop_push(self, handle_run, h, NULL, NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

/* Push the timer h onto the heap, due at deadline (ns). */
static int
loop_arm_timer(LoopObj *self, PyObject *h, uint64_t deadline)
{
    if (timers_push(&self->timers, deadline, h) < 0) {
        return -1;
    }
    FT_STORE_CHAR(((TimerHandleObj *)h)->scheduled, 1);
    return 0;
}

#ifdef Py_GIL_DISABLED
/* The inbox entry of a timer another thread made: the heap is the running
 * thread's, so the timer joins it there (unless cancelled meanwhile). */
static int
arm_timer_entry(PyObject *h, PyObject *loop)
{
    if (handle_is_cancelled(h)) {
        return 0;
    }
    double w = PyFloat_AsDouble(((TimerHandleObj *)h)->when);
    if (w == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    return loop_arm_timer((LoopObj *)loop, h, seconds_to_ns(w));
}
#endif

static PyObject *
loop_schedule_timer(LoopObj *self, PyObject *when, PyObject *callback,
                    PyObject *cbargs, PyObject *context)
{
    double w = PyFloat_AsDouble(when);
    if (w == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *h = timer_handle_new_queued(self->st, when, callback, cbargs,
                                          (PyObject *)self, context,
                                          self->debug);
    if (h == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (!pyasync_loop_is_owner(self)) {
        /* The heap itself while no thread runs the loop (under the lock,
         * as in loop_push), else through the inbox. */
        int r;
        pyasync_mutex_lock(&self->inbox_lock);
        int idle = self->owner_tid == 0 && !self->closed;
        r = idle ? loop_arm_timer(self, h, seconds_to_ns(w)) : 0;
        pyasync_mutex_unlock(&self->inbox_lock);
        if (!idle) {
            r = loop_push(self, arm_timer_entry, h, (PyObject *)self, NULL);
        }
        if (r < 0) {
            Py_DECREF(h);
            return NULL;
        }
        return h;
    }
#endif
    if (loop_arm_timer(self, h, seconds_to_ns(w)) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

/* ---- running entries ------------------------------------------------ */

/* Callback and args to name a failed entry in the report. */
static void
entry_callback(ready_entry *e, PyObject **callback, PyObject **args)
{
    if (e->fn == handle_run) {
        HandleObj *h = (HandleObj *)e->obj;
        *callback = Py_XNewRef(h->callback);
        *args = Py_XNewRef(h->args);
    }
    else {
        *callback = Py_XNewRef(e->obj);
        *args = e->arg ? PyTuple_Pack(1, e->arg) : PyTuple_New(0);
    }
}

static int
entry_call(ready_entry *e)
{
    int r;
    if (e->context == NULL) {
        return e->fn(e->obj, e->arg);
    }
    if (PyContext_Enter(e->context) < 0) {
        return -1;
    }
    r = e->fn(e->obj, e->arg);
    if (PyContext_Exit(e->context) < 0) {
        r = -1;
    }
    return r;
}

static int
entry_report(LoopObj *self, ready_entry *e)
{
    PyObject *type, *value, *tb, *callback, *args;
    PyErr_Fetch(&type, &value, &tb);
    entry_callback(e, &callback, &args);
    PyErr_Restore(type, value, tb);
    int r = handle_report_exception(self->st, (PyObject *)self,
                                    e->fn == handle_run ? e->obj : NULL,
                                    callback, args);
    Py_XDECREF(callback);
    Py_XDECREF(args);
    return r;
}

/* Debug mode, as asyncio: _current_handle is set while the entry runs,
 * and slow entries are logged by _log_slow_callback(). */
static int
entry_run_debug(LoopObj *self, ready_entry *e)
{
    PyObject *handle;
    if (e->fn == handle_run) {
        handle = Py_NewRef(e->obj);
    }
    else {
        PyObject *callback, *args;
        entry_callback(e, &callback, &args);
        handle = (callback && args)
                 ? handle_new(self->st, callback, args, (PyObject *)self,
                              e->context)
                 : NULL;
        Py_XDECREF(callback);
        Py_XDECREF(args);
        if (handle == NULL) {
            return -1;
        }
    }
    if (PyObject_SetAttrString((PyObject *)self, "_current_handle",
                               handle) < 0) {
        Py_DECREF(handle);
        return -1;
    }
    uint64_t t0 = uv_hrtime();
    int r = entry_call(e);
    if (r < 0) {
        r = entry_report(self, e);
    }
    double dt = (double)(uv_hrtime() - t0) / 1e9;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (r == 0 && dt >= self->slow_callback_duration) {
        PyObject *res = PyObject_CallMethod((PyObject *)self,
                                            "_log_slow_callback", "Od",
                                            handle, dt);
        if (res == NULL) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_XDECREF(res);
    }
    if (PyObject_SetAttrString((PyObject *)self, "_current_handle",
                               Py_None) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    PyErr_Restore(type, value, tb);
    Py_DECREF(handle);
    return r;
}

/* Run one entry; -1 only for what must leave run_forever
 * (KeyboardInterrupt, SystemExit, a failure in reporting). */
static int
loop_run_entry(LoopObj *self, ready_entry *e)
{
    if (e->fn == handle_run && handle_is_cancelled(e->obj)) {
        return 0;
    }
    if (self->debug) {
        return entry_run_debug(self, e);
    }
    if (entry_call(e) == 0) {
        return 0;
    }
    return entry_report(self, e);
}

/* ---- one iteration -------------------------------------------------- */

static int
keep_timer(PyObject *obj)
{
    if (handle_is_cancelled(obj)) {
        FT_STORE_CHAR(((TimerHandleObj *)obj)->scheduled, 0);
        return 0;
    }
    return 1;
}

/* A cancelled timer left the heap.  Clamped: _cancelled can also be set
 * from Python without going through cancel(). */
static void
loop_forget_cancelled_timer(LoopObj *self)
{
    /* (Atomic: TimerHandle.cancel() may count from another thread.) */
    if (FT_LOAD_SSIZE(self->timer_cancelled_count) > 0) {
        FT_ADD_SSIZE(self->timer_cancelled_count, -1);
    }
}

static int
keep_no_timer(PyObject *obj)
{
    FT_STORE_CHAR(((TimerHandleObj *)obj)->scheduled, 0);
    return 0;
}

static void
loop_drop_timers(LoopObj *self)
{
    timers_compact(&self->timers, keep_no_timer);
    timers_clear(&self->timers);   /* what destructors scheduled meanwhile */
    FT_STORE_SSIZE(self->timer_cancelled_count, 0);
}

/* Cancelled timers: all of them when they are many, else those on top. */
static void
loop_sweep_timers(LoopObj *self)
{
    size_t n = self->timers.len;
    if (n > MIN_SCHEDULED_TIMER_HANDLES
        && (double)FT_LOAD_SSIZE(self->timer_cancelled_count) / (double)n
           > MIN_CANCELLED_TIMER_HANDLES_FRACTION) {
        timers_compact(&self->timers, keep_timer);
        FT_STORE_SSIZE(self->timer_cancelled_count, 0);
        return;
    }
    const timer_entry *top;
    while ((top = timers_peek(&self->timers)) != NULL
           && handle_is_cancelled(top->obj)) {
        PyObject *obj = timers_pop(&self->timers);
        FT_STORE_CHAR(((TimerHandleObj *)obj)->scheduled, 0);
        loop_forget_cancelled_timer(self);
        handle_unqueue(obj);
    }
}

/* Nothing but timers can make work: no I/O handle or request active in
 * libuv besides the loop's own (the poll bound, the threadsafe wake-up,
 * the signal wake-up fd), and no executor job pending. */
static int
loop_waits_only_for_timers(LoopObj *self)
{
    unsigned int own = uv_is_active((uv_handle_t *)&self->timer)
                       + uv_is_active((uv_handle_t *)&self->async)
                       + uv_is_active((uv_handle_t *)&self->wakeup_poll);
    return self->thread_work == 0 && self->uv.active_reqs.count == 0
           && self->uv.active_handles <= own;
}

/* Debug mode, nothing ready and nothing that could make anything ready:
 * the lock diagnostics may wake waiters that would otherwise wait forever
 * (diag/lock_diag.c).  1: it did (poll without waiting), 0: no, -1: error. */
static int
loop_idle_forever(LoopObj *self)
{
    if (!self->debug || !pyasync_diag_active(self->st)) {
        return 0;
    }
    uv_timer_stop(&self->timer);
    if (!loop_waits_only_for_timers(self)) {
        return 0;
    }
    if (pyasync_diag_loop_idle(self->st, (PyObject *)self) < 0) {
        return -1;
    }
    return self->ready.len > 0;
}

/* How to poll: without waiting when something is ready, else until the
 * earliest deadline (the uv timer bounds the wait), else indefinitely.
 * A virtual clock jumps to the deadline instead when only timers can make
 * work.  *deadline: the deadline the wait is bounded by, or 0. */
static uv_run_mode
loop_prepare_poll(LoopObj *self, uint64_t *deadline)
{
    *deadline = 0;
    if (self->ready.len > 0 || FT_LOAD_CHAR(self->stopping)) {
        return UV_RUN_NOWAIT;
    }
    const timer_entry *top = timers_peek(&self->timers);
    if (top == NULL) {
        int woke = loop_idle_forever(self);
        if (woke != 0) {
            return UV_RUN_NOWAIT;   /* (an error is seen after the poll) */
        }
        uv_timer_stop(&self->timer);
        return UV_RUN_ONCE;
    }
    uint64_t now;
    if (loop_clock_ns(self, &now) < 0 || top->deadline <= now) {
        return UV_RUN_NOWAIT;    /* (an error is seen by the caller) */
    }
    if (self->virtual_clock && !self->clock_patched
        && loop_waits_only_for_timers(self)) {
        self->virtual_now = top->deadline;
        return UV_RUN_NOWAIT;
    }
    *deadline = top->deadline;
    /* Round up: waking early would only cost another iteration. */
    uint64_t ms = (top->deadline - now + 999999) / 1000000;
    if (ms > MAX_POLL_TIMEOUT_MS) {
        ms = MAX_POLL_TIMEOUT_MS;
    }
    uv_update_time(&self->uv);
    uv_timer_start(&self->timer, poll_bound_timer_cb, ms, 0);
    return UV_RUN_ONCE;
}

static int
loop_collect_due_timers(LoopObj *self)
{
    uint64_t now;
    if (loop_clock_ns(self, &now) < 0) {
        return -1;
    }
    const timer_entry *top;
    while ((top = timers_peek(&self->timers)) != NULL
           && top->deadline <= now) {
        PyObject *obj = timers_pop(&self->timers);
        FT_STORE_CHAR(((TimerHandleObj *)obj)->scheduled, 0);
        if (handle_is_cancelled(obj)) {
            loop_forget_cancelled_timer(self);
            handle_unqueue(obj);
            continue;
        }
        if (ready_push(&self->ready, handle_run, obj, NULL, NULL) < 0) {
            handle_unqueue(obj);
            return -1;
        }
        Py_DECREF(obj);   /* the ready queue holds it now */
    }
    return 0;
}

/* No I/O object, signal handler, DNS or other request was ever set up:
 * libuv holds nothing but the poll-bound timer, the async handle and the
 * signal wake-up poll. */
static int
loop_has_no_io(LoopObj *self)
{
    return self->io == NULL && self->io_handles.next == &self->io_handles
           && self->uv.active_reqs.count == 0;
}

static int
loop_run_once(LoopObj *self)
{
    if (loop_check_closed(self) < 0) {
        return -1;
    }
    self->iterations++;
    if (loop_take_inbox(self) < 0) {
        return -1;
    }
    loop_sweep_timers(self);
    uint64_t deadline;
    uv_run_mode mode = loop_prepare_poll(self, &deadline);
    if (PyErr_Occurred()) {
        return -1;   /* from the lock diagnostics */
    }
    pyasync_io_before_poll(self);
    if (mode == UV_RUN_ONCE) {
        uint64_t t0 = self->virtual_clock ? uv_hrtime() : 0;
        /* May block: without the GIL, until a callback takes it back. */
        self->poll_tstate = PyEval_SaveThread();
        uv_run(&self->uv, mode);
        pyasync_loop_hold_gil(self);
        if (self->virtual_clock) {
            /* Waited for real (for I/O): the virtual clock moves as much,
             * up to the deadline the wait was bounded by. */
            uint64_t moved = self->virtual_now + (uv_hrtime() - t0);
            self->virtual_now = deadline != 0 && moved > deadline
                                ? deadline : moved;
        }
    }
    else if (!loop_has_no_io(self)) {
        uv_run(&self->uv, mode);     /* no wait: keep the GIL */
    }
    /* else only our own handles are in libuv, and a poll that does not
     * wait would find nothing they do not also leave for later:
     * threadsafe callbacks are queued already, and the wake-up fds are
     * drained by the next poll that waits. */
    /* What other threads queued meanwhile comes first, as in asyncio's
     * ready deque; then I/O events join the ready queue before the due
     * timers, so that what libuv reported is never left behind. */
    int inbox_failed = loop_take_inbox(self);
    int io_failed = pyasync_io_after_poll(self);
    /* Ctrl-C and other signals that woke us up. */
    if (PyErr_CheckSignals() < 0 || io_failed < 0 || inbox_failed < 0) {
        return -1;
    }
    if (loop_collect_due_timers(self) < 0) {
        return -1;
    }
    size_t ntodo = self->ready.len;
    ready_entry e;
    for (size_t i = 0; i < ntodo && ready_pop(&self->ready, &e); i++) {
        int r = loop_run_entry(self, &e);
        ready_entry_clear(&e);
        if (r < 0) {
            return -1;
        }
    }
    /* The next iteration's handles share a copy of their own: this one
     * (and the values of its variables) lives no longer than its handles,
     * as each handle's copy does in asyncio. */
    ctxshare_cache_clear(&self->ctx_share);
    return 0;
}

/* ---- Python methods ------------------------------------------------- */

static PyObject *
Loop_call_soon(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    PyObject *context, *cbargs;
    if (parse_callback_args(args, nargs, kwnames, 0, "call_soon",
                            &context, &cbargs) < 0) {
        return NULL;
    }
    PyObject *h = NULL;
    if (loop_check_closed(self) == 0
        && (!self->debug
            || loop_debug_checks(self, args[0], "call_soon", 1) == 0)) {
        h = loop_push_handle(self, args[0], cbargs, context);
    }
    Py_DECREF(cbargs);
    return h;
}

static PyObject *
Loop_call_soon_threadsafe(LoopObj *self, PyObject *const *args,
                          Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context, *cbargs;
    if (parse_callback_args(args, nargs, kwnames, 0, "call_soon_threadsafe",
                            &context, &cbargs) < 0) {
        return NULL;
    }
    PyObject *h = NULL;
    if (loop_check_closed(self) == 0
        && (!self->debug
            || loop_debug_checks(self, args[0], "call_soon_threadsafe",
                                 0) == 0)) {
        h = loop_push_handle(self, args[0], cbargs, context);
    }
    Py_DECREF(cbargs);
    /* The entry is in place (we hold the GIL, or loop_push woke the loop
     * of another thread): wake the poll. */
#ifndef Py_GIL_DISABLED
    if (h != NULL && self->uv_open) {
        uv_async_send(&self->async);
    }
#endif
    return h;
}

static PyObject *
loop_call_at_impl(LoopObj *self, PyObject *when, PyObject *const *args,
                  Py_ssize_t nargs, PyObject *kwnames, const char *fname)
{
    PyObject *context, *cbargs;
    if (parse_callback_args(args, nargs, kwnames, 1, fname,
                            &context, &cbargs) < 0) {
        return NULL;
    }
    PyObject *h = NULL;
    if (loop_check_closed(self) == 0
        && (!self->debug
            || loop_debug_checks(self, args[1], "call_at", 1) == 0)) {
        h = loop_schedule_timer(self, when, args[1], cbargs, context);
    }
    Py_DECREF(cbargs);
    return h;
}

static PyObject *
Loop_call_at(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    if (nargs >= 1 && args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "when cannot be None");
        return NULL;
    }
    return loop_call_at_impl(self, nargs ? args[0] : NULL, args, nargs,
                             kwnames, "call_at");
}

static PyObject *
Loop_call_later(LoopObj *self, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames)
{
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError,
                        "call_later() missing required positional argument");
        return NULL;
    }
    if (args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "delay must not be None");
        return NULL;
    }
    PyObject *now = loop_time_object(self);
    PyObject *when = now ? PyNumber_Add(now, args[0]) : NULL;
    Py_XDECREF(now);
    if (when == NULL) {
        return NULL;
    }
    PyObject *h = loop_call_at_impl(self, when, args, nargs, kwnames,
                                    "call_later");
    Py_DECREF(when);
    return h;
}

static PyObject *
Loop_time(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyFloat_FromDouble(loop_now(self));
}

/* ---- the virtual clock (pyasync/clock.py drives these) --------------- */

/* _use_virtual_clock(start): from now on the clock reads start seconds
 * and moves only when the loop jumps it or waits for real. */
static PyObject *
Loop__use_virtual_clock(LoopObj *self, PyObject *start)
{
    double t = PyFloat_AsDouble(start);
    if (t == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!isfinite(t) || t < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "the virtual clock's start must be a finite "
                        "number >= 0");
        return NULL;
    }
    if (self->timers.len > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot switch the clock of a loop with timers");
        return NULL;
    }
    self->virtual_now = seconds_to_ns(t);
    self->virtual_clock = 1;
    Py_RETURN_NONE;
}

/* _advance_virtual_clock(seconds): move the virtual clock forward. */
static PyObject *
Loop__advance_virtual_clock(LoopObj *self, PyObject *seconds)
{
    double dt = PyFloat_AsDouble(seconds);
    if (dt == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!self->virtual_clock) {
        PyErr_SetString(PyExc_RuntimeError, "the loop's clock is not virtual");
        return NULL;
    }
    if (!(dt >= 0) || !isfinite(dt)) {
        PyErr_SetString(PyExc_ValueError,
                        "time can only move forward by a finite amount");
        return NULL;
    }
    uint64_t ns = seconds_to_ns(dt);
    self->virtual_now = UINT64_MAX - self->virtual_now < ns
                        ? UINT64_MAX : self->virtual_now + ns;
    Py_RETURN_NONE;
}

/* An executor job started / ended (its future's done callback): while
 * one is pending, a virtual clock waits for real. */
static PyObject *
Loop__thread_work_begin(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    self->thread_work++;
    Py_RETURN_NONE;
}

static PyObject *
Loop__thread_work_end(LoopObj *self, PyObject *Py_UNUSED(fut))
{
    if (self->thread_work > 0) {
        self->thread_work--;
    }
    Py_RETURN_NONE;
}

static PyObject *
Loop_stop(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    FT_STORE_CHAR(self->stopping, 1);
    Py_RETURN_NONE;
}

static PyObject *
Loop_is_running(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(FT_LOAD_CHAR(self->running));
}

static PyObject *
Loop_is_closed(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(FT_LOAD_CHAR(self->closed));
}

/* The calling thread starts (1) or stops (0) running the loop: from now
 * on its pushes go straight to the ready queue, or through the inbox. */
static void
loop_set_owner(LoopObj *self, int on)
{
#ifdef Py_GIL_DISABLED
    /* Under the lock: a thread that found no owner under it may still be
     * pushing onto the ready queue or the timer heap. */
    pyasync_mutex_lock(&self->inbox_lock);
    FT_STORE_UINTPTR(self->owner_tid, on ? pyasync_thread_tid() : 0);
    pyasync_mutex_unlock(&self->inbox_lock);
#else
    (void)self;
    (void)on;
#endif
}

/* The iterations of run_forever(); pyasync/loop.py does the set-up. */
static PyObject *
Loop__run(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    int r = 0;
    /* (The class may have been patched since.) */
    loop_refresh_clock_patched(self);
    loop_refresh_methods_own(self);
    loop_set_owner(self, 1);
    task_numbers_hold();
    FT_STORE_ULONG(self->thread_id, PyThread_get_thread_ident());
    FT_STORE_CHAR(self->running, 1);
    while (r == 0) {
        r = loop_run_once(self);
        if (FT_LOAD_CHAR(self->stopping)) {
            break;
        }
    }
    FT_STORE_CHAR(self->stopping, 0);
    FT_STORE_CHAR(self->running, 0);
    FT_STORE_ULONG(self->thread_id, 0);
    task_numbers_release(self->st);
    loop_set_owner(self, 0);
    /* (An iteration that failed did not clear it.) */
    ctxshare_cache_clear(&self->ctx_share);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Loop__run_once(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    /* (Outside _run, the caller runs the loop for this iteration.) */
    int outside = !FT_LOAD_CHAR(self->running);
    if (outside) {
        loop_set_owner(self, 1);
        task_numbers_hold();
    }
    int r = loop_run_once(self);
    if (outside) {
        task_numbers_release(self->st);
        loop_set_owner(self, 0);
    }
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Drop what other threads queued (their destructors run outside the
 * lock: they may queue again, and find the loop closed). */
static void
loop_drop_inbox(LoopObj *self)
{
#ifdef Py_GIL_DISABLED
    ready_queue dropped;
    ready_init(&dropped);
    pyasync_mutex_lock(&self->inbox_lock);
    ready_queue tmp = dropped;
    dropped = self->inbox;
    self->inbox = tmp;
    FT_STORE_SSIZE(self->inbox_len, 0);
    pyasync_mutex_unlock(&self->inbox_lock);
    ready_free(&dropped);
#else
    (void)self;
#endif
}

/* What close() does in C: drop the queues, release libuv. */
static PyObject *
Loop__close(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    pyasync_mutex_lock(&self->inbox_lock);
    FT_STORE_CHAR(self->closed, 1);
    pyasync_mutex_unlock(&self->inbox_lock);
    loop_drop_inbox(self);
    ready_clear(&self->ready);
    ctxshare_cache_clear(&self->ctx_share);
    loop_drop_timers(self);
    loop_close_uv(self);
    Py_RETURN_NONE;
}

static PyObject *
Loop__write_to_self(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    pyasync_mutex_lock(&self->inbox_lock);
    if (self->uv_open) {
        uv_async_send(&self->async);
    }
    pyasync_mutex_unlock(&self->inbox_lock);
    Py_RETURN_NONE;
}

static PyObject *
Loop__timer_handle_cancelled(LoopObj *self, PyObject *handle)
{
    PyObject *sched = PyObject_GetAttrString(handle, "_scheduled");
    if (sched == NULL) {
        return NULL;
    }
    int b = PyObject_IsTrue(sched);
    Py_DECREF(sched);
    if (b < 0) {
        return NULL;
    }
    if (b) {
        FT_ADD_SSIZE(self->timer_cancelled_count, 1);
    }
    Py_RETURN_NONE;
}

/* Before a full collection (pyasync/loop.py's gc callback): let the GC
 * see the queued handles that have holders besides this loop. */
static PyObject *
Loop__track_shared_handles(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
#ifdef Py_GIL_DISABLED
    Py_RETURN_NONE;     /* queued handles stay tracked there (handle.c) */
#endif
    ready_queue *q = &self->ready;
    for (size_t i = 0; i < q->len; i++) {
        ready_entry *e = &q->buf[(q->head + i) & (q->cap - 1)];
        if (e->fn == handle_run && e->obj != NULL) {
            handle_track_if_shared(e->obj);
        }
    }
    for (size_t i = 0; i < self->timers.len; i++) {
        handle_track_if_shared(self->timers.items[i].obj);
    }
    Py_RETURN_NONE;
}

static int call_with_arg(PyObject *callback, PyObject *arg);

/* _call_soon_entry(callback, arg=None, context=None): callback(arg) queued
 * the way future.c and task.c queue their work (pyasync_call_soon: no
 * Handle); lets the tests reach that path. */
static PyObject *
Loop__call_soon_entry(LoopObj *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"callback", "arg", "context", NULL};
    PyObject *callback, *arg = NULL, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:_call_soon_entry",
                                     kwlist, &callback, &arg, &context)) {
        return NULL;
    }
    if (pyasync_call_soon(self->st, (PyObject *)self, callback, arg,
                          context == Py_None ? NULL : context) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Call factory(*args, **{kwname: kwvalue for the non-None ones}). */
static PyObject *
call_with_loop_kwargs(PyObject *factory, PyObject *const *posargs,
                      Py_ssize_t npos, const char **names,
                      PyObject **values, Py_ssize_t nkw)
{
    PyObject *stack[8];
    PyObject *kwnames = PyTuple_New(nkw);
    if (kwnames == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < npos; i++) {
        stack[i] = posargs[i];
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *n = PyUnicode_InternFromString(names[i]);
        if (n == NULL) {
            Py_DECREF(kwnames);
            return NULL;
        }
        PyTuple_SET_ITEM(kwnames, i, n);
        stack[npos + i] = values[i];
    }
    PyObject *res = PyObject_Vectorcall(factory, stack, npos, kwnames);
    Py_DECREF(kwnames);
    return res;
}

static PyObject *
Loop_create_future(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    if (self->st->Future_Type != NULL) {
        return future_create(self->st, (PyObject *)self);
    }
    PyObject *cls = self->st->Future_Type
                    ? Py_NewRef((PyObject *)self->st->Future_Type)
                    : PyObject_GetAttrString(self->st->asyncio_mod, "Future");
    if (cls == NULL) {
        return NULL;
    }
    const char *names[] = {"loop"};
    PyObject *values[] = {(PyObject *)self};
    PyObject *fut = call_with_loop_kwargs(cls, NULL, 0, names, values, 1);
    Py_DECREF(cls);
    return fut;
}

#if PY_VERSION_HEX < 0x030E0000
/* What loop.create_task() does with name= after a task factory made the
 * task: asyncio.tasks._set_task_name(task, name) up to 3.12 (nothing for
 * None); task.set_name(name) on 3.13, None included (3.13.0 names such a
 * task 'None', and so do we). */
static int
set_task_name(PyObject *task, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *r = PyObject_CallMethod(task, "set_name", "(O)", name);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
#else
    if (name == Py_None) {
        return 0;
    }
    PyObject *tasks = PyImport_ImportModule("asyncio.tasks");
    if (tasks == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethod(tasks, "_set_task_name", "OO",
                                      task, name);
    Py_DECREF(tasks);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
#endif
}

#endif

#if PY_VERSION_HEX >= 0x030E0000
/* 3.14: create_task(coro, **kwargs), every keyword argument handed to the
 * task factory (or to Task()) as it is; no set_name() afterwards. */
static PyObject *
Loop_create_task(LoopObj *self, PyObject *args, PyObject *kwds)
{
    PyObject *coro;
    if (!PyArg_UnpackTuple(args, "create_task", 1, 1, &coro)) {
        return NULL;
    }
    if (loop_check_closed(self) < 0) {
        return NULL;
    }
    pyasync_state *st = self->st;
    if (self->task_factory == NULL && st->Task_Type != NULL) {
        return task_create_kw(st, coro, (PyObject *)self, kwds, 0);
    }
    if (self->task_factory_eager) {
        /* An eager factory of Task (task_factory_is_eager), called
         * without the call. */
        return task_create_kw(st, coro, (PyObject *)self, kwds, 1);
    }
    if (self->task_factory != NULL) {
        PyObject *call_args = PyTuple_Pack(2, (PyObject *)self, coro);
        if (call_args == NULL) {
            return NULL;
        }
        PyObject *task = PyObject_Call(self->task_factory, call_args, kwds);
        Py_DECREF(call_args);
        return task;
    }
    /* Before pyasync's Task type exists: asyncio's Task. */
    PyObject *cls = PyObject_GetAttrString(st->asyncio_mod, "Task");
    PyObject *call_args = PyTuple_Pack(1, coro);
    PyObject *kw = kwds != NULL ? PyDict_Copy(kwds) : PyDict_New();
    PyObject *task = NULL;
    if (cls != NULL && call_args != NULL && kw != NULL
            && PyDict_SetItemString(kw, "loop", (PyObject *)self) == 0) {
        task = PyObject_Call(cls, call_args, kw);
    }
    Py_XDECREF(cls);
    Py_XDECREF(call_args);
    Py_XDECREF(kw);
    return task;
}
#else
static PyObject *
Loop_create_task(LoopObj *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"coro", "name", "context", NULL};
    PyObject *coro, *name = Py_None, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OO:create_task", kwlist,
                                     &coro, &name, &context)) {
        return NULL;
    }
    if (loop_check_closed(self) < 0) {
        return NULL;
    }
    PyObject *task;
    if (self->task_factory == NULL && self->st->Task_Type != NULL) {
        return task_create(self->st, coro, (PyObject *)self, name, context);
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (self->task_factory_eager) {
        /* An eager factory of Task (task_factory_is_eager), called
         * without the call; the name is set after the eager step, as
         * for any factory. */
        task = task_create_ex(self->st, coro, (PyObject *)self, Py_None,
                              context, 1);
        if (task != NULL && set_task_name(task, name) < 0) {
            Py_CLEAR(task);
        }
        return task;
    }
#endif
    if (self->task_factory == NULL) {
        PyObject *cls = self->st->Task_Type
                        ? Py_NewRef((PyObject *)self->st->Task_Type)
                        : PyObject_GetAttrString(self->st->asyncio_mod,
                                                 "Task");
        if (cls == NULL) {
            return NULL;
        }
        const char *names[] = {"loop", "name", "context"};
        PyObject *values[] = {(PyObject *)self, name, context};
        task = call_with_loop_kwargs(cls, &coro, 1, names, values, 3);
        Py_DECREF(cls);
        return task;
    }
    PyObject *pos[2] = {(PyObject *)self, coro};
    if (context == Py_None) {
        /* The legacy factory signature when no context is needed. */
        task = PyObject_Vectorcall(self->task_factory, pos, 2, NULL);
    }
    else {
        const char *names[] = {"context"};
        task = call_with_loop_kwargs(self->task_factory, pos, 2, names,
                                     &context, 1);
    }
    if (task != NULL && set_task_name(task, name) < 0) {
        Py_CLEAR(task);
    }
    return task;
}

#endif

/* Whether factory makes eager Tasks of the loop's own kind: pyasync's
 * eager_task_factory, or asyncio's (asyncio.eager_task_factory and
 * create_eager_task_factory(asyncio.Task): closures of one code object
 * over the constructor).  On pyasync's loop asyncio's Task is pyasync's
 * Task, as create_task() without a factory shows, so asyncio's eager
 * factory gets the same eager pyasync Task, with asyncio's semantics and
 * without a stdlib Task driven through the loop's Python methods. */
static int
task_factory_is_eager(pyasync_state *st, PyObject *factory)
{
    if (factory == st->eager_task_factory) {
        return 1;
    }
    if (!PyFunction_Check(factory)) {
        return 0;
    }
    PyObject *stdlib = PyObject_GetAttrString(st->asyncio_mod,
                                              "eager_task_factory");
    if (stdlib == NULL) {       /* 3.11: asyncio has none */
        PyErr_Clear();
        return 0;
    }
    int same = 0;
    if (PyFunction_Check(stdlib)
            && PyFunction_GET_CODE(factory) == PyFunction_GET_CODE(stdlib)) {
        PyObject *mine = PyFunction_GET_CLOSURE(factory);
        PyObject *theirs = PyFunction_GET_CLOSURE(stdlib);
        same = mine != NULL && theirs != NULL
               && PyTuple_GET_SIZE(mine) == 1
               && PyTuple_GET_SIZE(theirs) == 1
               && PyCell_GET(PyTuple_GET_ITEM(mine, 0))
                  == PyCell_GET(PyTuple_GET_ITEM(theirs, 0));
    }
    Py_DECREF(stdlib);
    return same;
}

static PyObject *
Loop_set_task_factory(LoopObj *self, PyObject *factory)
{
    if (factory != Py_None && !PyCallable_Check(factory)) {
        PyErr_SetString(PyExc_TypeError,
                        "task factory must be a callable or None");
        return NULL;
    }
    Py_XSETREF(self->task_factory,
               factory == Py_None ? NULL : Py_NewRef(factory));
    self->task_factory_eager = self->task_factory != NULL
        && self->st->Task_Type != NULL
        && task_factory_is_eager(self->st, factory);
    Py_RETURN_NONE;
}

static PyObject *
Loop_get_task_factory(LoopObj *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self->task_factory ? self->task_factory : Py_None);
}

static PyObject *
Loop_get_closed(LoopObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(FT_LOAD_CHAR(self->closed));
}

static PyObject *
Loop_get_stopping(LoopObj *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(FT_LOAD_CHAR(self->stopping));
}

static int
Loop_set_stopping(LoopObj *self, PyObject *v, void *Py_UNUSED(closure))
{
    int b = v ? PyObject_IsTrue(v) : 0;
    if (b < 0) {
        return -1;
    }
    FT_STORE_CHAR(self->stopping, b);
    return 0;
}

static PyObject *
Loop_get_thread_id(LoopObj *self, void *Py_UNUSED(closure))
{
    unsigned long tid = FT_LOAD_ULONG(self->thread_id);
    if (!FT_LOAD_CHAR(self->running) || tid == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong(tid);
}

static PyObject *
Loop_get_wakeup_fd(LoopObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->uv_open ? self->wakeup_fds[1] : -1);
}

static PyObject *
Loop_get_ready_count(LoopObj *self, void *Py_UNUSED(closure))
{
    size_t n = self->ready.len;
#ifdef Py_GIL_DISABLED
    n += (size_t)FT_LOAD_SSIZE(self->inbox_len);
#endif
    return PyLong_FromSize_t(n);
}

/* _debug: asyncio's set_debug() stores whatever it is given (1, a
 * mock); the C paths read its truth, kept in debug. */
static PyObject *
Loop_get_debug(LoopObj *self, void *Py_UNUSED(closure))
{
    if (self->debug_obj != NULL) {
        return Py_NewRef(self->debug_obj);
    }
    return PyBool_FromLong(self->debug);
}

static int
Loop_set_debug(LoopObj *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _debug");
        return -1;
    }
    int b = PyObject_IsTrue(value);
    if (b < 0) {
        return -1;
    }
    self->debug = (char)b;
    Py_XSETREF(self->debug_obj, PyBool_Check(value) ? NULL : Py_NewRef(value));
    return 0;
}

static PyObject *
Loop_get_scheduled_count(LoopObj *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->timers.len);
}

/* ---- type ----------------------------------------------------------- */

static PyObject *
Loop_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    pyasync_state *st = pyasync_state_from_type(tp);
    if (st == NULL) {
        return NULL;
    }
    LoopObj *self = (LoopObj *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = st;
    self->slow_callback_duration = 0.1;
    ready_init(&self->ready);
#ifdef Py_GIL_DISABLED
    ready_init(&self->inbox);
#endif
    timers_init(&self->timers);
    if (loop_open_uv(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    loop_refresh_clock_patched(self);
    loop_refresh_methods_own(self);
    return (PyObject *)self;
}

/* The loop methods C code calls directly instead of through the
 * attribute asyncio's code would look up (see pyasync_loop_type_is_plain()). */
static const char *const fast_path_methods[] = {
    "call_soon", "create_future", "create_task", "get_debug", NULL,
};

static int
is_fast_path_method(PyObject *name)
{
    for (const char *const *m = fast_path_methods; *m != NULL; m++) {
        if (PyUnicode_CompareWithASCIIString(name, *m) == 0) {
            return 1;
        }
    }
    return 0;
}


static void
loop_refresh_methods_own(LoopObj *self)
{
    /* (The class is checked at each use: pyasync_loop_methods_own().) */
    int own = 1;
    for (const char *const *m = fast_path_methods;
         *m != NULL && self->dict != NULL && own; m++) {
        own = PyDict_GetItemString(self->dict, *m) == NULL;
    }
    FT_STORE_CHAR(self->methods_own, own);
}

/* Setting or deleting "time" on the instance (a mock.patch) switches the
 * loop to reading self.time(), and back; setting one of the methods the
 * fast paths bypass makes them go through the attribute, as asyncio. */
static int
Loop_setattro(LoopObj *self, PyObject *name, PyObject *value)
{
    int r = PyObject_GenericSetAttr((PyObject *)self, name, value);
    if (r < 0 || !PyUnicode_Check(name)) {
        return r;
    }
    if (PyUnicode_Compare(name, self->st->str_time) == 0) {
        loop_refresh_clock_patched(self);
    }
    else if (is_fast_path_method(name)) {
        loop_refresh_methods_own(self);
    }
    return r;
}

static int
Loop_traverse(LoopObj *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->dict);
    Py_VISIT(self->task_factory);
    Py_VISIT(self->asyncgens_set);
    Py_VISIT(self->asyncgens_remover);
    Py_VISIT(self->debug_obj);
    if (ctxshare_cache_traverse(&self->ctx_share, visit, arg) < 0
        || ready_traverse(&self->ready, visit, arg) < 0
#ifdef Py_GIL_DISABLED
        || ready_traverse(&self->inbox, visit, arg) < 0
#endif
        || timers_traverse(&self->timers, visit, arg) < 0
        || pyasync_io_traverse(self, visit, arg) < 0) {
        return -1;
    }
    return 0;
}

static int
Loop_tp_clear(LoopObj *self)
{
    loop_drop_inbox(self);
    ready_clear(&self->ready);
    ctxshare_cache_clear(&self->ctx_share);
    loop_drop_timers(self);
    pyasync_io_clear(self);
    Py_CLEAR(self->dict);
    Py_CLEAR(self->task_factory);
    Py_CLEAR(self->asyncgens_set);
    Py_CLEAR(self->asyncgens_remover);
    self->task_factory_eager = 0;
    Py_CLEAR(self->debug_obj);
    return 0;
}

static void
Loop_dealloc(LoopObj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Loop_tp_clear(self);
    ready_free(&self->ready);
    timers_free(&self->timers);
    loop_close_uv(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

#define FASTCALL_KW (METH_FASTCALL | METH_KEYWORDS)

/* tp's attribute name, found along its MRO: a new reference, or NULL.
 * (Free-threaded, a borrowed one could be freed by a thread that sets the
 * attribute meanwhile.) */
static PyObject *
type_lookup_ref(PyTypeObject *tp, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _PyType_LookupRef(tp, name);
#else
    return Py_XNewRef(_PyType_Lookup(tp, name));
#endif
}

/* True when descr is a descriptor of Loop's method def, on Loop or made
 * for a subclass by _bind_c_methods(). */
static int
loop_own_method(PyObject *descr, PyMethodDef *def)
{
    return descr != NULL && Py_IS_TYPE(descr, &PyMethodDescr_Type)
           && ((PyMethodDescrObject *)descr)->d_method == def;
}

/* Loop's method descriptors made again for the subclass cls (called from
 * EventLoop.__init_subclass__).  CPython specializes `loop.call_soon(...)`
 * into a direct C call (CALL_METHOD_DESCRIPTOR_FAST*) only when the
 * instance's type is exactly the descriptor's type; through Loop's own
 * descriptors every call from a subclass instance takes the generic path
 * with a subtype check.  Methods that cls overrides are left alone. */
static PyObject *
Loop__bind_c_methods(PyTypeObject *cls, PyObject *Py_UNUSED(ignored))
{
    pyasync_state *st = pyasync_state_from_type(cls);
    if (st == NULL) {
        return NULL;
    }
    if (!PyType_IsSubtype(cls, st->Loop_Type)) {
        PyErr_SetString(PyExc_TypeError, "not a subclass of Loop");
        return NULL;
    }
    for (PyMethodDef *def = st->Loop_Type->tp_methods; def->ml_name != NULL;
         def++) {
        PyObject *name = PyUnicode_InternFromString(def->ml_name);
        if (name == NULL) {
            return NULL;
        }
        PyObject *found = type_lookup_ref(cls, name);
        int keep = found == NULL || !loop_own_method(found, def)
                   || PyDescr_TYPE(found) == cls;
        Py_XDECREF(found);
        if (keep) {
            Py_DECREF(name);
            continue;
        }
        PyObject *descr = PyDescr_NewMethod(cls, def);
        int r = descr ? PyObject_SetAttr((PyObject *)cls, name, descr) : -1;
        Py_XDECREF(descr);
        Py_DECREF(name);
        if (r < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef Loop_methods[] = {
    {"_bind_c_methods", (PyCFunction)Loop__bind_c_methods,
     METH_CLASS | METH_NOARGS, NULL},
    {"call_soon", (PyCFunction)(void (*)(void))Loop_call_soon, FASTCALL_KW,
     "Arrange for callback(*args) to be called soon; returns a Handle."},
    {"call_soon_threadsafe",
     (PyCFunction)(void (*)(void))Loop_call_soon_threadsafe, FASTCALL_KW,
     "Like call_soon(), but callable from any thread."},
    {"call_later", (PyCFunction)(void (*)(void))Loop_call_later, FASTCALL_KW,
     "Call callback(*args) after delay seconds; returns a TimerHandle."},
    {"call_at", (PyCFunction)(void (*)(void))Loop_call_at, FASTCALL_KW,
     "Call callback(*args) at loop time when; returns a TimerHandle."},
    {"time", (PyCFunction)Loop_time, METH_NOARGS,
     "The loop's clock (time.monotonic())."},
    {"_use_virtual_clock", (PyCFunction)Loop__use_virtual_clock, METH_O,
     NULL},
    {"_advance_virtual_clock", (PyCFunction)Loop__advance_virtual_clock,
     METH_O, NULL},
    {"_thread_work_begin", (PyCFunction)Loop__thread_work_begin,
     METH_NOARGS, NULL},
    {"_thread_work_end", (PyCFunction)Loop__thread_work_end, METH_O, NULL},
    {"stop", (PyCFunction)Loop_stop, METH_NOARGS,
     "Stop after the current iteration."},
    {"is_running", (PyCFunction)Loop_is_running, METH_NOARGS, NULL},
    {"is_closed", (PyCFunction)Loop_is_closed, METH_NOARGS, NULL},
    {"create_future", (PyCFunction)Loop_create_future, METH_NOARGS, NULL},
    {"create_task", (PyCFunction)(void (*)(void))Loop_create_task,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_asyncgen_firstiter_fast", pyasync_loop_asyncgen_firstiter, METH_O,
     "asyncio's _asyncgen_firstiter_hook in C (csrc/core/asyncgens.c)."},
    {"set_task_factory", (PyCFunction)Loop_set_task_factory, METH_O, NULL},
    {"get_task_factory", (PyCFunction)Loop_get_task_factory, METH_NOARGS,
     NULL},
    {"_run", (PyCFunction)Loop__run, METH_NOARGS,
     "Run iterations until stop(); the body of run_forever()."},
    {"_run_once", (PyCFunction)Loop__run_once, METH_NOARGS, NULL},
    {"_close", (PyCFunction)Loop__close, METH_NOARGS, NULL},
    {"_write_to_self", (PyCFunction)Loop__write_to_self, METH_NOARGS, NULL},
    {"_timer_handle_cancelled", (PyCFunction)Loop__timer_handle_cancelled,
     METH_O, NULL},
    {"_call_soon_entry", (PyCFunction)(void (*)(void))Loop__call_soon_entry,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_track_shared_handles", (PyCFunction)Loop__track_shared_handles,
     METH_NOARGS, NULL},
    {NULL},
};

static PyMemberDef Loop_members[] = {
    {"_clock_is_virtual", T_BOOL, offsetof(LoopObj, virtual_clock), READONLY,
     NULL},
    {"slow_callback_duration", T_DOUBLE,
     offsetof(LoopObj, slow_callback_duration), 0, NULL},
    {"_timer_cancelled_count", T_PYSSIZET,
     offsetof(LoopObj, timer_cancelled_count), READONLY, NULL},
    {"_iteration_count", T_ULONGLONG, offsetof(LoopObj, iterations),
     READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(LoopObj, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LoopObj, weakreflist),
     READONLY, NULL},
    {NULL},
};

static PyGetSetDef Loop_getset[] = {
    {"_debug", (getter)Loop_get_debug, (setter)Loop_set_debug, NULL, NULL},
    {"_closed", (getter)Loop_get_closed, NULL, NULL, NULL},
    {"_stopping", (getter)Loop_get_stopping, (setter)Loop_set_stopping,
     NULL, NULL},
    {"_thread_id", (getter)Loop_get_thread_id, NULL, NULL, NULL},
    {"_wakeup_fd", (getter)Loop_get_wakeup_fd, NULL,
     "Write end of the fd pair for signal.set_wakeup_fd().", NULL},
    {"_ready_count", (getter)Loop_get_ready_count, NULL, NULL, NULL},
    {"_scheduled_count", (getter)Loop_get_scheduled_count, NULL, NULL, NULL},
    {NULL},
};

static PyType_Slot Loop_slots[] = {
    {Py_tp_new, Loop_tp_new},
    {Py_tp_dealloc, Loop_dealloc},
    {Py_tp_setattro, Loop_setattro},
    {Py_tp_traverse, Loop_traverse},
    {Py_tp_clear, Loop_tp_clear},
    {Py_tp_methods, Loop_methods},
    {Py_tp_members, Loop_members},
    {Py_tp_getset, Loop_getset},
    {Py_tp_doc, "The libuv event loop core; see pyasync.loop.EventLoop."},
    {0, NULL},
};

static PyType_Spec Loop_spec = {
    .name = "pyasync._core.Loop",
    .basicsize = sizeof(LoopObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Loop_slots,
};

/* ---- exported ------------------------------------------------------- */

static PyMethodDef loop_module_functions[] = {
    {"_context_sharing", (PyCFunction)ctxshare_set_enabled, METH_O,
     "Turn the sharing of context copies between queued handles on or off "
     "(for tests; csrc/core/context_share.h); returns the previous setting."},
    {NULL},
};

int
pyasync_loop_init(PyObject *module, pyasync_state *st)
{
    if (ctxshare_init(module, st) < 0
        || PyModule_AddFunctions(module, loop_module_functions) < 0) {
        return -1;
    }
    st->Loop_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &Loop_spec, NULL);
    if (st->Loop_Type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->Loop_Type);
}

/* True when tp's attribute name is still Loop's own method (wherever its
 * descriptor lives). */
static int
loop_keeps_method(pyasync_state *st, PyTypeObject *tp, PyObject *name)
{
    PyObject *base = type_lookup_ref(st->Loop_Type, name);
    PyObject *found = type_lookup_ref(tp, name);
    int keeps = found == base
        || (base != NULL && Py_IS_TYPE(base, &PyMethodDescr_Type)
            && loop_own_method(found,
                               ((PyMethodDescrObject *)base)->d_method));
    Py_XDECREF(base);
    Py_XDECREF(found);
    return keeps;
}

/* True when tp keeps the loop methods the C fast paths replace: asyncio's
 * get_debug over Loop's _debug member, Loop's create_task and
 * create_future.  The answer
 * for the last type asked is kept with its version tag, which changes
 * whenever the type or a base is modified. */
#ifdef Py_GIL_DISABLED
/* Free-threaded: the cache is each thread's own (a pair other threads
 * rewrite would tear), and type tags are read atomically. */
static _Thread_local PyTypeObject *tls_plain_loop_type;
static _Thread_local unsigned int tls_plain_loop_tag;
#define PLAIN_LOOP_TYPE(st) tls_plain_loop_type
#define PLAIN_LOOP_TAG(st) tls_plain_loop_tag
#define TYPE_TAG(tp) _Py_atomic_load_uint_relaxed(&(tp)->tp_version_tag)
#else
#define PLAIN_LOOP_TYPE(st) ((st)->plain_loop_type)
#define PLAIN_LOOP_TAG(st) ((st)->plain_loop_tag)
#define TYPE_TAG(tp) ((tp)->tp_version_tag)
#endif
/* Whether tp's version tag is valid: 3.13 stopped setting the flag, and a
 * tag of 0 there means "none" (a modified type gets a new tag or none). */
#if PY_VERSION_HEX >= 0x030D0000
#define TYPE_TAG_VALID(tp) (TYPE_TAG(tp) != 0)
#else
#define TYPE_TAG_VALID(tp) PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)
#endif

int
pyasync_loop_type_is_plain(pyasync_state *st, PyTypeObject *tp)
{
    if (tp == PLAIN_LOOP_TYPE(st) && TYPE_TAG_VALID(tp)
        && TYPE_TAG(tp) == PLAIN_LOOP_TAG(st)) {
        return 1;
    }
    if (st->str_get_debug == NULL || st->str_create_future == NULL
        || !loop_keeps_method(st, tp, st->str_create_future)
        || _PyType_Lookup(tp, st->str_get_debug) != st->base_get_debug
        || _PyType_Lookup(tp, st->str_debug)
           != _PyType_Lookup(st->Loop_Type, st->str_debug)
        || !loop_keeps_method(st, tp, st->str_create_task)
        || !loop_keeps_method(st, tp, st->str_call_soon)) {
        return 0;
    }
    /* The lookups gave tp a valid version tag if it can have one. */
    if (TYPE_TAG_VALID(tp)) {
        PLAIN_LOOP_TYPE(st) = tp;
        PLAIN_LOOP_TAG(st) = TYPE_TAG(tp);
    }
    return 1;
}

/* A pyasync loop whose methods are all its own: the fast paths may call
 * them in C (a mock patched on the instance, or an override, must see
 * the calls asyncio's code would make). */
int
pyasync_loop_is_plain(pyasync_state *st, PyObject *loop)
{
    return pyasync_is_loop(st, loop) && pyasync_loop_methods_own(loop);
}

int
pyasync_loop_debug_fast(pyasync_state *st, PyObject *loop)
{
    if (!pyasync_loop_is_plain(st, loop)) {
        return -1;
    }
    return ((LoopObj *)loop)->debug != 0;
}

PyObject *
pyasync_loop_create_future_fast(pyasync_state *st, PyObject *loop)
{
    if (st->Future_Type == NULL || !pyasync_loop_is_plain(st, loop)) {
        return NULL;
    }
    return future_create(st, loop);
}

int
pyasync_loop_is_running(PyObject *loop)
{
    return ((LoopObj *)loop)->running;
}

PyObject *
pyasync_loop_create_task_fast(pyasync_state *st, PyObject *loop,
                              PyObject *coro, PyObject *name)
{
    if (st->Task_Type == NULL || !pyasync_loop_is_plain(st, loop)
        || ((LoopObj *)loop)->task_factory != NULL) {
        return NULL;
    }
    if (loop_check_closed((LoopObj *)loop) < 0) {
        return NULL;
    }
    return task_create(st, coro, loop, name, Py_None);
}

int
pyasync_is_loop(pyasync_state *st, PyObject *loop)
{
    PyTypeObject *tp = Py_TYPE(loop);
    if (st->Loop_Type == NULL) {
        return 0;
    }
    /* Loop itself or a direct subclass (pyasync.EventLoop): no walk of
     * the subclass's long MRO. */
    return tp == st->Loop_Type || tp->tp_base == st->Loop_Type
           || PyType_IsSubtype(tp, st->Loop_Type);
}

int
pyasync_loop_schedule(PyObject *loop, pyasync_ready_fn fn, PyObject *obj,
                      PyObject *arg, PyObject *context)
{
    LoopObj *self = (LoopObj *)loop;
    if (loop_check_closed(self) < 0) {
        return -1;
    }
    return loop_push(self, fn, obj, arg, context);
}

/* The entry behind pyasync_call_soon(): callback(arg). */
static int
call_with_arg(PyObject *callback, PyObject *arg)
{
    PyObject *res = arg ? PyObject_CallOneArg(callback, arg)
                        : PyObject_CallNoArgs(callback);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

static int
call_soon_debug(pyasync_state *st, LoopObj *self, PyObject *callback,
                PyObject *arg, PyObject *ctx)
{
    if (loop_check_closed(self) < 0) {
        return -1;
    }
    PyObject *args = arg ? PyTuple_Pack(1, arg) : PyTuple_New(0);
    if (args == NULL) {
        return -1;
    }
    PyObject *h = handle_new(st, callback, args, (PyObject *)self, ctx);
    Py_DECREF(args);
    if (h == NULL) {
        return -1;
    }
    int r = loop_push(self, handle_run, h, NULL, NULL);
    Py_DECREF(h);
    return r;
}

int
pyasync_call_soon(pyasync_state *st, PyObject *loop, PyObject *callback,
                  PyObject *arg, PyObject *context)
{
    if (pyasync_is_loop(st, loop) && pyasync_loop_methods_own(loop)) {
        /* Like call_soon(): no context means a copy of the current one. */
        PyObject *ctx = context ? Py_NewRef(context) : PyContext_CopyCurrent();
        if (ctx == NULL) {
            return -1;
        }
        if (((LoopObj *)loop)->debug) {
            /* A Handle now, as asyncio's call_soon makes: debug mode's
             * reports say where it was created (here: the caller of
             * set_result), not where it ran. */
            int r = call_soon_debug(st, (LoopObj *)loop, callback, arg, ctx);
            Py_DECREF(ctx);
            return r;
        }
        int r = pyasync_loop_schedule(loop, call_with_arg, callback, arg, ctx);
        Py_DECREF(ctx);
        return r;
    }
    PyObject *meth = PyObject_GetAttrString(loop, "call_soon");
    if (meth == NULL) {
        return -1;
    }
    PyObject *kwnames = NULL;
    PyObject *args[3] = {callback, arg, context};
    if (context != NULL && (kwnames = Py_BuildValue("(s)", "context")) == NULL) {
        Py_DECREF(meth);
        return -1;
    }
    PyObject *res = PyObject_Vectorcall(meth, args, 2, kwnames);
    Py_XDECREF(kwnames);
    Py_DECREF(meth);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}
