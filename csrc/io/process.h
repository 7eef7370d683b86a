/* process.h: _core.Process, a child spawned with uv_spawn (the subprocess
 * transport's logic is pyasync/_subprocess_io.py). */
#ifndef PYASYNC_IO_PROCESS_H
#define PYASYNC_IO_PROCESS_H

#include "core/loop.h"

int pyasync_process_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_IO_PROCESS_H */
