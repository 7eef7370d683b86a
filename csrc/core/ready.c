/* ready.c: the ready queue (see ready.h). */
#include "core/ready.h"
#include "core/handle.h"

#define READY_MIN_CAP 64

void
ready_init(ready_queue *q)
{
    q->buf = NULL;
    q->cap = 0;
    q->head = 0;
    q->len = 0;
}

/* Double the ring, unrolling it so that the oldest entry is at index 0. */
static int
ready_grow(ready_queue *q)
{
    size_t newcap = q->cap ? q->cap * 2 : READY_MIN_CAP;
    ready_entry *nb = PyMem_Malloc(newcap * sizeof(ready_entry));
    if (nb == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < q->len; i++) {
        nb[i] = q->buf[(q->head + i) & (q->cap - 1)];
    }
    PyMem_Free(q->buf);
    q->buf = nb;
    q->cap = newcap;
    q->head = 0;
    return 0;
}

int
ready_push(ready_queue *q, pyasync_ready_fn fn, PyObject *obj,
           PyObject *arg, PyObject *context)
{
    if (q->len == q->cap && ready_grow(q) < 0) {
        return -1;
    }
    ready_entry *e = &q->buf[(q->head + q->len) & (q->cap - 1)];
    e->fn = fn;
    e->obj = Py_XNewRef(obj);
    e->arg = Py_XNewRef(arg);
    e->context = Py_XNewRef(context);
    q->len++;
    return 0;
}

int
ready_pop(ready_queue *q, ready_entry *out)
{
    if (q->len == 0) {
        return 0;
    }
    *out = q->buf[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    return 1;
}

int
ready_append_entry(ready_queue *q, ready_entry *e)
{
    if (q->len == q->cap && ready_grow(q) < 0) {
        return -1;
    }
    q->buf[(q->head + q->len) & (q->cap - 1)] = *e;
    q->len++;
    return 0;
}

void
ready_entry_clear(ready_entry *e)
{
    if (e->fn == handle_run && e->obj != NULL) {
        handle_unqueue(e->obj);
        e->obj = NULL;
    }
    Py_CLEAR(e->obj);
    Py_CLEAR(e->arg);
    Py_CLEAR(e->context);
}

void
ready_clear(ready_queue *q)
{
    ready_entry e;
    /* Pop before releasing: a destructor may push onto this queue. */
    while (ready_pop(q, &e)) {
        ready_entry_clear(&e);
    }
}

void
ready_free(ready_queue *q)
{
    ready_clear(q);
    PyMem_Free(q->buf);
    ready_init(q);
}

int
ready_traverse(ready_queue *q, visitproc visit, void *arg)
{
    for (size_t i = 0; i < q->len; i++) {
        ready_entry *e = &q->buf[(q->head + i) & (q->cap - 1)];
        if (e->fn == handle_run && e->obj != NULL) {
            int r = handle_traverse_queued(e->obj, visit, arg);
            if (r != 0) {
                return r;
            }
        }
        else {
            Py_VISIT(e->obj);
        }
        Py_VISIT(e->arg);
        Py_VISIT(e->context);
    }
    return 0;
}
