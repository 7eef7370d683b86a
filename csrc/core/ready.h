/* ready.h: the loop's ready queue, a growable C ring of callbacks.
 *
 * An entry is fn(obj, arg) run inside context (NULL: the current one).
 * It is what a task wake-up or a done-callback costs on a pyasync loop:
 * no Python Handle object unless someone asked for one.  An entry whose
 * fn is handle_run holds a handle that may be untracked by the GC
 * (handle.h): it is traversed and released the way handle.c says. */
#ifndef PYASYNC_READY_H
#define PYASYNC_READY_H

#include "pyasync.h"

typedef struct {
    pyasync_ready_fn fn;
    PyObject *obj;       /* owned, may be NULL */
    PyObject *arg;       /* owned, may be NULL */
    PyObject *context;   /* owned, may be NULL */
} ready_entry;

typedef struct {
    ready_entry *buf;
    size_t cap;          /* a power of two, or 0 before the first push */
    size_t head;         /* index of the oldest entry */
    size_t len;
} ready_queue;

void ready_init(ready_queue *q);

/* Append an entry; the references are taken (incremented), not stolen.
 * 0, or -1 with MemoryError set. */
int ready_push(ready_queue *q, pyasync_ready_fn fn, PyObject *obj,
               PyObject *arg, PyObject *context);

/* Append *e, whose references the queue takes over.  0, or -1 with
 * MemoryError set (and *e still the caller's). */
int ready_append_entry(ready_queue *q, ready_entry *e);

/* Move the oldest entry to *out (its references go with it).  0 when the
 * queue was empty, 1 otherwise. */
int ready_pop(ready_queue *q, ready_entry *out);

/* Release an entry popped with ready_pop. */
void ready_entry_clear(ready_entry *e);

/* Drop every entry.  Safe against destructors that push new entries:
 * those are dropped too. */
void ready_clear(ready_queue *q);

/* ready_clear, then free the buffer. */
void ready_free(ready_queue *q);

int ready_traverse(ready_queue *q, visitproc visit, void *arg);

#endif /* PYASYNC_READY_H */
