/* asyncio_offsets.h: the offsets _asyncio publishes for out-of-process
 * debuggers (3.14+), read back in-process (asyncio_offsets.c). */
#ifndef PYASYNC_ASYNCIO_OFFSETS_H
#define PYASYNC_ASYNCIO_OFFSETS_H

#include "pyasync.h"

#if PY_VERSION_HEX >= 0x030E0000
/* Where the thread state keeps asyncio's running loop and task. */
typedef struct {
    uint64_t thread_state_size;
    uint64_t running_loop;
    uint64_t running_task;
} asyncio_thread_offsets;

/* Read the offsets from the .AsyncioDebug section of the file that holds
 * fn (a function of _asyncio).  1 found, 0 not available here (no error
 * set). */
int asyncio_offsets_read(PyObject *fn, asyncio_thread_offsets *out);
#endif

#endif /* PYASYNC_ASYNCIO_OFFSETS_H */
