/* context_share.c: one context copy for many queued callbacks (see
 * context_share.h). */
#include "core/context_share.h"
#include <stddef.h>
#include <string.h>

/* CPython's struct _pycontextobject (Include/internal/pycore_context.h),
 * unchanged from 3.10 to 3.14.  ctx_vars and ctx_entered are read;
 * ctx_vars is written only in a new context nobody else has seen. */
typedef struct {
    PyObject_HEAD
    PyObject *ctx_prev;
    PyObject *ctx_vars;
    PyObject *ctx_weakreflist;
    int ctx_entered;
} context_layout;

#define LAYOUT(ctx) ((context_layout *)(ctx))

/* Process-wide facts (the layout is the interpreter's), written at each
 * import with the same value and by the tests' switch: atomic accesses. */
static char sharing_probed;   /* the layout matched */
static char sharing_on;

PyObject *
ctxshare_set_enabled(PyObject *module, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    PyObject *was = PyBool_FromLong(FT_LOAD_CHAR(sharing_on));
    FT_STORE_CHAR(sharing_on, on && FT_LOAD_CHAR(sharing_probed));
    return was;
}

/* The current context, or NULL when the thread has none yet (borrowed). */
static inline PyObject *
current_context(void)
{
    return PyThreadState_Get()->context;
}

/* A new context holding vars (empty for NULL: a SharedContext the GC
 * cleared). */
static PyObject *
context_with_vars(PyObject *vars)
{
    PyObject *ctx = PyContext_New();
    if (ctx != NULL && vars != NULL) {
        Py_SETREF(LAYOUT(ctx)->ctx_vars, Py_NewRef(vars));
    }
    return ctx;
}

/* ---- SharedContext -------------------------------------------------- */

static SharedContext *
shared_new(pyasync_state *st, PyObject *ctx)
{
    SharedContext *sc = PyObject_GC_New(SharedContext, st->SharedContext_Type);
    if (sc == NULL) {
        return NULL;
    }
    sc->ctx = Py_NewRef(ctx);
    sc->vars = Py_NewRef(LAYOUT(ctx)->ctx_vars);
    PyObject_GC_Track(sc);
    return sc;
}

static int
SharedContext_traverse(SharedContext *sc, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(sc));
    Py_VISIT(sc->ctx);
    Py_VISIT(sc->vars);
    return 0;
}

static int
SharedContext_clear(SharedContext *sc)
{
    Py_CLEAR(sc->ctx);
    Py_CLEAR(sc->vars);
    return 0;
}

static void
SharedContext_dealloc(SharedContext *sc)
{
    PyTypeObject *tp = Py_TYPE(sc);
    PyObject_GC_UnTrack(sc);
    SharedContext_clear(sc);
    tp->tp_free(sc);
    Py_DECREF(tp);
}

static PyType_Slot SharedContext_slots[] = {
    {Py_tp_dealloc, SharedContext_dealloc},
    {Py_tp_traverse, SharedContext_traverse},
    {Py_tp_clear, SharedContext_clear},
    {Py_tp_doc, "A context copy shared by queued handles "
                "(csrc/core/context_share.h)."},
    {0, NULL},
};

static PyType_Spec SharedContext_spec = {
    .name = "pyasync._core._SharedContext",
    .basicsize = sizeof(SharedContext),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = SharedContext_slots,
};

/* ---- the layout probe ------------------------------------------------ */

/* Every assumption the rest makes, tried on throwaway contexts: the
 * sizes, that a copy shares its variables, that entering shows in the
 * thread state and ctx_entered, that setting a variable replaces
 * ctx_vars, and that a context made by context_with_vars() reads them. */
static int
probe_layout(void)
{
    if (PyContext_Type.tp_basicsize != (Py_ssize_t)sizeof(context_layout)
        || PyContext_Type.tp_weaklistoffset
           != (Py_ssize_t)offsetof(context_layout, ctx_weakreflist)) {
        return 0;
    }
    int ok = 0;
    PyObject *a = PyContext_New();
    PyObject *b = NULL, *c = NULL, *var = NULL, *token = NULL, *got = NULL;
    if (a == NULL || (b = PyContext_Copy(a)) == NULL
        || (var = PyContextVar_New("pyasync_probe", NULL)) == NULL) {
        goto done;
    }
    PyObject *vars0 = LAYOUT(a)->ctx_vars;
    if (vars0 == NULL || LAYOUT(b)->ctx_vars != vars0
        || strcmp(Py_TYPE(vars0)->tp_name, "hamt") != 0
        || LAYOUT(a)->ctx_entered != 0 || LAYOUT(a)->ctx_prev != NULL) {
        goto done;
    }
    if (PyContext_Enter(a) < 0) {
        goto done;
    }
    int entered = current_context() == a && LAYOUT(a)->ctx_entered == 1;
    token = PyContextVar_Set(var, Py_True);
    if (PyContext_Exit(a) < 0 || token == NULL || !entered
        || LAYOUT(a)->ctx_entered != 0 || LAYOUT(a)->ctx_vars == vars0
        || LAYOUT(b)->ctx_vars != vars0) {
        goto done;
    }
    if ((c = context_with_vars(LAYOUT(a)->ctx_vars)) == NULL
        || PyContext_Enter(c) < 0) {
        goto done;
    }
    int found = PyContextVar_Get(var, NULL, &got);
    if (PyContext_Exit(c) < 0) {
        goto done;
    }
    ok = found == 0 && got == Py_True;

done:
    Py_XDECREF(got);
    Py_XDECREF(token);
    Py_XDECREF(var);
    Py_XDECREF(c);
    Py_XDECREF(b);
    Py_XDECREF(a);
    if (PyErr_Occurred()) {
        return -1;
    }
    return ok;
}

int
ctxshare_init(PyObject *module, pyasync_state *st)
{
    int r = probe_layout();
    if (r < 0) {
        return -1;
    }
    FT_STORE_CHAR(sharing_probed, r);
    FT_STORE_CHAR(sharing_on, r);
    st->SharedContext_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &SharedContext_spec, NULL);
    return st->SharedContext_Type == NULL ? -1 : 0;
}

/* ---- handles --------------------------------------------------------- */

int
ctxshare_copy_current(pyasync_state *st, ctxshare_cache *cache,
                      PyObject **ctx, SharedContext **shared)
{
    *shared = NULL;
    PyObject *cur = FT_LOAD_CHAR(sharing_on) ? current_context() : NULL;
    if (cur != NULL && LAYOUT(cur)->ctx_vars == cache->vars) {
        /* A second handle (or more) in the same variables. */
        if (cache->shared == NULL || cache->shared->ctx == NULL) {
            PyObject *copy = PyContext_CopyCurrent();
            SharedContext *sc = copy ? shared_new(st, copy) : NULL;
            Py_XDECREF(copy);
            if (sc == NULL) {
                return -1;
            }
            Py_XSETREF(cache->shared, sc);
        }
        *ctx = Py_NewRef(cache->shared->ctx);
        *shared = (SharedContext *)Py_NewRef(cache->shared);
        return 0;
    }
    /* The first in these variables gets a copy of its own, as asyncio's
     * handles do: a lone handle costs no SharedContext. */
    *ctx = PyContext_CopyCurrent();
    if (*ctx == NULL) {
        return -1;
    }
    if (FT_LOAD_CHAR(sharing_on)) {
        PyObject *old_vars = cache->vars;
        SharedContext *old_shared = cache->shared;
        cache->vars = Py_NewRef(LAYOUT(*ctx)->ctx_vars);
        cache->shared = NULL;
        Py_XDECREF(old_vars);
        Py_XDECREF(old_shared);
    }
    return 0;
}

int
ctxshare_usable(SharedContext *shared, PyObject *ctx)
{
    return shared->ctx == ctx && LAYOUT(ctx)->ctx_vars == shared->vars
           && !LAYOUT(ctx)->ctx_entered;
}

int
ctxshare_changed(SharedContext *shared, PyObject *ctx)
{
    return LAYOUT(ctx)->ctx_vars != shared->vars;
}

void
ctxshare_give(SharedContext *shared)
{
    Py_CLEAR(shared->ctx);
}

PyObject *
ctxshare_own_copy(SharedContext *shared)
{
    return context_with_vars(shared->vars);
}

void
ctxshare_cache_clear(ctxshare_cache *cache)
{
    Py_CLEAR(cache->vars);
    Py_CLEAR(cache->shared);
}

int
ctxshare_cache_traverse(ctxshare_cache *cache, visitproc visit, void *arg)
{
    Py_VISIT(cache->vars);
    Py_VISIT(cache->shared);
    return 0;
}
