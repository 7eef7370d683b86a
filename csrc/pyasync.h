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

/* ---- module.c ------------------------------------------------------- */

typedef struct {
    /* Types, created by each file's *_init function. */
    PyTypeObject *Loop_Type;          /* loop.c */
    PyTypeObject *Handle_Type;        /* handle.c */
    PyTypeObject *TimerHandle_Type;   /* handle.c */
    PyTypeObject *Future_Type;        /* future.c */
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
    PyObject *current_tasks;          /* asyncio.tasks._current_tasks (dict) */
    PyObject *all_tasks;              /* asyncio.tasks._all_tasks (WeakSet) */
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
    PyObject *kwnames_context;            /* ("context",) */
    PyObject *kwnames_msg;                /* ("msg",) */

    /* Counter behind the default task names Task-N; shared with asyncio's
     * counter when it can be (see task.c). */
    uint64_t task_name_counter;
} pyasync_state;

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

/* True when loop is a pyasync loop (so pyasync_loop_schedule applies). */
int pyasync_is_loop(pyasync_state *st, PyObject *loop);

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

#endif /* PYASYNC_H */
