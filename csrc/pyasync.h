/* pyasync.h: what every C file of pyasync._core shares.
 *
 * The module keeps all of its mutable state in one pyasync_state struct
 * (no C globals).  Each concept lives in its own file and exports a small
 * interface declared below, grouped by file. */
#ifndef PYASYNC_H
#define PYASYNC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include "core/ft.h"

/* ---- module.c ------------------------------------------------------- */

/* The object fields of pyasync_state owned by the synchronization
 * primitives (waiter.c): their types, the asyncio objects they use and
 * interned method names.  module.c traverses and clears them. */
/* str_cancel and str_throw are shared with task.c, which interns them. */
#define PYASYNC_SYNC_FIELDS(X) \
    X(SyncCoro_Type) X(Lock_Type) X(Event_Type) X(Condition_Type) \
    X(Semaphore_Type) X(BoundedSemaphore_Type) X(Barrier_Type) \
    X(Queue_Type) X(PriorityQueue_Type) X(LifoQueue_Type) \
    X(sync_get_running_loop) X(sync_deque_type) X(sync_heappush) \
    X(sync_heappop) X(BrokenBarrierError) X(QueueEmpty) X(QueueFull) \
    X(QueueShutDown) /* 3.13+ only; NULL before */ \
    X(sync_deque_append) X(sync_deque_popleft) X(sync_deque_remove) \
    X(sync_barrier_states) \
    X(str_append) X(str_popleft) X(str_remove) X(str_create_future) \
    X(str_set_result) X(str_done) X(str_cancelled) \
    X(str_acquire) X(str_release) X(str_locked) X(str_close) \
    X(str_init_hook) X(str_put_hook) X(str_get_hook) X(str_qsize) \
    X(str_full) X(str_empty) X(str_wait) X(str_value) X(str_clear) X(str_set) \
    X(str_put_nowait) X(str_get_nowait)

/* The object fields owned by csrc/io/stream.c and server.c: their types
 * and asyncio.BufferedProtocol. */
#define PYASYNC_IO_STREAM_FIELDS(X) \
    X(Stream_Type) X(Listener_Type) X(io_BufferedProtocol)

/* A node of an intrusive doubly linked ring (all_tasks.c: live tasks not
 * yet entered in asyncio's _all_tasks). */
typedef struct pyasync_link {
    struct pyasync_link *prev, *next;
} pyasync_link;

/* A task's place in the rings of tasks not yet in _all_tasks.data
 * (core/all_tasks.c): its node, which ring it is or was on, and whether
 * it ever was (a task is listed again if its __init__ runs again). */
typedef struct {
    pyasync_link link;
    unsigned char ring;
    unsigned char linked_before;
} pyasync_task_node;

/* A ring of pyasync tasks that _all_tasks will list but that have no
 * weak reference in .data yet (core/all_tasks.c); not references.
 * Free-threaded, each thread links its tasks into a ring of its own, so
 * that loops in parallel threads take no common lock: the rings are 128
 * bytes apart, so no two share a cache line. */
typedef struct {
    pyasync_link pending;
    pyasync_mutex lock;
    char pad[128 - sizeof(pyasync_link) - sizeof(pyasync_mutex)];
} pyasync_task_ring;
#ifdef Py_GIL_DISABLED
#define PYASYNC_TASK_RINGS 32
#else
#define PYASYNC_TASK_RINGS 1
#endif

typedef struct {
    /* Types, created by each file's *_init function. */
    PyTypeObject *Loop_Type;          /* loop.c */
    PyTypeObject *Handle_Type;        /* handle.c */
    PyTypeObject *TimerHandle_Type;   /* handle.c */
    PyTypeObject *SharedContext_Type; /* context_share.c */
    PyTypeObject *Future_Type;        /* future.c */
    /* Its base _asyncio.Future's GC slots (future.c), kept as plain
     * function pointers: futures may outlive the state's objects. */
    traverseproc asyncio_future_traverse;
    inquiry asyncio_future_clear;
    int asyncio_future_visits_type;   /* a heap type: it visits Py_TYPE */
    PyTypeObject *FutureIter_Type;    /* future.c */
    PyTypeObject *Task_Type;          /* task.c */
    PyTypeObject *TaskStep_Type;      /* task.c: the callable a foreign loop runs */

    /* asyncio's own objects, looked up once at import (module.c). */
    PyObject *asyncio_mod;
    PyObject *CancelledError;         /* asyncio.CancelledError */
    PyObject *InvalidStateError;      /* asyncio.InvalidStateError */
    PyObject *get_event_loop;         /* asyncio.events.get_event_loop */
    PyObject *iscoroutine;            /* asyncio.coroutines.iscoroutine */
    PyObject *future_repr_info;       /* asyncio.base_futures._future_repr_info */
    PyObject *future_repr;            /* asyncio.base_futures._future_repr */
    PyObject *task_repr_info;         /* asyncio.base_tasks._task_repr_info */
    PyObject *task_get_stack;         /* asyncio.base_tasks._task_get_stack */
    PyObject *task_print_stack;       /* asyncio.base_tasks._task_print_stack */
    PyObject *current_tasks;          /* asyncio.tasks._current_tasks (dict,
                                         3.11-3.13; current_task.c) */
    PyObject *asyncio_enter_task;     /* _asyncio._enter_task (3.14+) */
    PyObject *asyncio_leave_task;     /* _asyncio._leave_task (3.14+) */
    PyObject *asyncio_swap_task;      /* _asyncio._swap_current_task (3.14+) */
    PyObject *asyncio_current_task;   /* _asyncio.current_task (3.14+) */
    /* 3.14+: where the thread state keeps asyncio's running loop and task,
     * checked at import (current_task.c); -1: call the functions above. */
    Py_ssize_t ts_running_loop_off;
    Py_ssize_t ts_running_task_off;
    PyObject *asyncio_running_loop;   /* _asyncio._get_running_loop (3.14+) */
    PyObject *asyncio_awaited_by_add; /* _asyncio.future_add_to_awaited_by,
                                         3.14+ (awaited_by.c) */
    PyObject *asyncio_awaited_by_discard; /* ...discard_from_awaited_by */
    PyObject *asyncio_awaited_by_getter;  /* _asyncio.Future._asyncio_awaited_by */
    PyObject *all_tasks;              /* asyncio.tasks._all_tasks (WeakSet);
                                         _scheduled_tasks on 3.12 and 3.13,
                                         _asyncio's own on 3.14+ */
    PyObject *eager_tasks;            /* asyncio.tasks._eager_tasks (set,
                                         3.12+; NULL before) */
    PyObject *eager_task_factory;     /* pyasync's C eager_task_factory
                                         (3.12+; NULL before) */
    PyObject *all_tasks_data;         /* its .data set, or NULL (all_tasks.c) */
    PyObject *all_tasks_remove;       /* its ._remove weakref callback */
    PyObject *all_tasks_iterating;    /* its ._iterating set */
    PyObject *extract_stack;          /* traceback.extract_stack */
    PyObject *format_callback_source; /* asyncio.format_helpers._format_callback_source */

    /* Interned method names for hot calls (future.c creates them). */
    PyObject *str_get_debug;              /* "get_debug" */
    PyObject *str_call_exception_handler; /* "call_exception_handler" */

    /* Interned names and kwnames for task.c's calls on foreign loops and
     * futures (task.c creates them). */
    PyObject *str_call_soon;              /* "call_soon" */
    PyObject *str_add_done_callback;      /* "add_done_callback" */
    PyObject *str_asyncio_future_blocking;/* "_asyncio_future_blocking" */
    PyObject *str_cancel;                 /* "cancel" */
    PyObject *str_get_loop;               /* "get_loop" */
    PyObject *str_loop;                   /* "_loop" */
    PyObject *str_result;                 /* "result" */
    PyObject *str_throw;                  /* "throw" */
    PyObject *str_add;                    /* "add" (WeakSet.add) */
    PyObject *str_create_task;            /* "create_task" */
    PyObject *str_debug;                  /* "_debug" */
    PyObject *str_time;                   /* "time" */
    PyObject *base_get_debug;   /* asyncio BaseEventLoop.get_debug (module.c) */
    /* asyncgens.c's: weakref.WeakSet, BaseEventLoop._asyncgen_firstiter_hook
     * and the attribute names it reads. */
    PyObject *WeakSet_Type;
    PyTypeObject *WeakSetRemover_Type;
    PyObject *str_iterating;
    PyObject *asyncio_firstiter_hook;
    PyObject *str_asyncgens;
    PyObject *str_asyncgens_shutdown_called;
    PyObject *str_data;
    PyObject *str_pending_removals;
    /* The last loop type found plain by loop.c (not owned: the version
     * tag tells a changed or new type). */
    PyTypeObject *plain_loop_type;
    unsigned int plain_loop_tag;
    PyObject *kwnames_context;            /* ("context",) */
    PyObject *kwnames_name;               /* ("name",) */
    PyObject *kwnames_name_context;       /* ("name", "context") */
    PyObject *kwnames_msg;                /* ("msg",) */

    /* Synchronization primitives and queues (waiter.c, lock.c, ...). */
#define PYASYNC_SYNC_DECL(field) PyObject *field;
    PYASYNC_SYNC_FIELDS(PYASYNC_SYNC_DECL)
#undef PYASYNC_SYNC_DECL
    /* Freed SyncCoro objects kept for reuse (waiter.c), linked through
     * their first pointer field; not objects while on the list. */
    void *sync_coro_free;
    int sync_coro_nfree;
    /* Combinators (combinator.h): their types and what they borrow. */
    PyTypeObject *GatheringFuture_Type;   /* gather.c */
    PyTypeObject *GatherState_Type;       /* gather.c */
    PyTypeObject *ShieldState_Type;       /* shield.c */
    PyObject *shield_log_on_exception;    /* shield.c, 3.14+ */
    PyTypeObject *Wait_Type;              /* wait.c */
    PyTypeObject *WaitFor_Type;           /* wait_for.c */
    PyTypeObject *CancelAndWait_Type;     /* wait_for.c */
    PyTypeObject *AsCompleted_Type;       /* as_completed.c */
    PyTypeObject *WaitForOne_Type;        /* as_completed.c */
    PyTypeObject *ToThread_Type;          /* threads.c */
    PyTypeObject *ThreadsafeCall_Type;    /* threads.c */
    PyTypeObject *FutureChain_Type;       /* threads.c */
    PyObject *comb_future_base;       /* _GatheringFuture's base: asyncio.Future */
    PyObject *comb_get_running_loop;  /* asyncio.events.get_running_loop */
    PyObject *comb_coroutine_abc;     /* collections.abc.Coroutine */
    PyObject *comb_concurrent_future; /* concurrent.futures.Future */
    PyObject *comb_cf_cancelled_error;     /* concurrent.futures.CancelledError */
    PyObject *comb_cf_invalid_state_error; /* concurrent.futures.InvalidStateError */
    PyObject *comb_partial;           /* functools.partial */
    PyObject *comb_get_event_loop;    /* pyasync.events.get_event_loop, on first use */
    PyObject *comb_ensure_future;     /* pyasync.tasks.ensure_future, on first use */
    PyObject *comb_isawaitable;       /* inspect.isawaitable, on first use */
    pyasync_mutex lazy_lock;          /* the three above, free-threaded */
    /* Interned method names and keyword tuples for the future helpers. */
    PyObject *comb_str_done;
    PyObject *comb_str_cancelled;
    PyObject *comb_str_cancel;
    PyObject *comb_str_result;
    PyObject *comb_str_exception;
    PyObject *comb_str_set_result;
    PyObject *comb_str_set_exception;
    PyObject *comb_str_add_done_callback;
    PyObject *comb_str_remove_done_callback;
    PyObject *comb_str_get_loop;
    PyObject *comb_str_loop;
    PyObject *comb_str_create_future;
    PyObject *comb_str_call_later;
    PyObject *comb_str_asyncio_future_blocking;
    PyObject *comb_str_make_cancelled_error;
    PyObject *comb_str_cancel_message;
    PyObject *comb_kw_msg;            /* ("msg",) */
    PyObject *comb_kw_loop;           /* ("loop",) */
    /* sleep() (sleep.c): its coroutine type, what its steps call, and
     * freed coroutines kept for reuse (linked through their delay field;
     * not objects while on the list). */
    PyTypeObject *Sleep_Type;
    PyObject *sleep_set_result;       /* _core._set_result_unless_cancelled */
    void *sleep_free;
    int sleep_nfree;
    /* Lock diagnostics in debug mode (diag/lock_diag.c): the Python hooks
     * (pyasync._deadlock), and how many debug-mode loops are running;
     * while none is, the primitives never call the hooks. */
    PyObject *diag_hooks;
    Py_ssize_t diag_loops;            /* (atomic, free-threaded) */
    pyasync_mutex diag_lock;          /* diag_hooks', free-threaded */
    /* The read-only views of C objects for pyasync/graph.py
     * (diag/introspect.h): registered at init by the files that own the
     * types, then fixed.  The types are borrowed (their fields own them). */
#define PYASYNC_MAX_VIEWS 16
    struct {
        PyTypeObject *type;
        PyObject *(*view)(PyObject *obj);
    } views[PYASYNC_MAX_VIEWS];
    int nviews;
    /* Stream transports and servers (csrc/io/stream.c, server.c). */
#define PYASYNC_IO_STREAM_DECL(field) PyObject *field;
    PYASYNC_IO_STREAM_FIELDS(PYASYNC_IO_STREAM_DECL)
#undef PYASYNC_IO_STREAM_DECL
    /* Written by every thread that makes or frees a task: on cache lines
     * of their own, away from the read-mostly fields above (with loops
     * running in parallel threads, each write would otherwise evict
     * those from every other core). */
    char pad_before_shared[64];
    pyasync_task_ring task_rings[PYASYNC_TASK_RINGS];
    /* The counter behind the default task names Task-N (atomic,
     * free-threaded). */
    uint64_t task_name_counter;
    char pad_after_shared[64];
} pyasync_state;

#define COMB_NAME_FIELDS(X) \
    X(comb_str_done) X(comb_str_cancelled) X(comb_str_cancel) \
    X(comb_str_result) X(comb_str_exception) X(comb_str_set_result) \
    X(comb_str_set_exception) X(comb_str_add_done_callback) \
    X(comb_str_remove_done_callback) X(comb_str_get_loop) X(comb_str_loop) \
    X(comb_str_create_future) X(comb_str_call_later) \
    X(comb_str_asyncio_future_blocking) X(comb_str_make_cancelled_error) \
    X(comb_str_cancel_message)

#define COMB_STATE_OBJECT_FIELDS(X) \
    X(GatheringFuture_Type) X(GatherState_Type) X(ShieldState_Type) \
    X(shield_log_on_exception) \
    X(Wait_Type) X(WaitFor_Type) X(CancelAndWait_Type) \
    X(AsCompleted_Type) X(WaitForOne_Type) X(ToThread_Type) \
    X(ThreadsafeCall_Type) X(comb_future_base) X(comb_get_running_loop) \
    X(comb_coroutine_abc) X(comb_concurrent_future) \
    X(comb_cf_cancelled_error) X(comb_cf_invalid_state_error) \
    X(FutureChain_Type) \
    X(comb_partial) X(comb_get_event_loop) X(comb_ensure_future) \
    X(comb_isawaitable) \
    COMB_NAME_FIELDS(X) X(comb_kw_msg) X(comb_kw_loop)

extern PyModuleDef pyasync_module_def;

/* The module state reachable from any of pyasync's types or subclasses. */
static inline pyasync_state *
pyasync_state_from_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &pyasync_module_def);
    return mod == NULL ? NULL : (pyasync_state *)PyModule_GetState(mod);
}

static inline pyasync_state *
pyasync_state_from_module(PyObject *mod)
{
    return (pyasync_state *)PyModule_GetState(mod);
}

/* ---- loop.c --------------------------------------------------------- */

/* A ready-queue entry runs fn(obj, arg) inside context.  fn returns 0, or
 * -1 with an exception set: the loop reports it to the exception handler
 * (KeyboardInterrupt and SystemExit stop the loop and propagate). */
typedef int (*pyasync_ready_fn)(PyObject *obj, PyObject *arg);

/* Append fn(obj, arg) to a pyasync loop's ready queue without creating a
 * Handle.  context may be NULL (run in the current context).  References
 * are taken, not stolen.  Returns 0, or -1 with RuntimeError set when the
 * loop is closed. */
int pyasync_loop_schedule(PyObject *loop, pyasync_ready_fn fn,
                          PyObject *obj, PyObject *arg, PyObject *context);

/* loop.create_task(coro, name=name) made in C when loop is a pyasync loop whose
 * create_task is Loop's own and that has no task factory.  A new task;
 * NULL with an exception on error; NULL without one when the fast path
 * does not apply (the caller calls the method). */
PyObject *pyasync_loop_create_task_fast(pyasync_state *st, PyObject *loop,
                                        PyObject *coro, PyObject *name);

/* loop.create_future() made in C under the same conditions as
 * pyasync_loop_create_task_fast (NULL without exception: not applicable). */
PyObject *pyasync_loop_create_future_fast(pyasync_state *st, PyObject *loop);

/* loop.get_debug() read from the C flag when loop is a pyasync loop whose
 * get_debug is asyncio's `return self._debug` and _debug is Loop's own
 * member: 0 or 1; -1 (no exception) when the caller must call it. */
int pyasync_loop_debug_fast(pyasync_state *st, PyObject *loop);

/* True when loop is a pyasync loop (so pyasync_loop_schedule applies). */
int pyasync_is_loop(pyasync_state *st, PyObject *loop);
/* True when loop is a pyasync loop whose call_soon, create_future,
 * create_task and get_debug are its own, neither overridden nor patched
 * on the instance: C may do their work without calling them. */
int pyasync_loop_is_plain(pyasync_state *st, PyObject *loop);

/* module.name, importing module if need be: a new reference (module.c). */
PyObject *pyasync_import_attr(const char *module, const char *name);
/* module.name() called without arguments.  New reference or NULL. */
PyObject *pyasync_call_import_attr0(const char *module, const char *name);
/* fn(a) or fn(a, b) (b NULL: one argument) for its effect, the result
 * dropped.  0 or -1. */
int pyasync_call_for_effect(PyObject *fn, PyObject *a, PyObject *b);

/* loop.is_running() of a pyasync loop (pyasync_is_loop true): 0 or 1. */
int pyasync_loop_is_running(PyObject *loop);

/* Schedule callback(arg) on any loop: the C queue for a pyasync loop,
 * loop.call_soon(callback, arg, context=context) for any other. */
int pyasync_call_soon(pyasync_state *st, PyObject *loop, PyObject *callback,
                      PyObject *arg, PyObject *context);

int pyasync_loop_init(PyObject *module, pyasync_state *st);

/* ---- handle.c ------------------------------------------------------- */
int pyasync_handle_init(PyObject *module, pyasync_state *st);

/* ---- future.c ------------------------------------------------------- */
int pyasync_future_init(PyObject *module, pyasync_state *st);

/* ---- task.c --------------------------------------------------------- */
int pyasync_task_init(PyObject *module, pyasync_state *st);

/* ---- sleep.c -------------------------------------------------------- */
int pyasync_sleep_init(PyObject *module, pyasync_state *st);
void pyasync_sleep_free(pyasync_state *st);

/* ---- waiter.c and the primitives ----------------------------------- */
int pyasync_sync_init(PyObject *module, pyasync_state *st);   /* waiter.c */
void pyasync_sync_free(pyasync_state *st);                   /* waiter.c */
int pyasync_lock_diag_init(PyObject *module, pyasync_state *st);
int pyasync_lock_init(PyObject *module, pyasync_state *st);
int pyasync_event_init(PyObject *module, pyasync_state *st);
int pyasync_condition_init(PyObject *module, pyasync_state *st);
int pyasync_semaphore_init(PyObject *module, pyasync_state *st);
int pyasync_barrier_init(PyObject *module, pyasync_state *st);
int pyasync_queue_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_H */
