/* timers.c: the timer heap (see timers.h). */
#include "core/timers.h"
#include "core/handle.h"

#define TIMERS_MIN_CAP 16

void
timers_init(timer_heap *h)
{
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
    h->next_seq = 0;
}

static inline int
entry_less(const timer_entry *a, const timer_entry *b)
{
    if (a->deadline != b->deadline) {
        return a->deadline < b->deadline;
    }
    return a->seq < b->seq;
}

static void
sift_up(timer_heap *h, size_t pos)
{
    timer_entry item = h->items[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!entry_less(&item, &h->items[parent])) {
            break;
        }
        h->items[pos] = h->items[parent];
        pos = parent;
    }
    h->items[pos] = item;
}

static void
sift_down(timer_heap *h, size_t pos)
{
    timer_entry item = h->items[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len
            && entry_less(&h->items[child + 1], &h->items[child])) {
            child++;
        }
        if (!entry_less(&h->items[child], &item)) {
            break;
        }
        h->items[pos] = h->items[child];
        pos = child;
    }
    h->items[pos] = item;
}

int
timers_push(timer_heap *h, uint64_t deadline, PyObject *obj)
{
    if (h->len == h->cap) {
        size_t newcap = h->cap ? h->cap * 2 : TIMERS_MIN_CAP;
        timer_entry *ni = PyMem_Realloc(h->items, newcap * sizeof(timer_entry));
        if (ni == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        h->items = ni;
        h->cap = newcap;
    }
    timer_entry *e = &h->items[h->len];
    e->deadline = deadline;
    e->seq = h->next_seq++;
    e->obj = Py_NewRef(obj);
    sift_up(h, h->len++);
    return 0;
}

/* Refill the hole at the root with the last entry.  The last entry
 * nearly always belongs near the bottom, so walk the hole down along the
 * smaller children first (one comparison per level instead of two) and
 * only then sift the entry up from there. */
static void
fill_root_hole(timer_heap *h)
{
    timer_entry *items = h->items;
    size_t len = h->len, pos = 0, child;
    while ((child = 2 * pos + 1) < len) {
        if (child + 1 < len && entry_less(&items[child + 1], &items[child])) {
            child++;
        }
        items[pos] = items[child];
        pos = child;
    }
    items[pos] = items[len];
    sift_up(h, pos);
}

PyObject *
timers_pop(timer_heap *h)
{
    if (h->len == 0) {
        return NULL;
    }
    PyObject *obj = h->items[0].obj;
    h->len--;
    if (h->len > 0) {
        fill_root_hole(h);
    }
    return obj;
}

size_t
timers_compact(timer_heap *h, int (*keep)(PyObject *obj))
{
    size_t kept = 0, dropped = 0;
    PyObject **garbage = NULL;

    if (h->len == 0) {
        return 0;
    }
    /* Release the dropped references only once the heap is consistent
     * again: a destructor may schedule a timer. */
    garbage = PyMem_Malloc(h->len * sizeof(PyObject *));
    if (garbage == NULL) {
        return 0;   /* compaction is an optimisation: skip it */
    }
    for (size_t i = 0; i < h->len; i++) {
        if (keep(h->items[i].obj)) {
            h->items[kept++] = h->items[i];
        }
        else {
            garbage[dropped++] = h->items[i].obj;
        }
    }
    h->len = kept;
    for (size_t i = kept / 2; i-- > 0;) {
        sift_down(h, i);
    }
    for (size_t i = 0; i < dropped; i++) {
        handle_unqueue(garbage[i]);
    }
    PyMem_Free(garbage);
    return dropped;
}

void
timers_clear(timer_heap *h)
{
    PyObject *obj;
    while ((obj = timers_pop(h)) != NULL) {
        handle_unqueue(obj);
    }
}

void
timers_free(timer_heap *h)
{
    timers_clear(h);
    PyMem_Free(h->items);
    h->items = NULL;
    h->cap = 0;
}

int
timers_traverse(timer_heap *h, visitproc visit, void *arg)
{
    for (size_t i = 0; i < h->len; i++) {
        int r = handle_traverse_queued(h->items[i].obj, visit, arg);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}
