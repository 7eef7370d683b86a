/* handle.c: Handle and TimerHandle (see handle.h). */
#include "core/handle.h"
#include "core/context_share.h"
#include "core/loop.h"
#include <structmember.h>

/* ---- helpers -------------------------------------------------------- */

static int
loop_debug_enabled(pyasync_state *st, PyObject *loop)
{
    if (pyasync_is_loop(st, loop)) {
        return ((LoopObj *)loop)->debug;
    }
    PyObject *res = PyObject_CallMethod(loop, "get_debug", NULL);
    if (res == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(res);
    Py_DECREF(res);
    return r;
}

/* format_helpers.extract_stack() of the calling Python frame: the
 * creation stack asyncio keeps in debug mode. */
static PyObject *
extract_creation_stack(void)
{
    PyObject *fh = PyImport_ImportModule("asyncio.format_helpers");
    if (fh == NULL) {
        return NULL;
    }
    PyFrameObject *frame = PyEval_GetFrame();   /* borrowed */
    PyObject *res = PyObject_CallMethod(fh, "extract_stack", "(O)",
                                        frame ? (PyObject *)frame : Py_None);
    Py_DECREF(fh);
    return res;
}

/* The raised exception as one object carrying its traceback. */
static PyObject *
fetch_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

static int
is_fatal_exception(void)
{
    return PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)
           || PyErr_ExceptionMatches(PyExc_SystemExit);
}

/* ---- construction --------------------------------------------------- */

/* debug: the loop's debug flag, or -1 to ask the loop.  share: the
 * loop's shared copy of the context (context_share.h), or NULL for a copy
 * of the handle's own. */
static int
handle_fill(HandleObj *h, pyasync_state *st, PyObject *callback,
            PyObject *args, PyObject *loop, PyObject *context, int debug,
            ctxshare_cache *share)
{
    h->st = st;
    if ((context == NULL || context == Py_None) && share != NULL) {
        if (ctxshare_copy_current(st, share, &h->context, &h->shared) < 0) {
            return -1;
        }
        h->own_context = h->shared == NULL;
    }
    else if (context == NULL || context == Py_None) {
        h->context = PyContext_CopyCurrent();
        if (h->context == NULL) {
            return -1;
        }
        h->own_context = 1;
    }
    else {
        h->context = Py_NewRef(context);
    }
    h->loop = Py_NewRef(loop);
    h->callback = Py_NewRef(callback);
    h->args = Py_NewRef(args);
    if (debug < 0 && (debug = loop_debug_enabled(st, loop)) < 0) {
        return -1;
    }
    if (debug && (h->source_traceback = extract_creation_stack()) == NULL) {
        return -1;
    }
    return 0;
}

static PyObject *
handle_alloc(PyTypeObject *tp)
{
    return tp->tp_alloc(tp, 0);
}

PyObject *
handle_new(pyasync_state *st, PyObject *callback, PyObject *args,
           PyObject *loop, PyObject *context)
{
    PyObject *h = handle_alloc(st->Handle_Type);
    if (h == NULL) {
        return NULL;
    }
    if (handle_fill((HandleObj *)h, st, callback, args, loop, context,
                    -1, NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

PyObject *
timer_handle_new(pyasync_state *st, PyObject *when, PyObject *callback,
                 PyObject *args, PyObject *loop, PyObject *context)
{
    PyObject *h = handle_alloc(st->TimerHandle_Type);
    if (h == NULL) {
        return NULL;
    }
    if (handle_fill((HandleObj *)h, st, callback, args, loop, context,
                    -1, NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    ((TimerHandleObj *)h)->when = Py_NewRef(when);
    return h;
}

/* ---- Queued handles and the GC ------------------------------------
 *
 * Most handles a loop queues are referenced by nothing but its ready queue
 * or timer heap, and so is the Context each one copied.  When they were
 * tracked, every collection of a young generation walked them and, with
 * many pending, the old generations were traversed again and again (37%
 * of call_soon).  So a queued handle and its own context copy are left
 * untracked, and the loop's tp_traverse reports their references as the
 * loop's own while the queue is their only holder (reference count 1, no
 * weak references): to the collector they are part of the loop, and a
 * cycle through them (the handle holds the loop) is still found.
 *
 * A handle with other holders is reported by nobody: its references look
 * external, which never frees anything wrongly.  It is tracked again when
 * it leaves the queue still held (handle_unqueue) and, so that a cycle
 * through it is found even in a loop dropped without close(), before
 * every full collection (handle_track_if_shared).  An untracked context
 * is likewise tracked when handed out (get_context) and when its handle
 * lets it go (Context's dealloc untracks unconditionally).
 *
 * Not in the free-threaded build: there a reference count of 1 proves
 * nothing about other threads, and its collector stops the world anyway,
 * so queued handles and their contexts stay tracked as any object. */

/* An untracked instance of tp with its fields zeroed. */
static PyObject *
handle_alloc_untracked(PyTypeObject *tp)
{
    PyObject *h = PyObject_GC_New(PyObject, tp);
    if (h != NULL) {
        memset((char *)h + sizeof(PyObject), 0,
               (size_t)tp->tp_basicsize - sizeof(PyObject));
    }
    return h;
}

static PyObject *
handle_new_untracked(pyasync_state *st, PyTypeObject *tp, PyObject *callback,
                     PyObject *args, PyObject *loop, PyObject *context,
                     int debug)
{
    HandleObj *h = (HandleObj *)handle_alloc_untracked(tp);
    if (h == NULL) {
        return NULL;
    }
    /* The loop's shared context copy is its running thread's only. */
    ctxshare_cache *share = pyasync_is_loop(st, loop)
                            && pyasync_loop_is_owner((LoopObj *)loop)
                            ? &((LoopObj *)loop)->ctx_share : NULL;
    if (handle_fill(h, st, callback, args, loop, context, debug, share) < 0) {
        Py_DECREF(h);
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyObject_GC_Track(h);
#else
    if (h->own_context) {
        PyObject_GC_UnTrack(h->context);
    }
#endif
    return (PyObject *)h;
}

PyObject *
handle_new_queued(pyasync_state *st, PyObject *callback, PyObject *args,
                  PyObject *loop, PyObject *context, int debug)
{
    return handle_new_untracked(st, st->Handle_Type, callback, args, loop,
                                context, debug);
}

PyObject *
timer_handle_new_queued(pyasync_state *st, PyObject *when,
                        PyObject *callback, PyObject *args, PyObject *loop,
                        PyObject *context, int debug)
{
    PyObject *h = handle_new_untracked(st, st->TimerHandle_Type, callback,
                                       args, loop, context, debug);
    if (h != NULL) {
        ((TimerHandleObj *)h)->when = Py_NewRef(when);
    }
    return h;
}

/* The context copy is about to be shared: let the GC see it. */
static void
handle_track_context(HandleObj *h)
{
    if (h->own_context && h->context != NULL
        && !PyObject_GC_IsTracked(h->context)) {
        PyObject_GC_Track(h->context);
    }
}

static int
handle_visit_fields(HandleObj *h, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(h));
    Py_VISIT(h->callback);
    Py_VISIT(h->args);
    Py_VISIT(h->loop);
    Py_VISIT(h->shared);
    Py_VISIT(h->source_traceback);
    Py_VISIT(h->repr);
    if (PyObject_TypeCheck((PyObject *)h, h->st->TimerHandle_Type)) {
        Py_VISIT(((TimerHandleObj *)h)->when);
    }
    return 0;
}

int
handle_traverse_queued(PyObject *obj, visitproc visit, void *arg)
{
    HandleObj *h = (HandleObj *)obj;
    if (PyObject_GC_IsTracked(obj)) {     /* (always, free-threaded) */
        Py_VISIT(obj);
        return 0;
    }
    if (Py_REFCNT(obj) != 1 || h->weakreflist != NULL) {
        return 0;   /* shared: conservative, see above */
    }
    int r = handle_visit_fields(h, visit, arg);
    if (r != 0 || h->context == NULL) {
        return r;
    }
    if (h->own_context && !PyObject_GC_IsTracked(h->context)
        && Py_REFCNT(h->context) == 1) {
        return Py_TYPE(h->context)->tp_traverse(h->context, visit, arg);
    }
    Py_VISIT(h->context);
    return 0;
}

void
handle_track_if_shared(PyObject *obj)
{
    if (!PyObject_GC_IsTracked(obj)
        && (Py_REFCNT(obj) > 1
            || ((HandleObj *)obj)->weakreflist != NULL)) {
        handle_track_context((HandleObj *)obj);
        PyObject_GC_Track(obj);
    }
}

void
handle_unqueue(PyObject *obj)
{
    if (Py_REFCNT(obj) > 1 && !PyObject_GC_IsTracked(obj)) {
        handle_track_context((HandleObj *)obj);
        PyObject_GC_Track(obj);
    }
    Py_DECREF(obj);
}

/* Handle(callback, args, loop, context=None) from Python. */
static PyObject *
Handle_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"callback", "args", "loop", "context", NULL};
    PyObject *callback, *cbargs, *loop, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|O:Handle", kwlist,
                                     &callback, &cbargs, &loop, &context)) {
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_type(tp);
    PyObject *h = st ? handle_alloc(tp) : NULL;
    if (h == NULL) {
        return NULL;
    }
    if (handle_fill((HandleObj *)h, st, callback, cbargs, loop, context,
                    -1, NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

/* TimerHandle(when, callback, args, loop, context=None) from Python. */
static PyObject *
TimerHandle_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"when", "callback", "args", "loop", "context",
                             NULL};
    PyObject *when, *callback, *cbargs, *loop, *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|O:TimerHandle", kwlist,
                                     &when, &callback, &cbargs, &loop,
                                     &context)) {
        return NULL;
    }
    if (when == Py_None) {
        PyErr_SetString(PyExc_AssertionError, "when must not be None");
        return NULL;
    }
    pyasync_state *st = pyasync_state_from_type(tp);
    PyObject *h = st ? handle_alloc(tp) : NULL;
    if (h == NULL) {
        return NULL;
    }
    if (handle_fill((HandleObj *)h, st, callback, cbargs, loop, context,
                    -1, NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    ((TimerHandleObj *)h)->when = Py_NewRef(when);
    return h;
}

/* ---- GC ------------------------------------------------------------- */

static int
Handle_traverse(HandleObj *h, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(h));
    Py_VISIT(h->callback);
    Py_VISIT(h->args);
    Py_VISIT(h->loop);
    Py_VISIT(h->context);
    Py_VISIT(h->shared);
    Py_VISIT(h->source_traceback);
    Py_VISIT(h->repr);
    return 0;
}

static int
Handle_clear(HandleObj *h)
{
    Py_CLEAR(h->callback);
    Py_CLEAR(h->args);
    Py_CLEAR(h->loop);
    /* Whether it outlives the handle or not: Context's dealloc expects
     * a tracked object. */
    handle_track_context(h);
    Py_CLEAR(h->context);
    Py_CLEAR(h->shared);
    Py_CLEAR(h->source_traceback);
    Py_CLEAR(h->repr);
    return 0;
}

static void
Handle_dealloc(HandleObj *h)
{
    PyTypeObject *tp = Py_TYPE(h);
    PyObject_GC_UnTrack(h);
    if (h->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)h);
    }
    Handle_clear(h);
    tp->tp_free(h);
    Py_DECREF(tp);
}

static int
TimerHandle_traverse(TimerHandleObj *h, visitproc visit, void *arg)
{
    Py_VISIT(h->when);
    return Handle_traverse(&h->base, visit, arg);
}

static int
TimerHandle_clear(TimerHandleObj *h)
{
    Py_CLEAR(h->when);
    return Handle_clear(&h->base);
}

static void
TimerHandle_dealloc(TimerHandleObj *h)
{
    PyObject_GC_UnTrack(h);
    Py_CLEAR(h->when);
    Handle_dealloc(&h->base);
}

/* ---- running and reporting ------------------------------------------ */

/* asyncio.format_helpers._format_callback_source(callback, args), as the
 * running version's Handle calls it: 3.13 adds debug=loop.get_debug(), and
 * shows the arguments only in debug mode. */
static PyObject *
format_callback_source(pyasync_state *st, PyObject *loop, PyObject *callback,
                       PyObject *args)
{
#if PY_VERSION_HEX >= 0x030D0000
    int debug = loop == NULL || loop == Py_None ? 0
                : pyasync_loop_debug_fast(st, loop);
    if (debug < 0) {
        PyObject *flag = PyObject_CallMethod(loop, "get_debug", NULL);
        if (flag == NULL) {
            return NULL;
        }
        debug = PyObject_IsTrue(flag);
        Py_DECREF(flag);
        if (debug < 0) {
            return NULL;
        }
    }
    PyObject *kwnames = Py_BuildValue("(s)", "debug");
    if (kwnames == NULL) {
        return NULL;
    }
    PyObject *all[3] = {callback, args, debug ? Py_True : Py_False};
    PyObject *res = PyObject_Vectorcall(st->format_callback_source, all, 2,
                                        kwnames);
    Py_DECREF(kwnames);
    return res;
#else
    (void)loop;
    return PyObject_CallFunctionObjArgs(st->format_callback_source,
                                        callback, args, NULL);
#endif
}

int
handle_report_exception(pyasync_state *st, PyObject *loop, PyObject *handle,
                        PyObject *callback, PyObject *args)
{
    if (is_fatal_exception()) {
        return -1;
    }
    PyObject *exc = fetch_exception();
    PyObject *ctx = NULL, *res = NULL, *made = NULL;
    PyObject *src = format_callback_source(
        st, loop, callback ? callback : Py_None, args ? args : Py_None);
    if (src == NULL) {
        goto error;
    }
    if (handle == NULL) {
        made = handle_new(st, callback ? callback : Py_None,
                          args ? args : Py_None, loop, NULL);
        if (made == NULL) {
            goto error;
        }
        handle = made;
    }
    PyObject *msg = PyUnicode_FromFormat("Exception in callback %U", src);
    ctx = msg ? Py_BuildValue("{sNsOsO}", "message", msg,
                              "exception", exc ? exc : Py_None,
                              "handle", handle) : NULL;
    if (ctx == NULL) {
        goto error;
    }
    PyObject *tb = ((HandleObj *)handle)->source_traceback;
    if (tb != NULL && PyObject_IsTrue(tb) == 1
        && PyDict_SetItemString(ctx, "source_traceback", tb) < 0) {
        goto error;
    }
    res = PyObject_CallMethod(loop, "call_exception_handler", "(O)", ctx);
    if (res == NULL) {
        goto error;
    }
    Py_DECREF(res);
    Py_DECREF(ctx);
    Py_DECREF(src);
    Py_XDECREF(made);
    Py_XDECREF(exc);
    return 0;

error:
    Py_XDECREF(ctx);
    Py_XDECREF(src);
    Py_XDECREF(made);
    Py_XDECREF(exc);
    if (is_fatal_exception()) {
        return -1;
    }
    /* The handler itself failed: nowhere left to report but stderr. */
    PyErr_WriteUnraisable(loop);
    return 0;
}

static PyObject *
handle_call_in(PyObject *ctx, PyObject *callback, PyObject *args)
{
    if (PyContext_Enter(ctx) < 0) {
        return NULL;
    }
    PyObject *res = PyObject_Vectorcall(callback, &PyTuple_GET_ITEM(args, 0),
                                        PyTuple_GET_SIZE(args), NULL);
    if (PyContext_Exit(ctx) < 0) {
        Py_CLEAR(res);
    }
    return res;
}

/* Give a handle sharing its context a copy of its own, holding the
 * variables it was made with. */
static int
handle_unshare(HandleObj *h)
{
    PyObject *own = ctxshare_own_copy(h->shared);
    if (own == NULL) {
        return -1;
    }
    Py_SETREF(h->context, own);
    Py_CLEAR(h->shared);
    return 0;
}

/* The shared context becomes h's own (context_share.h). */
static void
handle_take_shared(HandleObj *h)
{
    ctxshare_give(h->shared);
    Py_CLEAR(h->shared);
}

/* callback(*args) for a handle sharing its context (context_share.h). */
static PyObject *
handle_call_shared(HandleObj *h, PyObject *callback, PyObject *args)
{
    if (h->running_shared) {
        /* Its own callback ran it again (_run()): entering the context it
         * runs in fails, as asyncio's does. */
        return handle_call_in(h->context, callback, args);
    }
    if (!ctxshare_usable(h->shared, h->context)) {
        /* Given to another handle, changed, or entered by a run further
         * up (another handle's _run()). */
        if (handle_unshare(h) < 0) {
            return NULL;
        }
        return handle_call_in(h->context, callback, args);
    }
    PyObject *ctx = Py_NewRef(h->context);
    SharedContext *shared = (SharedContext *)Py_NewRef(h->shared);
    h->running_shared = 1;   /* for get_context() */
    PyObject *res = handle_call_in(ctx, callback, args);
    h->running_shared = 0;
    /* A callback that set variables keeps them: the context is its own
     * from now on.  (Unless get_context() gave it already.) */
    if (h->shared == shared && ctxshare_changed(shared, ctx)) {
        handle_take_shared(h);
    }
    Py_DECREF(shared);
    Py_DECREF(ctx);
    return res;
}

/* callback(*args) in the handle's context, cancelled or not (asyncio's
 * Handle._run does not look). */
static int
handle_call(HandleObj *h)
{
    PyObject *res = NULL;
    /* cancel() from inside the callback, or from another thread, drops
     * these: hold our own, taken together (free-threaded: under the
     * handle's lock, which cancel() takes too). */
    PyObject *callback = NULL, *args = NULL;
    Py_BEGIN_CRITICAL_SECTION(h);
    callback = Py_XNewRef(h->callback);
    args = Py_XNewRef(h->args);
    Py_END_CRITICAL_SECTION();
    if (callback == NULL || args == NULL) {
        Py_XDECREF(callback);
        Py_XDECREF(args);
        PyErr_SetString(PyExc_TypeError, "'NoneType' object is not callable");
    }
    else {
        if (!PyTuple_CheckExact(args)) {
            Py_SETREF(args, PySequence_Tuple(args));
        }
        if (args != NULL) {
            res = h->shared ? handle_call_shared(h, callback, args)
                            : handle_call_in(h->context, callback, args);
        }
        Py_DECREF(callback);
        Py_XDECREF(args);
    }
    if (res != NULL) {
        Py_DECREF(res);
        return 0;
    }
    Py_INCREF(h);   /* the report may outlive the queue's reference */
    int r = handle_report_exception(h->st, h->loop, (PyObject *)h,
                                    h->callback, h->args);
    Py_DECREF(h);
    return r;
}

int
handle_run(PyObject *obj, PyObject *unused)
{
    HandleObj *h = (HandleObj *)obj;
    if (FT_LOAD_CHAR(h->cancelled)) {
        return 0;
    }
    return handle_call(h);
}

/* ---- Python methods ------------------------------------------------- */

/* Another thread may cancel a handle (asyncio allows it): the flag is set
 * once, and the callback and its arguments leave together, under the
 * handle's lock (free-threaded), so that handle_call sees both or none. */
static PyObject *
Handle_cancel_impl(HandleObj *h)
{
    int first = 0;
    Py_BEGIN_CRITICAL_SECTION(h);
    if (!h->cancelled) {
        FT_STORE_CHAR(h->cancelled, 1);
        first = 1;
    }
    Py_END_CRITICAL_SECTION();
    if (!first) {
        Py_RETURN_NONE;
    }
    int debug = loop_debug_enabled(h->st, h->loop);
    if (debug < 0) {
        return NULL;
    }
    if (debug) {
        /* Keep the text for "Executing <Handle ...> took 2.5 seconds". */
        PyObject *r = PyObject_Repr((PyObject *)h);
        if (r == NULL) {
            return NULL;
        }
        Py_XSETREF(h->repr, r);
    }
    PyObject *callback, *args;
    Py_BEGIN_CRITICAL_SECTION(h);
    callback = h->callback;
    args = h->args;
    h->callback = NULL;
    h->args = NULL;
    Py_END_CRITICAL_SECTION();
    Py_XDECREF(callback);   /* (their destructors run outside the lock) */
    Py_XDECREF(args);
    Py_RETURN_NONE;
}

static PyObject *
Handle_cancel(HandleObj *h, PyObject *Py_UNUSED(ignored))
{
    return Handle_cancel_impl(h);
}

static PyObject *
Handle_cancelled(HandleObj *h, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(FT_LOAD_CHAR(h->cancelled));
}

static PyObject *
Handle_get_context(HandleObj *h, PyObject *Py_UNUSED(ignored))
{
    if (h->context == NULL) {
        Py_RETURN_NONE;
    }
    if (h->shared != NULL) {
        if (h->running_shared) {
            /* Asked while its callback runs: the very context it runs
             * in, from now on the handle's own. */
            handle_take_shared(h);
        }
        else if (handle_unshare(h) < 0) {
            return NULL;
        }
    }
    handle_track_context(h);
    return Py_NewRef(h->context);
}

static PyObject *
Handle_get__context(HandleObj *h, void *Py_UNUSED(closure))
{
    return Handle_get_context(h, NULL);
}

static PyObject *
Handle__run(HandleObj *h, PyObject *Py_UNUSED(ignored))
{
    if (handle_call(h) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The words of the repr, as asyncio's Handle._repr_info(). */
static PyObject *
Handle_repr_info(HandleObj *h, PyObject *Py_UNUSED(ignored))
{
    PyObject *info = PyList_New(0);
    PyObject *item = NULL;
    if (info == NULL) {
        return NULL;
    }
    item = PyType_GetName(Py_TYPE(h));
    if (item == NULL || PyList_Append(info, item) < 0) {
        goto error;
    }
    Py_CLEAR(item);
    if (h->cancelled) {
        item = PyUnicode_FromString("cancelled");
        if (item == NULL || PyList_Append(info, item) < 0) {
            goto error;
        }
        Py_CLEAR(item);
    }
    if (h->callback != NULL) {
        item = format_callback_source(h->st, h->loop, h->callback,
                                      h->args ? h->args : Py_None);
        if (item == NULL || PyList_Append(info, item) < 0) {
            goto error;
        }
        Py_CLEAR(item);
    }
    if (h->source_traceback != NULL
        && PyObject_IsTrue(h->source_traceback) == 1) {
        PyObject *frame = PySequence_GetItem(h->source_traceback, -1);
        PyObject *file = frame ? PySequence_GetItem(frame, 0) : NULL;
        PyObject *line = file ? PySequence_GetItem(frame, 1) : NULL;
        if (line != NULL) {
            item = PyUnicode_FromFormat("created at %S:%S", file, line);
        }
        Py_XDECREF(frame);
        Py_XDECREF(file);
        Py_XDECREF(line);
        if (item == NULL || PyList_Append(info, item) < 0) {
            goto error;
        }
        Py_CLEAR(item);
    }
    return info;

error:
    Py_XDECREF(item);
    Py_DECREF(info);
    return NULL;
}

static PyObject *
Handle_repr(HandleObj *h)
{
    if (h->repr != NULL) {
        return Py_NewRef(h->repr);
    }
    PyObject *info = PyObject_CallMethod((PyObject *)h, "_repr_info", NULL);
    if (info == NULL) {
        return NULL;
    }
    PyObject *sep = PyUnicode_FromString(" ");
    PyObject *joined = sep ? PyUnicode_Join(sep, info) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(info);
    if (joined == NULL) {
        return NULL;
    }
    PyObject *res = PyUnicode_FromFormat("<%U>", joined);
    Py_DECREF(joined);
    return res;
}

static PyObject *
Handle_get_cancelled(HandleObj *h, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(h->cancelled);
}

static int
Handle_set_cancelled(HandleObj *h, PyObject *v, void *Py_UNUSED(closure))
{
    int b = v ? PyObject_IsTrue(v) : 0;
    if (b < 0) {
        return -1;
    }
    h->cancelled = (char)b;
    return 0;
}

/* T_OBJECT members read NULL as None, as asyncio's slots hold None. */
static PyMemberDef Handle_members[] = {
    {"_callback", T_OBJECT, offsetof(HandleObj, callback), READONLY, NULL},
    {"_args", T_OBJECT, offsetof(HandleObj, args), READONLY, NULL},
    {"_loop", T_OBJECT, offsetof(HandleObj, loop), READONLY, NULL},
    {"_source_traceback", T_OBJECT, offsetof(HandleObj, source_traceback),
     0, NULL},
    {"_repr", T_OBJECT, offsetof(HandleObj, repr), 0, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(HandleObj, weakreflist),
     READONLY, NULL},
    {NULL},
};

static PyGetSetDef Handle_getset[] = {
    {"_cancelled", (getter)Handle_get_cancelled, (setter)Handle_set_cancelled,
     NULL, NULL},
    {"_context", (getter)Handle_get__context, NULL, NULL, NULL},
    {NULL},
};

static PyMethodDef Handle_methods[] = {
    {"cancel", (PyCFunction)Handle_cancel, METH_NOARGS, NULL},
    {"cancelled", (PyCFunction)Handle_cancelled, METH_NOARGS, NULL},
    {"get_context", (PyCFunction)Handle_get_context, METH_NOARGS, NULL},
    {"_run", (PyCFunction)Handle__run, METH_NOARGS, NULL},
    {"_repr_info", (PyCFunction)Handle_repr_info, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot Handle_slots[] = {
    {Py_tp_new, Handle_tp_new},
    {Py_tp_dealloc, Handle_dealloc},
    {Py_tp_traverse, Handle_traverse},
    {Py_tp_clear, Handle_clear},
    {Py_tp_repr, Handle_repr},
    {Py_tp_methods, Handle_methods},
    {Py_tp_members, Handle_members},
    {Py_tp_getset, Handle_getset},
    {Py_tp_doc, "Object returned by callback registration methods."},
    {0, NULL},
};

static PyType_Spec Handle_spec = {
    .name = "pyasync._core.Handle",
    .basicsize = sizeof(HandleObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Handle_slots,
};

/* ---- TimerHandle ---------------------------------------------------- */

static PyObject *
TimerHandle_cancel(TimerHandleObj *h, PyObject *Py_UNUSED(ignored))
{
    HandleObj *base = &h->base;
    if (!FT_LOAD_CHAR(base->cancelled)) {
        if (pyasync_is_loop(base->st, base->loop)) {
            if (FT_LOAD_CHAR(h->scheduled)) {
                FT_ADD_SSIZE(((LoopObj *)base->loop)->timer_cancelled_count,
                             1);
            }
        }
        else {
            PyObject *r = PyObject_CallMethod(base->loop,
                                              "_timer_handle_cancelled",
                                              "O", (PyObject *)h);
            if (r == NULL) {
                return NULL;
            }
            Py_DECREF(r);
        }
    }
    return Handle_cancel_impl(base);
}

static PyObject *
TimerHandle_when(TimerHandleObj *h, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(h->when);
}

static PyObject *
TimerHandle_repr_info(TimerHandleObj *h, PyObject *Py_UNUSED(ignored))
{
    PyObject *info = Handle_repr_info(&h->base, NULL);
    if (info == NULL) {
        return NULL;
    }
    PyObject *w = PyUnicode_FromFormat("when=%S", h->when);
    Py_ssize_t pos = h->base.cancelled ? 2 : 1;
    if (w == NULL || PyList_Insert(info, pos, w) < 0) {
        Py_XDECREF(w);
        Py_DECREF(info);
        return NULL;
    }
    Py_DECREF(w);
    return info;
}

static Py_hash_t
TimerHandle_hash(TimerHandleObj *h)
{
    return PyObject_Hash(h->when);
}

/* asyncio's __eq__: when, callback, args and cancelled all equal. */
static int
timer_handles_equal(TimerHandleObj *a, TimerHandleObj *b)
{
    PyObject *pairs[3][2] = {
        {a->when, b->when},
        {a->base.callback ? a->base.callback : Py_None,
         b->base.callback ? b->base.callback : Py_None},
        {a->base.args ? a->base.args : Py_None,
         b->base.args ? b->base.args : Py_None},
    };
    for (int i = 0; i < 3; i++) {
        int r = PyObject_RichCompareBool(pairs[i][0], pairs[i][1], Py_EQ);
        if (r <= 0) {
            return r;
        }
    }
    return a->base.cancelled == b->base.cancelled;
}

static PyObject *
TimerHandle_richcompare(TimerHandleObj *a, PyObject *other, int op)
{
    pyasync_state *st = a->base.st;
    if (!PyObject_TypeCheck(other, st->TimerHandle_Type)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    TimerHandleObj *b = (TimerHandleObj *)other;
    int r;
    switch (op) {
    case Py_LT:
    case Py_GT:
        return PyObject_RichCompare(a->when, b->when, op);
    case Py_LE:
    case Py_GE:
        r = PyObject_RichCompareBool(a->when, b->when,
                                     op == Py_LE ? Py_LT : Py_GT);
        if (r == 0) {
            r = timer_handles_equal(a, b);
        }
        break;
    case Py_EQ:
        r = timer_handles_equal(a, b);
        break;
    case Py_NE:
        r = timer_handles_equal(a, b);
        if (r >= 0) {
            r = !r;
        }
        break;
    default:
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyMemberDef TimerHandle_members[] = {
    {"_when", T_OBJECT, offsetof(TimerHandleObj, when), READONLY, NULL},
    {"_scheduled", T_BOOL, offsetof(TimerHandleObj, scheduled), 0, NULL},
    {NULL},
};

static PyMethodDef TimerHandle_methods[] = {
    {"cancel", (PyCFunction)TimerHandle_cancel, METH_NOARGS, NULL},
    {"when", (PyCFunction)TimerHandle_when, METH_NOARGS, NULL},
    {"_repr_info", (PyCFunction)TimerHandle_repr_info, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot TimerHandle_slots[] = {
    {Py_tp_new, TimerHandle_tp_new},
    {Py_tp_dealloc, TimerHandle_dealloc},
    {Py_tp_traverse, TimerHandle_traverse},
    {Py_tp_clear, TimerHandle_clear},
    {Py_tp_hash, TimerHandle_hash},
    {Py_tp_richcompare, TimerHandle_richcompare},
    {Py_tp_methods, TimerHandle_methods},
    {Py_tp_members, TimerHandle_members},
    {Py_tp_doc, "Object returned by timed callback registration methods."},
    {0, NULL},
};

static PyType_Spec TimerHandle_spec = {
    .name = "pyasync._core.TimerHandle",
    .basicsize = sizeof(TimerHandleObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = TimerHandle_slots,
};

int
pyasync_handle_init(PyObject *module, pyasync_state *st)
{
    st->Handle_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &Handle_spec, NULL);
    if (st->Handle_Type == NULL
        || PyModule_AddType(module, st->Handle_Type) < 0) {
        return -1;
    }
    st->TimerHandle_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &TimerHandle_spec, (PyObject *)st->Handle_Type);
    if (st->TimerHandle_Type == NULL
        || PyModule_AddType(module, st->TimerHandle_Type) < 0) {
        return -1;
    }
    return 0;
}
