/* ft.h: what the free-threaded build (Py_GIL_DISABLED: 3.14t) needs and
 * the GIL build compiles away.
 *
 * With the GIL, the GIL serialises every touch of a loop's state, from
 * whatever thread.  Without it, a loop's state belongs to the thread
 * running it, as asyncio says, and what other threads may do to a loop
 * (call_soon_threadsafe(), stop(), executor completions) goes through
 * the loop's inbox under a lock (core/loop.c), the flags they read and
 * write are relaxed atomics, and the module-wide state they share
 * (the all-tasks ring, counters) has locks or atomics of its own.  Each
 * helper here is a plain access, or nothing, under the GIL. */
#ifndef PYASYNC_FT_H
#define PYASYNC_FT_H

#include <Python.h>

#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX < 0x030E0000
#error "the free-threaded build of pyasync needs CPython 3.14t or later"
#endif

#ifdef Py_GIL_DISABLED

typedef PyMutex pyasync_mutex;
#define pyasync_mutex_lock(m) PyMutex_Lock(m)
#define pyasync_mutex_unlock(m) PyMutex_Unlock(m)

/* The calling thread, as an ob_tid-style identifier (never 0). */
#define pyasync_thread_tid() _Py_ThreadId()

#define FT_LOAD_CHAR(x) _Py_atomic_load_char_relaxed(&(x))
/* (An enum, as an int: non-negative enums are unsigned ints here.) */
#define FT_LOAD_ENUM(x) _Py_atomic_load_int_relaxed((const int *)&(x))
#define FT_STORE_ENUM(x, v) _Py_atomic_store_int_relaxed((int *)&(x), (int)(v))
#define FT_STORE_CHAR(x, v) _Py_atomic_store_char_relaxed(&(x), (char)(v))
#define FT_LOAD_SSIZE(x) _Py_atomic_load_ssize_relaxed(&(x))
#define FT_STORE_SSIZE(x, v) _Py_atomic_store_ssize_relaxed(&(x), (v))
#define FT_ADD_SSIZE(x, v) ((void)_Py_atomic_add_ssize(&(x), (v)))
#define FT_LOAD_PTR(x) _Py_atomic_load_ptr_relaxed(&(x))
#define FT_STORE_PTR(x, v) _Py_atomic_store_ptr_relaxed(&(x), (v))
#define FT_LOAD_ULONG(x) _Py_atomic_load_ulong_relaxed(&(x))
#define FT_STORE_ULONG(x, v) _Py_atomic_store_ulong_relaxed(&(x), (v))
#define FT_LOAD_UINTPTR(x) _Py_atomic_load_uintptr_relaxed(&(x))
#define FT_STORE_UINTPTR(x, v) _Py_atomic_store_uintptr_relaxed(&(x), (v))

#else

/* Under the GIL: the GIL is the lock. */
typedef struct { char unused; } pyasync_mutex;
#define pyasync_mutex_lock(m) ((void)0)
#define pyasync_mutex_unlock(m) ((void)0)

#define FT_LOAD_CHAR(x) (x)
#define FT_LOAD_ENUM(x) (x)
#define FT_STORE_ENUM(x, v) ((x) = (v))
#define FT_STORE_CHAR(x, v) ((x) = (char)(v))
#define FT_LOAD_SSIZE(x) (x)
#define FT_STORE_SSIZE(x, v) ((x) = (v))
#define FT_ADD_SSIZE(x, v) ((void)((x) += (v)))
#define FT_LOAD_PTR(x) (x)
#define FT_STORE_PTR(x, v) ((x) = (v))
#define FT_LOAD_ULONG(x) (x)
#define FT_STORE_ULONG(x, v) ((x) = (v))
#define FT_LOAD_UINTPTR(x) (x)
#define FT_STORE_UINTPTR(x, v) ((x) = (v))

#endif /* Py_GIL_DISABLED */

/* Critical sections came with 3.13 (no-ops there under the GIL). */
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif

#endif /* PYASYNC_FT_H */
