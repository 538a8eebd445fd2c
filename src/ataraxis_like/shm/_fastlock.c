/* Optional accelerator for the robust lock: pthread_mutex_trylock and pthread_mutex_unlock
 * called directly, without ctypes' per-call argument conversion and libffi set-up (about 40 ns
 * per call instead of 170 ns). Same libc calls, same mutex, same protocol as the ctypes path in
 * _posix.py, which is used whenever this module was not built. The GIL is kept: neither call
 * blocks. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t *mutex_at(PyObject *address)
{
    void *pointer = PyLong_AsVoidPtr(address);
    if (pointer == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "mutex address must not be 0");
    return (pthread_mutex_t *)pointer;
}

static PyObject *fast_trylock(PyObject *module, PyObject *address)
{
    pthread_mutex_t *mutex = mutex_at(address);
    if (mutex == NULL)
        return NULL;
    return PyLong_FromLong(pthread_mutex_trylock(mutex));
}

/* trylock(mutex); when taken (0), store 0 to the 64-bit word at the second address right away.
 * The ring keeps a finished get's intent until the next holder clears it; done here, a holder
 * killed just after acquiring cannot leave that stale intent to be mistaken for its own. */
static PyObject *fast_trylock_clear(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "trylock_clear(mutex_address, word_address)");
        return NULL;
    }
    pthread_mutex_t *mutex = mutex_at(args[0]);
    if (mutex == NULL)
        return NULL;
    volatile unsigned long long *word = PyLong_AsVoidPtr(args[1]);
    if (word == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "word address must not be 0");
        return NULL;
    }
    int result = pthread_mutex_trylock(mutex);
    if (result == 0)
        *word = 0;
    return PyLong_FromLong(result);
}

static PyObject *fast_unlock(PyObject *module, PyObject *address)
{
    pthread_mutex_t *mutex = mutex_at(address);
    if (mutex == NULL)
        return NULL;
    return PyLong_FromLong(pthread_mutex_unlock(mutex));
}

static PyMethodDef methods[] = {
    {"trylock", fast_trylock, METH_O,
     "trylock(address) -> errno: 0 taken, EBUSY held, EOWNERDEAD taken from a dead holder"},
    {"unlock", fast_unlock, METH_O, "unlock(address) -> errno: 0 released"},
    {"trylock_clear", (PyCFunction)(void (*)(void))fast_trylock_clear, METH_FASTCALL,
     "trylock_clear(mutex_address, word_address) -> errno; on 0 the word is set to 0 at once"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastlock", "Direct pthread mutex trylock/unlock.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastlock(void) { return PyModule_Create(&module); }
