/* all_tasks.c: registering tasks in asyncio's _all_tasks WeakSet cheaply.
 *
 * asyncio.all_tasks() reads asyncio.tasks._all_tasks, so every live task
 * must be listed there.  A weak reference per task, created when the task
 * is and dropped when it dies, is a tenth of creating a task.  Instead a
 * new task is only linked into a ring in the module state (two pointers,
 * no object), and the WeakSet's .data set is replaced, once at import, by
 * a set subclass that turns the ring into the usual weak references
 * (ref(task, ws._remove)) before anything reads it: iteration, len, `in`,
 * comparisons, repr, and every method except add.  So WeakSet code, and
 * all_tasks() with it, sees exactly the set it would have seen.
 *
 * A task that was entered dies as before: we discard its ref from .data
 * ourselves (what ws._remove would do) unless the set is being iterated,
 * in which case the callback runs as usual and defers the removal.  A task
 * still in the ring just unlinks itself.
 *
 * Free-threaded, each thread links its tasks into a ring of its own
 * (pyasync.h: pyasync_task_ring), and a task remembers which: a task made
 * in one thread may die in another.
 *
 * When _all_tasks is not exactly a weakref.WeakSet we call its add(). */
#include <stddef.h>
#include "pyasync.h"
#include "core/task.h"
#include "core/all_tasks.h"

/* ---- the ring -------------------------------------------------------- */

static inline void
ring_init(pyasync_link *head)
{
    head->prev = head->next = head;
}

static inline void
ring_unlink(pyasync_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}

static inline void
ring_append(pyasync_link *head, pyasync_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline PyObject *
task_of_link(pyasync_link *node)
{
    return (PyObject *)((char *)node - offsetof(TaskObj, all_node.link));
}

/* The ring the calling thread links its tasks into. */
#ifdef Py_GIL_DISABLED
static int next_ring;                    /* (atomic) */
static _Thread_local int tls_ring = -1;

static unsigned char
thread_ring(void)
{
    if (tls_ring < 0) {
        tls_ring = _Py_atomic_add_int(&next_ring, 1) % PYASYNC_TASK_RINGS;
    }
    return (unsigned char)tls_ring;
}
#else
#define thread_ring() ((unsigned char)0)
#endif

/* Give every task of ring its weak reference in .data.  0 or -1.
 * Creating a ref may run the GC, which may free tasks of the ring (they
 * unlink themselves), and other threads may add and free tasks meanwhile:
 * one node at a time is taken off the ring, under its lock, holding its
 * task; the ref is made outside the lock. */
static int
ring_flush(pyasync_state *st, pyasync_task_ring *ring)
{
    pyasync_link *head = &ring->pending;
    for (;;) {
        pyasync_mutex_lock(&ring->lock);
        pyasync_link *node = head->next;
        if (node == head) {
            pyasync_mutex_unlock(&ring->lock);
            return 0;
        }
        PyObject *task = task_of_link(node);
        ring_unlink(node);
#ifdef Py_GIL_DISABLED
        /* A task whose last reference another thread is dropping is left
         * to its dealloc. */
        int alive = PyUnstable_TryIncRef(task);
#else
        Py_INCREF(task);
        int alive = 1;
#endif
        pyasync_mutex_unlock(&ring->lock);
        if (!alive) {
            continue;
        }
        PyObject *ref = PyWeakref_NewRef(task, st->all_tasks_remove);
        if (ref == NULL || PySet_Add(st->all_tasks_data, ref) < 0) {
            Py_XDECREF(ref);
            pyasync_mutex_lock(&ring->lock);
            ring_append(head, node);
            pyasync_mutex_unlock(&ring->lock);
            Py_DECREF(task);
            return -1;
        }
        Py_DECREF(ref);
        Py_DECREF(task);
    }
}

/* Every ring's tasks into .data.  0 or -1. */
static int
all_tasks_flush(pyasync_state *st)
{
    if (st->all_tasks_data == NULL || st->all_tasks_remove == NULL) {
        return 0;
    }
    for (int i = 0; i < PYASYNC_TASK_RINGS; i++) {
        if (ring_flush(st, &st->task_rings[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- the .data set: a set that flushes the ring before it is read ---- */

static int
data_flush(PyObject *self)
{
    pyasync_state *st = pyasync_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    /* Another module instance's set: its ring is not ours to flush. */
    return st->all_tasks_data == self ? all_tasks_flush(st) : 0;
}

static PyObject *
data_iter(PyObject *self)
{
    return data_flush(self) < 0 ? NULL : PySet_Type.tp_iter(self);
}

static Py_ssize_t
data_len(PyObject *self)
{
    return data_flush(self) < 0 ? -1 : PySet_Size(self);
}

static int
data_contains(PyObject *self, PyObject *key)
{
    return data_flush(self) < 0
           ? -1 : PySet_Type.tp_as_sequence->sq_contains(self, key);
}

static PyObject *
data_richcompare(PyObject *self, PyObject *other, int op)
{
    return data_flush(self) < 0
           ? NULL : PySet_Type.tp_richcompare(self, other, op);
}

static PyObject *
data_repr(PyObject *self)
{
    return data_flush(self) < 0 ? NULL : PySet_Type.tp_repr(self);
}

/* Every attribute but add (which needs nothing listed) may read the set. */
static PyObject *
data_getattro(PyObject *self, PyObject *name)
{
    pyasync_state *st = pyasync_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    if (name != st->str_add && data_flush(self) < 0) {
        return NULL;
    }
    return PyObject_GenericGetAttr(self, name);
}

/* Binary set operators read both operands. */
static int
data_flush_either(PyObject *a, PyObject *b)
{
    if (Py_TYPE(a)->tp_iter == data_iter && data_flush(a) < 0) {
        return -1;
    }
    if (b != a && Py_TYPE(b)->tp_iter == data_iter && data_flush(b) < 0) {
        return -1;
    }
    return 0;
}

#define DATA_BINOP(name, slot) \
    static PyObject * \
    name(PyObject *a, PyObject *b) \
    { \
        return data_flush_either(a, b) < 0 \
               ? NULL : PySet_Type.tp_as_number->slot(a, b); \
    }
DATA_BINOP(data_or, nb_or)
DATA_BINOP(data_and, nb_and)
DATA_BINOP(data_sub, nb_subtract)
DATA_BINOP(data_xor, nb_xor)
DATA_BINOP(data_iand, nb_inplace_and)
DATA_BINOP(data_isub, nb_inplace_subtract)
DATA_BINOP(data_ixor, nb_inplace_xor)
#undef DATA_BINOP

static int
data_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return PySet_Type.tp_traverse(self, visit, arg);
}

static int
data_clear(PyObject *self)
{
    return PySet_Type.tp_clear(self);
}

static void
data_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PySet_Type.tp_dealloc(self);
    Py_DECREF(tp);
}

static PyType_Slot data_slots[] = {
    {Py_tp_iter, data_iter},
    {Py_sq_length, data_len},
    {Py_sq_contains, data_contains},
    {Py_tp_richcompare, data_richcompare},
    {Py_tp_repr, data_repr},
    {Py_tp_getattro, data_getattro},
    {Py_nb_or, data_or},
    {Py_nb_and, data_and},
    {Py_nb_subtract, data_sub},
    {Py_nb_xor, data_xor},
    {Py_nb_inplace_and, data_iand},
    {Py_nb_inplace_subtract, data_isub},
    {Py_nb_inplace_xor, data_ixor},
    {Py_tp_traverse, data_traverse},
    {Py_tp_clear, data_clear},
    {Py_tp_dealloc, data_dealloc},
    {0, NULL},
};

static PyType_Spec data_spec = {
    .name = "pyasync._core._AllTasksData",
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = data_slots,
};

/* ---- set-up ---------------------------------------------------------- */

/* 1 if st->all_tasks is an exact weakref.WeakSet, 0 if not, -1 error. */
static int
all_tasks_is_plain_weakset(pyasync_state *st)
{
    PyObject *mod = PyImport_ImportModule("weakref");
    if (mod == NULL) {
        return -1;
    }
    PyObject *cls = PyObject_GetAttrString(mod, "WeakSet");
    Py_DECREF(mod);
    if (cls == NULL) {
        return -1;
    }
    int plain = (PyObject *)Py_TYPE(st->all_tasks) == cls;
    Py_DECREF(cls);
    return plain;
}

#if PY_VERSION_HEX >= 0x030E0000
/* 3.14's asyncio lists its own tasks in per-thread lists, and any other
 * task in two sets of _asyncio's module state: a WeakSet of scheduled
 * tasks and a set of eager tasks during their first step.  Python code
 * reaches them only through _asyncio._register_task() and friends; the
 * sets themselves are among the module's GC referents.  We find each as
 * the one referent that holds a probe once it is registered (and no
 * longer once it is unregistered), so the lookup checks itself.  New
 * reference, or NULL with ImportError. */
static PyObject *
find_asyncio_set(PyObject *asyncio_c, PyObject *referents, PyObject *probe,
                 PyObject *set_type, const char *reg, const char *unreg)
{
    PyObject *found = NULL;
    PyObject *res = PyObject_CallMethod(asyncio_c, reg, "(O)", probe);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    Py_ssize_t n = PyList_GET_SIZE(referents);
    int matches = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(referents, i);
        if (!PyObject_TypeCheck(obj, (PyTypeObject *)set_type)) {
            continue;
        }
        int has = PySequence_Contains(obj, probe);
        if (has < 0) {
            return NULL;
        }
        if (has) {
            matches++;
            found = obj;
        }
    }
    res = PyObject_CallMethod(asyncio_c, unreg, "(O)", probe);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    if (matches != 1 || PySequence_Contains(found, probe) != 0) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ImportError,
                         "pyasync cannot find the set that _asyncio.%s() "
                         "fills on this Python", reg);
        }
        return NULL;
    }
    return Py_NewRef(found);
}

static int
find_asyncio_sets(pyasync_state *st)
{
    PyObject *asyncio_c = NULL, *referents = NULL, *probe = NULL;
    PyObject *weakset = NULL;
    int rc = -1;
    asyncio_c = PyImport_ImportModule("_asyncio");
    if (asyncio_c == NULL) {
        goto done;
    }
    PyObject *get_referents = pyasync_import_attr("gc", "get_referents");
    if (get_referents == NULL) {
        goto done;
    }
    referents = PyObject_CallOneArg(get_referents, asyncio_c);
    Py_DECREF(get_referents);
    weakset = pyasync_import_attr("weakref", "WeakSet");
    /* A class: weakly referenceable and hashable, and no asyncio.Task. */
    probe = PyObject_CallFunction((PyObject *)&PyType_Type, "s()N",
                                  "_pyasync_registry_probe", PyDict_New());
    if (referents == NULL || weakset == NULL || probe == NULL) {
        goto done;
    }
    if (!PyList_Check(referents)) {
        PyErr_SetString(PyExc_ImportError, "gc.get_referents() is no list");
        goto done;
    }
    st->all_tasks = find_asyncio_set(asyncio_c, referents, probe, weakset,
                                     "_register_task", "_unregister_task");
    if (st->all_tasks == NULL) {
        goto done;
    }
    st->eager_tasks = find_asyncio_set(asyncio_c, referents, probe,
                                       (PyObject *)&PySet_Type,
                                       "_register_eager_task",
                                       "_unregister_eager_task");
    if (st->eager_tasks == NULL || !PySet_CheckExact(st->eager_tasks)) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(asyncio_c);
    Py_XDECREF(referents);
    Py_XDECREF(weakset);
    Py_XDECREF(probe);
    return rc;
}
#endif

int
all_tasks_setup(pyasync_state *st)
{
    for (int i = 0; i < PYASYNC_TASK_RINGS; i++) {
        ring_init(&st->task_rings[i].pending);
    }
#if PY_VERSION_HEX >= 0x030E0000
    if (find_asyncio_sets(st) < 0) {
        return -1;
    }
#endif
    int plain = all_tasks_is_plain_weakset(st);
    if (plain <= 0) {
        return plain;
    }
    st->all_tasks_data = PyObject_GetAttrString(st->all_tasks, "data");
    st->all_tasks_remove = PyObject_GetAttrString(st->all_tasks, "_remove");
    if (st->all_tasks_data == NULL || st->all_tasks_remove == NULL) {
        return -1;
    }
#if PY_VERSION_HEX < 0x030E0000
    /* 3.14's WeakSet iterates over a copy and has no _iterating set. */
    st->all_tasks_iterating = PyObject_GetAttrString(st->all_tasks,
                                                     "_iterating");
    if (st->all_tasks_iterating == NULL) {
        return -1;
    }
#endif
    if (!PySet_CheckExact(st->all_tasks_data)
        || (st->all_tasks_iterating != NULL
            && !PySet_CheckExact(st->all_tasks_iterating))) {
        /* Not the WeakSet we know: keep to its methods. */
        Py_CLEAR(st->all_tasks_data);
        Py_CLEAR(st->all_tasks_remove);
        Py_CLEAR(st->all_tasks_iterating);
    }
    return 0;
}

int
all_tasks_install(PyObject *module, pyasync_state *st)
{
    if (st->all_tasks_data == NULL) {
        return 0;
    }
    PyObject *tp = PyType_FromModuleAndSpec(module, &data_spec,
                                            (PyObject *)&PySet_Type);
    if (tp == NULL) {
        return -1;
    }
    /* The refs already there keep working: ws._remove looks up
     * self.data when called. */
    PyObject *data = PyObject_CallOneArg(tp, st->all_tasks_data);
    Py_DECREF(tp);
    if (data == NULL) {
        return -1;
    }
    if (PyObject_SetAttrString(st->all_tasks, "data", data) < 0) {
        Py_DECREF(data);
        return -1;
    }
    Py_SETREF(st->all_tasks_data, data);
    return 0;
}

/* ---- per task -------------------------------------------------------- */

int
all_tasks_add(pyasync_state *st, PyObject *task, pyasync_task_node *node)
{
    if (st->all_tasks_data == NULL) {
        PyObject *res = PyObject_CallMethodOneArg(st->all_tasks, st->str_add,
                                                  task);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
        return 0;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_EnableTryIncRef(task);       /* for all_tasks_flush */
#endif
    if (node->linked_before) {
        /* Still on its ring (under that ring's lock: a flush may be
         * taking it off)?  Then nothing to do. */
        pyasync_mutex_lock(&st->task_rings[node->ring].lock);
        int listed = node->link.next != NULL;
        pyasync_mutex_unlock(&st->task_rings[node->ring].lock);
        if (listed) {
            return 0;
        }
    }
    node->linked_before = 1;
    node->ring = thread_ring();
    pyasync_task_ring *ring = &st->task_rings[node->ring];
    pyasync_mutex_lock(&ring->lock);
    ring_append(&ring->pending, &node->link);
    pyasync_mutex_unlock(&ring->lock);
    return 0;
}

void
all_tasks_forget(pyasync_state *st, pyasync_task_node *node,
                 PyObject *weakreflist)
{
    pyasync_task_ring *ring = st != NULL ? &st->task_rings[node->ring] : NULL;
    if (ring != NULL) {
        pyasync_mutex_lock(&ring->lock);
    }
    if (node->link.next != NULL) {
        ring_unlink(&node->link);   /* never entered: nothing else to do */
    }
    if (ring != NULL) {
        pyasync_mutex_unlock(&ring->lock);
    }
#ifdef Py_GIL_DISABLED
    /* An entered task's ref leaves .data through its callback, as in
     * asyncio: the weak reference list of an object is guarded by
     * CPython's own locks there, not to be walked from here. */
    (void)weakreflist;
    return;
#endif
    if (st == NULL || st->all_tasks_data == NULL || weakreflist == NULL
        || (st->all_tasks_iterating != NULL
            && PySet_GET_SIZE(st->all_tasks_iterating) != 0)) {
        return;
    }
    PyWeakReference *ref = (PyWeakReference *)weakreflist;
    while (ref != NULL && ref->wr_callback != st->all_tasks_remove) {
        ref = ref->wr_next;
    }
    if (ref == NULL) {
        return;
    }
    /* Called from dealloc, perhaps with an exception in flight.  The ref's
     * hash was cached when it entered the set, so no call into the dying
     * task; freeing the ref unlinks it from the task's list. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PySet_Discard(st->all_tasks_data, (PyObject *)ref) < 0) {
        PyErr_WriteUnraisable(st->all_tasks);
    }
    PyErr_Restore(type, value, tb);
}
