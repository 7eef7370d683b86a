/* context_share.c: one context copy for many queued callbacks (see
 * context_share.h). */
#include "context_share.h"
#include <stddef.h>
#include <string.h>

/* CPython's struct _pycontextobject (Include/internal/pycore_context.h),
 * unchanged from 3.10 to 3.14.  Only ctx_vars is written here, and only
 * while the context is not entered; ctx_entered is only read. */
typedef struct {
    PyObject_HEAD
    PyObject *ctx_prev;
    PyObject *ctx_vars;
    PyObject *ctx_weakreflist;
    int ctx_entered;
} context_layout;

#define LAYOUT(ctx) ((context_layout *)(ctx))

static int sharing_probed;   /* the layout matched */
static int sharing_on;

int
ctxshare_enabled(void)
{
    return sharing_on;
}

PyObject *
ctxshare_set_enabled(PyObject *module, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    PyObject *was = PyBool_FromLong(sharing_on);
    sharing_on = on && sharing_probed;
    return was;
}

/* The current context, or NULL when the thread has none yet (borrowed). */
static inline PyObject *
current_context(void)
{
    return PyThreadState_Get()->context;
}

PyObject *
ctxshare_own_copy(PyObject *vars)
{
    PyObject *ctx = PyContext_New();
    if (ctx != NULL) {
        Py_SETREF(LAYOUT(ctx)->ctx_vars, Py_NewRef(vars));
    }
    return ctx;
}

/* Every assumption the rest makes, tried on throwaway contexts: the
 * sizes, that a copy shares its variables, that entering shows in the
 * thread state and ctx_entered, that setting a variable replaces
 * ctx_vars, and that a context made by ctxshare_own_copy() reads them. */
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
    if ((c = ctxshare_own_copy(LAYOUT(a)->ctx_vars)) == NULL
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
ctxshare_probe(void)
{
    int r = probe_layout();
    if (r < 0) {
        return -1;
    }
    sharing_probed = sharing_on = r;
    return 0;
}

int
ctxshare_copy_current(ctxshare_cache *cache, PyObject **ctx, PyObject **vars)
{
    *vars = NULL;
    if (sharing_on && cache->ctx != NULL) {
        PyObject *cur = current_context();
        if (cur != NULL && LAYOUT(cur)->ctx_vars == cache->vars) {
            *ctx = Py_NewRef(cache->ctx);
            *vars = Py_NewRef(cache->vars);
            return 0;
        }
    }
    *ctx = PyContext_CopyCurrent();
    if (*ctx == NULL) {
        return -1;
    }
    if (sharing_on) {
        PyObject *made = LAYOUT(*ctx)->ctx_vars;
        PyObject *old_ctx = cache->ctx, *old_vars = cache->vars;
        cache->ctx = Py_NewRef(*ctx);
        cache->vars = Py_NewRef(made);
        *vars = Py_NewRef(made);
        Py_XDECREF(old_ctx);
        Py_XDECREF(old_vars);
    }
    return 0;
}

int
ctxshare_usable(PyObject *ctx, PyObject *vars)
{
    return LAYOUT(ctx)->ctx_vars == vars && !LAYOUT(ctx)->ctx_entered;
}

int
ctxshare_after_run(PyObject *ctx, PyObject *vars, int want_changed,
                   PyObject **changed)
{
    *changed = NULL;
    PyObject *now = LAYOUT(ctx)->ctx_vars;
    if (now == vars || LAYOUT(ctx)->ctx_entered) {
        return 0;
    }
    if (want_changed && (*changed = ctxshare_own_copy(now)) == NULL) {
        return -1;
    }
    LAYOUT(ctx)->ctx_vars = Py_NewRef(vars);
    Py_DECREF(now);   /* last: may run a destructor */
    return 0;
}

void
ctxshare_forget(ctxshare_cache *cache, PyObject *ctx)
{
    if (cache->ctx == ctx) {
        ctxshare_cache_clear(cache);
    }
}

void
ctxshare_cache_clear(ctxshare_cache *cache)
{
    Py_CLEAR(cache->ctx);
    Py_CLEAR(cache->vars);
}

int
ctxshare_cache_traverse(ctxshare_cache *cache, visitproc visit, void *arg)
{
    Py_VISIT(cache->ctx);
    Py_VISIT(cache->vars);
    return 0;
}
