/* io.h: a loop's I/O state, shared by the files of csrc/io.
 *
 * libuv calls our callbacks inside uv_run, maybe without the GIL (see
 * pyasync_loop_hold_gil in loop.h).  These callbacks touch no Python
 * object: they only note what happened
 * (poll events, a signal, a finished DNS request) and link the C record
 * into a list.  pyasync_io_after_poll() turns those lists into ready-queue
 * entries right after uv_run returns, before the due timers: asyncio's
 * order, and no GIL round trip per event.
 *
 * Python references held by a record are dropped (with the GIL) before
 * its libuv handle is closed; close callbacks only free memory. */
#ifndef PYASYNC_IO_H
#define PYASYNC_IO_H

#include "core/loop.h"
#include <sys/types.h>

/* One uv_poll per fd, shared by its reader and its writer. */
typedef struct io_poll {
    uv_poll_t uv;                /* first: the close callback frees us */
    struct pyasync_io *io;
    int fd;
    int mask;                    /* UV_READABLE | UV_WRITABLE wanted */
    int events;                  /* reported since the last flush */
    dev_t dev;                   /* the file asyncio's epoll would have */
    ino_t ino;                   /* registered (fstat when first added) */
    char queued;                 /* in io->ready_polls */
    char dirty;                  /* in io->dirty_polls */
    char closing;
    char dead;                   /* that file left fd: libuv stopped */
    char errored;                /* libuv stopped it on POLLERR */
    PyObject *reader;            /* Handle or NULL */
    PyObject *writer;
    PyObject *fileobj;           /* the object first added (not an int),
                                    found by identity once closed */
    struct io_poll *next_ready;
    struct io_poll *next_dirty;
} io_poll;

typedef struct io_signal {
    uv_signal_t uv;
    struct pyasync_io *io;
    int signum;
    char queued;
    char closing;
    PyObject *handle;            /* Handle */
    struct io_signal *next;      /* io->signals */
    struct io_signal *next_ready;
} io_signal;

/* A getaddrinfo or getnameinfo request. */
typedef struct io_dns {
    union {
        uv_getaddrinfo_t ai;
        uv_getnameinfo_t ni;
    } req;
    struct pyasync_io *io;
    char is_nameinfo;
    int status;
    struct addrinfo *res;        /* getaddrinfo's result, owned */
    char host[1025];             /* getnameinfo's result */
    char service[32];
    PyObject *future;
    struct io_dns *prev, *next;  /* io->dns: every live request */
    struct io_dns *next_done;
} io_dns;

typedef struct pyasync_io {
    LoopObj *loop;               /* borrowed: the loop owns us */
    io_poll **polls;             /* indexed by fd */
    int npolls;
    io_poll *ready_polls, **ready_polls_tail;
    io_poll *dirty_polls;
    io_signal *signals;
    io_signal *ready_signals;
    io_dns *dns;
    io_dns *done_dns, **done_dns_tail;
    PyObject *sock_callbacks[8]; /* sock.c: the reader/writer callbacks */
    PyObject *check_ssl_socket;  /* sock.c: base_events._check_ssl_socket */
    /* stream.c: the bytes libuv reads into, shared by all streams (one
     * read at a time: alloc_cb is always followed by its read_cb). */
    PyObject *rbuf;
    PyObject *rbuf_spare;        /* a large read's bytes, handed back */
    PyObject *rbulk;             /* BULK_READ_SIZE bytes for bulk reads */
    /* Protocol method names, interned once: a C-string call would build
     * and hash a new str per call and miss the type's method cache. */
    PyObject *str_data_received;
    PyObject *str_eof_received;
    PyObject *str_get_buffer;
    PyObject *str_buffer_updated;
} pyasync_io;

/* The loop's I/O state, made on first use; NULL with MemoryError. */
pyasync_io *io_get(LoopObj *loop);

/* libuv is not thread-safe: while the loop runs (inside uv_run, without
 * the GIL) only its own thread may touch its handles.  -1 with
 * RuntimeError otherwise. */
int io_check_thread(LoopObj *loop);

/* poll.c */
int io_fileobj_to_fd(PyObject *fileobj, int *fd);
int io_ensure_fd_no_transport(LoopObj *loop, PyObject *fileobj, int fd);
/* Register handle (stolen? no: a new reference is taken) as the reader
 * or writer of fd, cancelling the one it replaces. */
int io_poll_set(LoopObj *loop, int fd, int writer, PyObject *handle);
/* Remove fd's reader or writer: 1 if there was one, 0 if not. */
int io_poll_remove(LoopObj *loop, int fd, int writer);
/* fd was just made (a dup for a libuv handle): any poll still on that
 * number watched a file closed since; forget it before libuv sees fd. */
void io_poll_forget_stale(pyasync_io *io, int fd);
void io_poll_flush(pyasync_io *io, int *failed);
void io_poll_before_poll(pyasync_io *io);
void io_poll_close_all(pyasync_io *io);
int io_poll_traverse(pyasync_io *io, visitproc visit, void *arg);
void io_poll_clear(pyasync_io *io);

/* signal.c */
void io_signal_flush(pyasync_io *io, int *failed);
void io_signal_close_all(pyasync_io *io);
int io_signal_traverse(pyasync_io *io, visitproc visit, void *arg);
void io_signal_clear(pyasync_io *io);

/* dns.c */
void io_dns_flush(pyasync_io *io, int *failed);
void io_dns_close_all(pyasync_io *io);
void io_dns_free_all(pyasync_io *io);
int io_dns_traverse(pyasync_io *io, visitproc visit, void *arg);
void io_dns_clear(pyasync_io *io);

/* sock.c */
int io_sock_traverse(pyasync_io *io, visitproc visit, void *arg);
void io_sock_clear(pyasync_io *io);

/* Install a file's methods on the Loop type. */
int io_install_methods(pyasync_state *st, PyMethodDef *defs);

int pyasync_io_poll_init(PyObject *module, pyasync_state *st);
int pyasync_io_sock_init(PyObject *module, pyasync_state *st);
int pyasync_io_dns_init(PyObject *module, pyasync_state *st);
int pyasync_io_signal_init(PyObject *module, pyasync_state *st);

/* obj.name(arg), arg passed as is (even a tuple). */
static inline PyObject *
call_method1(PyObject *obj, const char *name, PyObject *arg)
{
    PyObject *n = PyUnicode_InternFromString(name);
    if (n == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethodOneArg(obj, n, arg);
    Py_DECREF(n);
    return r;
}

/* Set OSError (or its subclass) from a libuv error code. */
PyObject *io_uv_error(int err);

#endif /* PYASYNC_IO_H */
