/* task_numbers.h: the N of default task names Task-N.
 *
 * asyncio numbers tasks from one counter per process, in the order they
 * are made.  Free-threaded, one counter that every loop's thread bumps
 * per task is a cache line they fight over (a tenth of Task() with two
 * loops in two threads).  So while a loop runs on a thread, the thread
 * takes numbers in blocks, and gives back what it did not use when the
 * loop stops, if no other thread took numbers since: a program whose
 * threads make tasks one after the other numbers them as asyncio does,
 * and threads making tasks at the same time get unique numbers, in an
 * order that was never defined.  With the GIL it is the one counter. */
#ifndef PYASYNC_TASK_NUMBERS_H
#define PYASYNC_TASK_NUMBERS_H

#include "pyasync.h"

/* The next N (from 1). */
uint64_t task_number_next(pyasync_state *st);

#ifdef Py_GIL_DISABLED
/* A loop of module state st starts (hold) or stops (release) running on
 * the calling thread; they nest. */
void task_numbers_hold(void);
void task_numbers_release(pyasync_state *st);
#else
#define task_numbers_hold() ((void)0)
#define task_numbers_release(st) ((void)(st))
#endif

#endif /* PYASYNC_TASK_NUMBERS_H */
