/* udp.h: _core.UDPHandle, the libuv side of datagram transports
 * (pyasync/_udp_io.py holds the transport logic). */
#ifndef PYASYNC_IO_UDP_H
#define PYASYNC_IO_UDP_H

#include "core/loop.h"

int pyasync_udp_init(PyObject *module, pyasync_state *st);

#endif /* PYASYNC_IO_UDP_H */
