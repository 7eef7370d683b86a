/* asyncgens.c: asyncio's first-iteration hook for async generators, on a
 * pyasync loop.
 *
 * While a loop runs, every async generator's first __anext__() calls
 * sys.get_asyncgen_hooks().firstiter, which asyncio's loops set to
 * BaseEventLoop._asyncgen_firstiter_hook: warn if shutdown_asyncgens() was
 * called, then add the generator to the loop's WeakSet _asyncgens, so that
 * shutdown_asyncgens() can close it.  That is two Python frames (the hook,
 * WeakSet.add) per generator, about 15% of a program that makes many
 * short-lived ones (pyperformance's async_generators).  Loop's
 * _asyncgen_firstiter_fast does the same in C: the same warning, the same
 * weak reference (with the set's own _remove callback) in the same set;
 * anything else it meets (another container in _asyncgens, a WeakSet
 * holding removals back while iterated, 3.11-3.13) goes to asyncio's hook.
 * run_forever() (loop.py) installs it only when neither asyncio's hook nor
 * WeakSet.add is patched or overridden. */
#include "pyasync.h"
#include "loop.h"

int
pyasync_asyncgens_init(pyasync_state *st)
{
    PyObject *weakref = PyImport_ImportModule("weakref");
    if (weakref == NULL) {
        return -1;
    }
    st->WeakSet_Type = PyObject_GetAttrString(weakref, "WeakSet");
    Py_DECREF(weakref);
    PyObject *base = PyImport_ImportModule("asyncio.base_events");
    PyObject *cls = base ? PyObject_GetAttrString(base, "BaseEventLoop")
                         : NULL;
    Py_XDECREF(base);
    if (cls != NULL) {
        st->asyncio_firstiter_hook = PyObject_GetAttrString(
            cls, "_asyncgen_firstiter_hook");
        Py_DECREF(cls);
    }
    if (st->WeakSet_Type == NULL || st->asyncio_firstiter_hook == NULL) {
        return -1;
    }
#define INTERN(field, text) \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        return -1; \
    }
    INTERN(str_asyncgens, "_asyncgens");
    INTERN(str_asyncgens_shutdown_called, "_asyncgens_shutdown_called");
    INTERN(str_data, "data");
    INTERN(str_weakset_remove, "_remove");
    INTERN(str_pending_removals, "_pending_removals");
#undef INTERN
    return 0;
}

/* agen's weak reference into the WeakSet's data, as WeakSet.add makes it.
 * 1 done, 0 when this set needs WeakSet.add itself, -1 on an error. */
static int
weakset_add(pyasync_state *st, PyObject *set, PyObject *agen)
{
    if ((PyObject *)Py_TYPE(set) != st->WeakSet_Type) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030E0000
    /* 3.11-3.13 hold removals back while the set is iterated; add()
     * commits them first. */
    PyObject *pending = PyObject_GetAttr(set, st->str_pending_removals);
    if (pending == NULL) {
        return -1;
    }
    int held = !PyList_CheckExact(pending) || PyList_GET_SIZE(pending) != 0;
    Py_DECREF(pending);
    if (held) {
        return 0;
    }
#endif
    PyObject *data = PyObject_GetAttr(set, st->str_data);
    if (data == NULL) {
        return -1;
    }
    if (!PySet_CheckExact(data)) {
        Py_DECREF(data);
        return 0;
    }
    PyObject *remove = PyObject_GetAttr(set, st->str_weakset_remove);
    PyObject *ref = remove ? PyWeakref_NewRef(agen, remove) : NULL;
    int rc = ref != NULL ? PySet_Add(data, ref) : -1;
    Py_XDECREF(ref);
    Py_XDECREF(remove);
    Py_DECREF(data);
    return rc < 0 ? -1 : 1;
}

PyObject *
pyasync_loop_asyncgen_firstiter(PyObject *self, PyObject *agen)
{
    pyasync_state *st = ((LoopObj *)self)->st;
    PyObject *called = PyObject_GetAttr(self,
                                        st->str_asyncgens_shutdown_called);
    if (called == NULL) {
        return NULL;
    }
    int late = PyObject_IsTrue(called);
    Py_DECREF(called);
    if (late < 0) {
        return NULL;
    }
    PyObject *set = late ? NULL : PyObject_GetAttr(self, st->str_asyncgens);
    int done = 0;
    if (set != NULL) {
        done = weakset_add(st, set, agen);
        Py_DECREF(set);
        if (done < 0) {
            return NULL;
        }
    }
    else if (!late) {
        return NULL;
    }
    if (done) {
        Py_RETURN_NONE;
    }
    /* The warning after shutdown_asyncgens(), or a set of another kind. */
    PyObject *args[2] = {self, agen};
    return PyObject_Vectorcall(st->asyncio_firstiter_hook, args, 2, NULL);
}
