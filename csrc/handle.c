/* handle.c: placeholder until its implementation lands. */
#include "pyasync.h"

int
pyasync_handle_init(PyObject *module, pyasync_state *st)
{
    (void)module;
    (void)st;
    return 0;
}
