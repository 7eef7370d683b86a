/* send_baseline.c: the floor under a sleep(0) switch.
 *
 * Embeds Python and drives 100 coroutines round-robin with PyIter_Send
 * from a C loop, each doing `for _ in range(rounds): await sleep0()`
 * where sleep0 is a bare generator yield (asyncio's own __sleep0).  No
 * event loop, no Task, no ready queue: what is left is the coroutine's
 * own resume and suspend, which any loop pays.  Prints the seconds per
 * send of the timed run (after a warm-up of a tenth).
 *
 *     send_baseline N      (N switches in all) */
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define COROUTINES 100

static const char SOURCE[] =
    "import types\n"
    "@types.coroutine\n"
    "def sleep0():\n"
    "    yield\n"
    "async def spinner(rounds):\n"
    "    for _ in range(rounds):\n"
    "        await sleep0()\n";

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds for COROUTINES coroutines of `rounds` switches each; -1 on error. */
static double
run(PyObject *spinner, long rounds)
{
    PyObject *coros[COROUTINES];
    for (int i = 0; i < COROUTINES; i++) {
        coros[i] = PyObject_CallFunction(spinner, "l", rounds);
        if (coros[i] == NULL) {
            return -1;
        }
    }
    int live = COROUTINES;
    double start = now();
    while (live > 0) {
        for (int i = 0; i < COROUTINES; i++) {
            if (coros[i] == NULL) {
                continue;
            }
            PyObject *out;
            PySendResult r = PyIter_Send(coros[i], Py_None, &out);
            if (r == PYGEN_ERROR) {
                return -1;
            }
            Py_DECREF(out);
            if (r == PYGEN_RETURN) {
                Py_CLEAR(coros[i]);
                live--;
            }
        }
    }
    return now() - start;
}

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    long rounds = n / COROUTINES > 0 ? n / COROUTINES : 1;
    Py_Initialize();
    PyObject *globals = PyDict_New();
    if (globals == NULL
        || PyDict_SetItemString(globals, "__builtins__",
                                PyEval_GetBuiltins()) < 0) {
        goto error;
    }
    PyObject *done = PyRun_String(SOURCE, Py_file_input, globals, globals);
    if (done == NULL) {
        goto error;
    }
    Py_DECREF(done);
    PyObject *spinner = PyDict_GetItemString(globals, "spinner");  /* borrowed */
    if (spinner == NULL || run(spinner, rounds / 10 + 1) < 0) {
        goto error;
    }
    double seconds = run(spinner, rounds);
    if (seconds < 0) {
        goto error;
    }
    printf("%.9f\n", seconds / (double)(rounds * COROUTINES));
    Py_DECREF(globals);
    return Py_FinalizeEx() < 0 ? 1 : 0;
error:
    PyErr_Print();
    return 1;
}
