/* task_numbers.c: Task-N numbers, in blocks per thread while a loop runs
 * on it, free-threaded (see task_numbers.h). */
#include "core/task_numbers.h"

#ifdef Py_GIL_DISABLED

/* Numbers a thread takes at once. */
#define NUMBER_BLOCK 64

/* The calling thread's block: numbers [next, end) of st's counter. */
static _Thread_local pyasync_state *tls_block_st;
static _Thread_local uint64_t tls_next, tls_end;
static _Thread_local int tls_running;

uint64_t
task_number_next(pyasync_state *st)
{
    if (tls_block_st == st && tls_next < tls_end) {
        return tls_next++;
    }
    if (tls_running == 0) {
        return _Py_atomic_add_uint64(&st->task_name_counter, 1) + 1;
    }
    /* The counter holds the last number given out. */
    uint64_t first = _Py_atomic_add_uint64(&st->task_name_counter,
                                           NUMBER_BLOCK) + 1;
    tls_block_st = st;
    tls_next = first + 1;
    tls_end = first + NUMBER_BLOCK;
    return first;
}

void
task_numbers_hold(void)
{
    tls_running++;
}

void
task_numbers_release(pyasync_state *st)
{
    if (--tls_running > 0) {
        return;
    }
    if (tls_block_st == st && tls_next < tls_end) {
        /* Still the last block taken?  Then the counter goes back to the
         * last number used; else the rest of the block stays unused. */
        uint64_t expected = tls_end - 1;
        (void)_Py_atomic_compare_exchange_uint64(&st->task_name_counter,
                                                 &expected, tls_next - 1);
    }
    tls_block_st = NULL;
    tls_next = tls_end = 0;
}

#else

uint64_t
task_number_next(pyasync_state *st)
{
    return ++st->task_name_counter;
}

#endif /* Py_GIL_DISABLED */
