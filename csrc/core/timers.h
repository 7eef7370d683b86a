/* timers.h: the loop's timer heap, a binary min-heap of TimerHandles.
 *
 * Entries are ordered by (deadline in ns, scheduling sequence), so timers
 * with equal deadlines fire in the order they were scheduled.  Cancelled
 * timers are removed lazily: they are skipped when they reach the top, and
 * timers_compact() drops them all when they become too many.  Handles
 * leave the heap through handle_unqueue() and are traversed with
 * handle_traverse_queued(): they may be untracked by the GC (handle.h). */
#ifndef PYASYNC_TIMERS_H
#define PYASYNC_TIMERS_H

#include "pyasync.h"

typedef struct {
    uint64_t deadline;   /* ns on the uv_hrtime() clock */
    uint64_t seq;
    PyObject *obj;       /* owned */
} timer_entry;

typedef struct {
    timer_entry *items;
    size_t len;
    size_t cap;
    uint64_t next_seq;
} timer_heap;

void timers_init(timer_heap *h);

/* Schedule obj (a new reference is taken).  0, or -1 with MemoryError. */
int timers_push(timer_heap *h, uint64_t deadline, PyObject *obj);

/* The earliest entry (borrowed), or NULL when the heap is empty. */
static inline const timer_entry *
timers_peek(const timer_heap *h)
{
    return h->len ? &h->items[0] : NULL;
}

/* Remove the earliest entry; its reference is returned (NULL if empty). */
PyObject *timers_pop(timer_heap *h);

/* Drop every entry for which keep(obj) returns 0, then restore the heap
 * order.  Returns how many were dropped. */
size_t timers_compact(timer_heap *h, int (*keep)(PyObject *obj));

/* Drop every entry (destructors may schedule again: those go too). */
void timers_clear(timer_heap *h);
void timers_free(timer_heap *h);

int timers_traverse(timer_heap *h, visitproc visit, void *arg);

#endif /* PYASYNC_TIMERS_H */
