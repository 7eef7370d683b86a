/* loop.h: the pyasync loop object, for the files that cooperate with it
 * closely (handle.c reads its debug flag and timer bookkeeping). */
#ifndef PYASYNC_LOOP_H
#define PYASYNC_LOOP_H

#include "pyasync.h"   /* first: Python.h sets the POSIX feature macros */
#include <uv.h>
#include "core/context_share.h"
#include "core/ft.h"
#include "core/ready.h"
#include "core/timers.h"

/* A libuv handle owned by an I/O object (csrc/io/), linked into its loop
 * while open: libuv needs every handle closed before uv_loop_close, so
 * closing the loop calls close_fn on each (close_fn unlinks it and calls
 * uv_close; its close callback may take the GIL, which the closing
 * thread already holds). */
typedef struct pyasync_iohandle {
    struct pyasync_iohandle *next, *prev;
    void (*close_fn)(struct pyasync_iohandle *);
} pyasync_iohandle;

typedef struct {
    PyObject_HEAD
    uv_loop_t uv;
    uv_timer_t timer;          /* bounds the poll wait by the next deadline */
    uv_async_t async;          /* call_soon_threadsafe() wake-up */
    uv_poll_t wakeup_poll;     /* read end of the signal wake-up fd pair */
    int wakeup_fds[2];         /* [0] polled, [1] for signal.set_wakeup_fd */
    char uv_open;              /* the libuv handles above are live */
    char closed;
    char stopping;
    char debug;
    char running;
    char virtual_clock;        /* time moves only by jumps (VirtualClock) */
    char clock_patched;        /* time() patched or overridden: the loop
                                  asks self.time() as asyncio's does */
    char methods_own;          /* call_soon, create_future, create_task
                                  and get_debug are not set on the
                                  instance, as last checked (creation,
                                  setattr, each run_forever); the class
                                  is checked at each use
                                  (pyasync_loop_methods_own) */
    char task_factory_eager;   /* task_factory is an eager factory of
                                  pyasync's or asyncio's own Task:
                                  create_task() makes an eager pyasync
                                  Task without the call */
    uint64_t virtual_now;      /* ns: the clock while virtual_clock */
    Py_ssize_t thread_work;    /* executor jobs pending, counted while
                                  virtual_clock (they may schedule work) */
    unsigned long thread_id;   /* valid while running */
    ready_queue ready;
    /* The context copy the handles made in this iteration share, with
     * the variables it was made with (context_share.h). */
    ctxshare_cache ctx_share;
    timer_heap timers;         /* TimerHandle objects */
    Py_ssize_t timer_cancelled_count;
    unsigned long long iterations;   /* _run_once count, for tests */
    double slow_callback_duration;
    PyObject *task_factory;
    PyObject *debug_obj;       /* what set_debug() was given (NULL: the
                                  bool in debug) */
    PyObject *dict;
    PyObject *weakreflist;
    PyObject *asyncgens_set;       /* the WeakSet asyncgens_remover is */
    PyObject *asyncgens_remover;   /* for (csrc/core/asyncgens.c), or NULL */
    pyasync_state *st;
    struct pyasync_io *io;     /* csrc/io: polls, signals, DNS; lazily made */
    pyasync_iohandle io_handles;   /* list head of the open I/O handles */
    /* Set while a blocking uv_run has released the GIL and no callback
     * has taken it back yet (see pyasync_loop_hold_gil). */
    PyThreadState *poll_tstate;
#ifdef Py_GIL_DISABLED
    /* What threads other than the one running the loop queue (any thread
     * while none runs it): entries in order, under inbox_lock, moved into
     * ready by the running thread before each poll and after it
     * (loop_take_inbox); inbox_len mirrors inbox.len for a test without
     * the lock.  owner_tid: the thread running the loop, or 0. */
    pyasync_mutex inbox_lock;
    ready_queue inbox;
    Py_ssize_t inbox_len;
    uintptr_t owner_tid;
#endif
} LoopObj;

/* The calling thread may touch the loop's queues directly: it is the one
 * running the loop (always so under the GIL, which serialises them). */
static inline int
pyasync_loop_is_owner(LoopObj *loop)
{
#ifdef Py_GIL_DISABLED
    return FT_LOAD_UINTPTR(loop->owner_tid) == pyasync_thread_tid();
#else
    (void)loop;
    return 1;
#endif
}

/* The loop's clock in ns: CLOCK_MONOTONIC (time.monotonic()'s), or the
 * virtual clock. */
static inline uint64_t
pyasync_loop_now_ns(LoopObj *self)
{
    return self->virtual_clock ? self->virtual_now : uv_hrtime();
}

/* True when tp keeps the loop methods the C fast paths replace (a cached
 * answer while the class is unchanged; core/loop.c). */
int pyasync_loop_type_is_plain(pyasync_state *st, PyTypeObject *tp);

/* loop (a pyasync loop) lets C schedule without calling call_soon:
 * neither the instance nor its class replaces a method the C paths
 * bypass, the class being checked each time, as it may be patched while
 * the loop runs. */
static inline int
pyasync_loop_methods_own(PyObject *loop)
{
    LoopObj *self = (LoopObj *)loop;
    return FT_LOAD_CHAR(self->methods_own)
           && pyasync_loop_type_is_plain(self->st, Py_TYPE(loop));
}

/* For libuv callbacks that touch Python objects.  A blocking uv_run runs
 * without the GIL; the first callback after the wait takes it back and
 * keeps it until uv_run returns (libuv does not block again in that call
 * once a callback ran), so a burst of I/O events costs one GIL round
 * trip, not one per callback.  A no-op when the GIL is held already. */
static inline void
pyasync_loop_hold_gil(LoopObj *loop)
{
    PyThreadState *ts = loop->poll_tstate;
    if (ts != NULL) {
        loop->poll_tstate = NULL;
        PyEval_RestoreThread(ts);
    }
}

/* csrc/core/asyncgens.c: asyncio's async generator first-iteration hook in C
 * (Loop._asyncgen_firstiter_fast), and its lookups at import. */
int pyasync_asyncgens_init(PyObject *module, pyasync_state *st);
PyObject *pyasync_loop_asyncgen_firstiter(PyObject *self, PyObject *agen);

/* csrc/io/io.c: the loop's hooks into its I/O state (no-ops while
 * self->io is NULL). */
void pyasync_io_before_poll(LoopObj *self);
int pyasync_io_after_poll(LoopObj *self);
void pyasync_io_close(LoopObj *self);   /* before the final uv_run */
void pyasync_io_free(LoopObj *self);    /* after uv_loop_close */
int pyasync_io_traverse(LoopObj *self, visitproc visit, void *arg);
void pyasync_io_clear(LoopObj *self);

static inline void
pyasync_io_link(LoopObj *loop, pyasync_iohandle *h)
{
    h->next = loop->io_handles.next;
    h->prev = &loop->io_handles;
    h->next->prev = h;
    loop->io_handles.next = h;
}

static inline void
pyasync_io_unlink(pyasync_iohandle *h)
{
    if (h->next != NULL) {
        h->next->prev = h->prev;
        h->prev->next = h->next;
        h->next = h->prev = NULL;
    }
}

#endif /* PYASYNC_LOOP_H */
