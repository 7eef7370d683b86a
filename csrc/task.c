/* task.c: placeholder until its implementation lands. */
#include "pyasync.h"

int
pyasync_task_init(PyObject *module, pyasync_state *st)
{
    (void)module;
    (void)st;
    return 0;
}
