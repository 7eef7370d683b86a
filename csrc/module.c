/* module.c: pyasync._core, its state, and the asyncio objects it borrows.
 *
 * Exceptions, repr helpers and the task registry are asyncio's own, looked
 * up once here, so that `except asyncio.CancelledError` catches ours and
 * asyncio.all_tasks() sees our tasks. */
#include "pyasync.h"
#include "core/all_tasks.h"
#include "core/current_task.h"
#include "comb/combinator.h"
#include "io/io.h"
#include "io/stream.h"
#include "io/udp.h"
#include "io/process.h"
#include "diag/introspect.h"

/* module.name as a new reference (the module is imported if need be). */
PyObject *
pyasync_import_attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *attr = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return attr;
}

int
pyasync_call_for_effect(PyObject *fn, PyObject *a, PyObject *b)
{
    PyObject *args[2] = {a, b};
    PyObject *res = PyObject_Vectorcall(fn, args, b == NULL ? 1 : 2, NULL);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

PyObject *
pyasync_call_import_attr0(const char *module, const char *name)
{
    PyObject *fn = pyasync_import_attr(module, name);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallNoArgs(fn);
    Py_DECREF(fn);
    return res;
}

static int
state_lookup_asyncio(pyasync_state *st)
{
#define LOOKUP(field, module, name) \
    if ((st->field = pyasync_import_attr(module, name)) == NULL) return -1
#define LOOKUP_INTO(var, module, name) \
    if ((var = pyasync_import_attr(module, name)) == NULL) return -1
    st->asyncio_mod = PyImport_ImportModule("asyncio");
    if (st->asyncio_mod == NULL) {
        return -1;
    }
    LOOKUP(CancelledError, "asyncio.exceptions", "CancelledError");
    LOOKUP(InvalidStateError, "asyncio.exceptions", "InvalidStateError");
    LOOKUP(get_event_loop, "asyncio.events", "get_event_loop");
    LOOKUP(iscoroutine, "asyncio.coroutines", "iscoroutine");
    LOOKUP(future_repr_info, "asyncio.base_futures", "_future_repr_info");
    LOOKUP(future_repr, "asyncio.base_futures", "_future_repr");
    LOOKUP(task_repr_info, "asyncio.base_tasks", "_task_repr_info");
    LOOKUP(task_get_stack, "asyncio.base_tasks", "_task_get_stack");
    LOOKUP(task_print_stack, "asyncio.base_tasks", "_task_print_stack");
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14 keeps asyncio's own tasks in per-thread lists; all_tasks.c
     * finds the sets _asyncio keeps for other tasks (ours). */
#elif PY_VERSION_HEX >= 0x030C0000
    /* 3.12 split _all_tasks: a WeakSet of scheduled tasks and a plain set
     * of the eager tasks while their first step runs. */
    LOOKUP(all_tasks, "asyncio.tasks", "_scheduled_tasks");
    LOOKUP(eager_tasks, "asyncio.tasks", "_eager_tasks");
#else
    LOOKUP(all_tasks, "asyncio.tasks", "_all_tasks");
#endif
    LOOKUP(extract_stack, "traceback", "extract_stack");
    LOOKUP(format_callback_source, "asyncio.format_helpers",
           "_format_callback_source");
    PyObject *base_loop;
    LOOKUP_INTO(base_loop, "asyncio.base_events", "BaseEventLoop");
    st->base_get_debug = PyObject_GetAttrString(base_loop, "get_debug");
    Py_DECREF(base_loop);
    if (st->base_get_debug == NULL) {
        return -1;
    }
#undef LOOKUP_INTO
#undef LOOKUP
    if (current_task_setup(st) < 0) {
        return -1;
    }
    return all_tasks_setup(st);
}

/* Every object field of pyasync_state, for traverse and clear. */
#define STATE_OBJECT_FIELDS(X) \
    X(Loop_Type) X(Handle_Type) X(TimerHandle_Type) X(SharedContext_Type) \
    X(Future_Type) \
    X(FutureIter_Type) X(Task_Type) X(TaskStep_Type) \
    X(asyncio_mod) X(CancelledError) X(InvalidStateError) \
    X(get_event_loop) X(iscoroutine) X(future_repr_info) \
    X(task_repr_info) X(task_get_stack) X(task_print_stack) \
    X(current_tasks) X(asyncio_enter_task) X(asyncio_leave_task) \
    X(asyncio_swap_task) X(asyncio_current_task) X(asyncio_running_loop) \
    X(asyncio_awaited_by_add) \
    X(asyncio_awaited_by_discard) X(asyncio_awaited_by_getter) X(all_tasks) X(eager_tasks) X(eager_task_factory) X(all_tasks_data) X(all_tasks_remove) \
    X(all_tasks_iterating) X(extract_stack) X(format_callback_source) \
    X(future_repr) X(str_get_debug) X(str_call_exception_handler) \
    X(str_call_soon) X(str_add_done_callback) X(str_asyncio_future_blocking) \
    X(str_cancel) X(str_get_loop) X(str_loop) X(str_result) X(str_throw) \
    X(str_add) X(str_create_task) X(str_debug) X(str_time) X(base_get_debug) \
    X(WeakSet_Type) X(WeakSetRemover_Type) X(str_iterating) \
    X(asyncio_firstiter_hook) X(str_asyncgens) \
    X(str_asyncgens_shutdown_called) X(str_data) \
    X(str_pending_removals) \
    X(kwnames_context) X(kwnames_name) X(kwnames_name_context) X(kwnames_msg) \
    PYASYNC_SYNC_FIELDS(X) \
    COMB_STATE_OBJECT_FIELDS(X) \
    PYASYNC_IO_STREAM_FIELDS(X) \
    X(Sleep_Type) X(sleep_set_result) X(diag_hooks)

static int
module_traverse(PyObject *mod, visitproc visit, void *arg)
{
    pyasync_state *st = pyasync_state_from_module(mod);
#define VISIT(field) Py_VISIT(st->field);
    STATE_OBJECT_FIELDS(VISIT)
#undef VISIT
    return 0;
}

static int
module_clear(PyObject *mod)
{
    pyasync_state *st = pyasync_state_from_module(mod);
#define CLEAR(field) Py_CLEAR(st->field);
    STATE_OBJECT_FIELDS(CLEAR)
#undef CLEAR
    return 0;
}

static void
module_free(void *mod)
{
    (void)module_clear((PyObject *)mod);
    pyasync_sync_free(pyasync_state_from_module((PyObject *)mod));
    pyasync_sleep_free(pyasync_state_from_module((PyObject *)mod));
}

#ifdef Py_GIL_DISABLED
/* The module's functions are referenced by every thread that runs a loop
 * (await pyasync.sleep(0) looks sleep up and calls it): with deferred
 * reference counting, the interpreter's own references to them leave
 * their shared counts alone, which threads would otherwise contend for,
 * as it does for Python functions.  (Its types are immortal, below.) */
static void
defer_shared_refcounts(PyObject *mod)
{
    PyObject *dict = PyModule_GetDict(mod);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (PyCFunction_Check(value)) {
            (void)PyUnstable_Object_EnableDeferredRefcount(value);
        }
    }
}
#endif

#ifdef Py_GIL_DISABLED
/* CPython exports _Py_SetImmortal but declares it in its internal headers
 * only.  3.15's public PyUnstable_SetImmortal() is the same, for objects
 * only their creator references: a type never is (its MRO holds it). */
PyAPI_FUNC(void) _Py_SetImmortal(PyObject *op);

/* Free-threaded, the heap types this module made are immortal.  Every
 * instance holds a reference to its type, and its dealloc gives it back
 * with an atomic on the type's shared count: loops in parallel threads
 * freeing handles, tasks and futures fight over that cache line (and
 * over tp_basicsize beside it, which every allocation reads), a tenth of
 * a two-thread run.  An immortal type's count is never touched.  They
 * keep the module, which keeps them, for as long as the process: only
 * a free-threaded subinterpreter's copy outlives its interpreter. */
static void
own_type_immortal(PyObject *mod, PyObject *obj)
{
    if (obj != NULL && PyType_Check(obj)
        && PyType_HasFeature((PyTypeObject *)obj, Py_TPFLAGS_HEAPTYPE)
        && ((PyHeapTypeObject *)obj)->ht_module == mod) {
        _Py_SetImmortal(obj);
    }
}

static void
own_types_immortal(PyObject *mod, pyasync_state *st)
{
#define IMMORTAL(field) own_type_immortal(mod, (PyObject *)st->field);
    STATE_OBJECT_FIELDS(IMMORTAL)
#undef IMMORTAL
    PyObject *dict = PyModule_GetDict(mod);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        own_type_immortal(mod, value);
    }
}
#endif

#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX < 0x030F0000
/* _immortalize(package, objects): make the pyasync package, its dict and
 * its own public functions and classes immortal, free-threaded 3.14 only.
 *
 * asyncio's package, and so pyasync's, has a module __getattr__ on 3.14
 * (for its deprecated policy names), and 3.14's specializer leaves every
 * attribute load from such a module generic (3.15 specializes it): each
 * `pyasync.sleep` then takes a reference to the module's dict and one to
 * sleep.  Without the GIL each is an atomic on the object's shared count,
 * and two loops in two threads awaiting pyasync.sleep() fight over them:
 * half of a two-thread run of sleep(0) switches.  An immortal object's
 * count is never touched.  They live as long as the process, as the
 * module does (see own_types_immortal()). */

static PyObject *
module_immortalize(PyObject *Py_UNUSED(mod), PyObject *const *args,
                   Py_ssize_t nargs)
{
    if (nargs != 2 || !PyModule_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "_immortalize() takes a module and a sequence");
        return NULL;
    }
    PyObject *dict = PyModule_GetDict(args[0]);
    PyObject *seq = PySequence_Fast(args[1],
                                    "_immortalize() takes a sequence");
    if (dict == NULL || seq == NULL) {
        Py_XDECREF(seq);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyType_Check(obj) && !PyFunction_Check(obj)
            && !PyCFunction_Check(obj)) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_TypeError,
                         "_immortalize() takes functions and classes, "
                         "not %.100s", Py_TYPE(obj)->tp_name);
            return NULL;
        }
    }
    _Py_SetImmortal(args[0]);
    _Py_SetImmortal(dict);
    for (Py_ssize_t i = 0; i < n; i++) {
        _Py_SetImmortal(PySequence_Fast_GET_ITEM(seq, i));
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static PyMethodDef module_functions[] = {
    {"_immortalize", (PyCFunction)(void (*)(void))module_immortalize,
     METH_FASTCALL,
     "_immortalize(package, objects)\n--\n\n"
     "Make the package, its dict and its own functions and classes "
     "immortal (3.14t)."},
    {NULL, NULL, 0, NULL},
};
#endif

static int
module_exec(PyObject *mod)
{
    pyasync_state *st = pyasync_state_from_module(mod);
    st->task_name_counter = 0;
    if (state_lookup_asyncio(st) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030E0000
    /* Whether current_task.c found the thread state's slots (a test and
     * the benchmarks' notes read it). */
    if (PyModule_AddObjectRef(mod, "_current_task_direct",
                              st->ts_running_task_off >= 0
                              ? Py_True : Py_False) < 0) {
        return -1;
    }
#endif
    /* Order matters: Task derives from Future; the loop makes both. */
    if (pyasync_handle_init(mod, st) < 0
        || pyasync_future_init(mod, st) < 0
        || pyasync_task_init(mod, st) < 0
        || pyasync_loop_init(mod, st) < 0
        || pyasync_asyncgens_init(mod, st) < 0) {
        return -1;
    }
    /* The loop's I/O methods (csrc/io), installed on the Loop type. */
    if (pyasync_io_poll_init(mod, st) < 0
        || pyasync_io_sock_init(mod, st) < 0
        || pyasync_io_dns_init(mod, st) < 0
        || pyasync_io_signal_init(mod, st) < 0) {
        return -1;
    }
    /* The primitives: the awaitable machinery first, Event before Queue
     * (a queue's _finished is an Event), Lock before Condition. */
    if (pyasync_sync_init(mod, st) < 0
        || pyasync_lock_diag_init(mod, st) < 0
        || pyasync_lock_init(mod, st) < 0
        || pyasync_event_init(mod, st) < 0
        || pyasync_condition_init(mod, st) < 0
        || pyasync_semaphore_init(mod, st) < 0
        || pyasync_barrier_init(mod, st) < 0
        || pyasync_queue_init(mod, st) < 0) {
        return -1;
    }
    /* The combinators, after the types they build on. */
    if (pyasync_comb_coro_init(mod, st) < 0
        || pyasync_gather_init(mod, st) < 0
        || pyasync_shield_init(mod, st) < 0
        || pyasync_wait_init(mod, st) < 0
        || pyasync_wait_for_init(mod, st) < 0
        || pyasync_as_completed_init(mod, st) < 0
        || pyasync_threads_init(mod, st) < 0) {
        return -1;
    }
    /* sleep(), after task.c and the combinators it uses. */
    if (pyasync_sleep_init(mod, st) < 0) {
        return -1;
    }
    /* _c_view(), the read-only views for pyasync.graph (diag/introspect.c). */
    if (pyasync_introspect_init(mod, st) < 0) {
        return -1;
    }
    /* I/O handles: UDP (io/udp.c), child processes (io/process.c). */
    if (pyasync_udp_init(mod, st) < 0
        || pyasync_process_init(mod, st) < 0) {
        return -1;
    }
    /* Stream transports and servers (io/stream.c, io/server.c). */
    if (pyasync_stream_init(mod, st) < 0
        || pyasync_server_init(mod, st) < 0) {
        return -1;
    }
#ifdef Py_GIL_DISABLED
    defer_shared_refcounts(mod);
    own_types_immortal(mod, st);
#endif
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_GIL_DISABLED
    /* Free-threaded: a loop's state is its running thread's, and what
     * other threads may touch is locked or atomic (core/ft.h). */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyModuleDef pyasync_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pyasync._core",
    .m_doc = "pyasync's C core: the libuv event loop, Future and Task.",
    .m_size = sizeof(pyasync_state),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX < 0x030F0000
    .m_methods = module_functions,
#endif
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&pyasync_module_def);
}
