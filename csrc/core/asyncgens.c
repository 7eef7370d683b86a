/* asyncgens.c: asyncio's first-iteration hook for async generators, on a
 * pyasync loop.
 *
 * While a loop runs, every async generator's first __anext__() calls
 * sys.get_asyncgen_hooks().firstiter, which asyncio's loops set to
 * BaseEventLoop._asyncgen_firstiter_hook: warn if shutdown_asyncgens() was
 * called, then add the generator to the loop's WeakSet _asyncgens, so that
 * shutdown_asyncgens() can close it.  That is two Python frames (the hook,
 * WeakSet.add) per generator and one more (the WeakSet's _remove) when
 * it dies: about 15% of a program that makes many short-lived ones
 * (pyperformance's async_generators).  Loop's _asyncgen_firstiter_fast
 * does the same in C: the same warning, a weak reference to the generator
 * in the same set, whose callback does what the set's _remove does (a
 * WeakSetRemover, one per loop and set); anything else it meets (another
 * container in _asyncgens, a WeakSet holding removals back while iterated,
 * 3.11-3.13) goes to asyncio's hook.  run_forever() (loop.py) installs it
 * only when neither asyncio's hook nor WeakSet.add is patched or
 * overridden. */
#include "pyasync.h"
#include <structmember.h>
#include "core/loop.h"

/* ---- WeakSetRemover: a WeakSet's _remove, in C ------------------------ */

/* WeakSet.__init__ gives each set a closure _remove(item, selfref=ref(set))
 * that discards a dead item's reference from set.data, or (3.11-3.13)
 * queues it while the set is iterated. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *setref;     /* weak reference to the WeakSet */
    pyasync_state *st;
} WeakSetRemover;

/* The set the remover works for (new reference), or NULL, also when it is
 * gone (then without an exception). */
static PyObject *
remover_set(WeakSetRemover *self)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *set;
    return PyWeakref_GetRef(self->setref, &set) < 0 ? NULL : set;
#else
    PyObject *set = PyWeakref_GetObject(self->setref);
    return set == NULL || set == Py_None ? NULL : Py_NewRef(set);
#endif
}

static PyObject *
remover_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                   PyObject *kwnames)
{
    WeakSetRemover *self = (WeakSetRemover *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1
        || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError,
                        "_remove() takes exactly one argument");
        return NULL;
    }
    PyObject *item = args[0];
    PyObject *set = remover_set(self);
    if (set == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    pyasync_state *st = self->st;
    PyObject *r = NULL;
#if PY_VERSION_HEX < 0x030E0000
    PyObject *iterating = PyObject_GetAttr(set, st->str_iterating);
    int busy = iterating ? PyObject_IsTrue(iterating) : -1;
    Py_XDECREF(iterating);
    if (busy != 0) {
        /* Iterated: queued for _commit_removals(), as _remove does. */
        PyObject *pending = busy < 0 ? NULL
            : PyObject_GetAttr(set, st->str_pending_removals);
        if (pending != NULL) {
            r = PyObject_CallMethod(pending, "append", "O", item);
            Py_DECREF(pending);
        }
        Py_DECREF(set);
        return r;
    }
#endif
    PyObject *data = PyObject_GetAttr(set, st->str_data);
    if (data != NULL && PySet_CheckExact(data)) {
        r = PySet_Discard(data, item) < 0 ? NULL : Py_NewRef(Py_None);
    }
    else if (data != NULL) {
        r = PyObject_CallMethod(data, "discard", "O", item);
    }
    Py_XDECREF(data);
    Py_DECREF(set);
    return r;
}

static int
remover_traverse(WeakSetRemover *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->setref);
    return 0;
}

static int
remover_clear(WeakSetRemover *self)
{
    Py_CLEAR(self->setref);
    return 0;
}

static void
remover_dealloc(WeakSetRemover *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)remover_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef remover_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(WeakSetRemover, vectorcall), READONLY, NULL},
    {NULL},
};

static PyType_Slot remover_slots[] = {
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_traverse, remover_traverse},
    {Py_tp_clear, remover_clear},
    {Py_tp_dealloc, remover_dealloc},
    {Py_tp_members, remover_members},
    {Py_tp_doc, "A WeakSet's _remove callback, in C (csrc/core/asyncgens.c)."},
    {0, NULL},
};

static PyType_Spec remover_spec = {
    .name = "pyasync._core._WeakSetRemover",
    .basicsize = sizeof(WeakSetRemover),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = remover_slots,
};

/* The loop's remover for set, made on first use and again when the loop's
 * _asyncgens is another set (borrowed reference, or NULL on an error). */
static PyObject *
loop_remover(LoopObj *loop, PyObject *set)
{
    if (loop->asyncgens_set == set && loop->asyncgens_remover != NULL) {
        return loop->asyncgens_remover;
    }
    pyasync_state *st = loop->st;
    WeakSetRemover *r = PyObject_GC_New(WeakSetRemover,
                                        st->WeakSetRemover_Type);
    if (r == NULL) {
        return NULL;
    }
    r->vectorcall = remover_vectorcall;
    r->st = st;
    r->setref = PyWeakref_NewRef(set, NULL);
    if (r->setref == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    PyObject_GC_Track(r);
    Py_XSETREF(loop->asyncgens_remover, (PyObject *)r);
    Py_XSETREF(loop->asyncgens_set, Py_NewRef(set));
    return (PyObject *)r;
}

/* ---- the hook ----------------------------------------------------------- */

int
pyasync_asyncgens_init(PyObject *module, pyasync_state *st)
{
    st->WeakSetRemover_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &remover_spec, NULL);
    if (st->WeakSetRemover_Type == NULL) {
        return -1;
    }
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
    INTERN(str_pending_removals, "_pending_removals");
    INTERN(str_iterating, "_iterating");
#undef INTERN
    return 0;
}

/* agen's weak reference into the WeakSet's data, as WeakSet.add makes it
 * (its callback the loop's remover for the set, doing what the set's
 * _remove does).
 * 1 done, 0 when this set needs WeakSet.add itself, -1 on an error. */
static int
weakset_add(LoopObj *loop, PyObject *set, PyObject *agen)
{
    pyasync_state *st = loop->st;
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
    PyObject *remove = loop_remover(loop, set);
    PyObject *ref = remove ? PyWeakref_NewRef(agen, remove) : NULL;
    int rc = ref != NULL ? PySet_Add(data, ref) : -1;
    Py_XDECREF(ref);
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
    if (!late) {
        PyObject *set = PyObject_GetAttr(self, st->str_asyncgens);
        if (set == NULL) {
            return NULL;
        }
        int done = weakset_add((LoopObj *)self, set, agen);
        Py_DECREF(set);
        if (done != 0) {
            return done < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    /* The warning after shutdown_asyncgens(), or a set of another kind. */
    PyObject *args[2] = {self, agen};
    return PyObject_Vectorcall(st->asyncio_firstiter_hook, args, 2, NULL);
}
