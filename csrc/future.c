/* future.c: placeholder until its implementation lands. */
#include "pyasync.h"

int
pyasync_future_init(PyObject *module, pyasync_state *st)
{
    (void)module;
    (void)st;
    return 0;
}
