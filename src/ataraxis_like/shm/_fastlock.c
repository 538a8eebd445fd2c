/* Optional accelerator for the robust lock: pthread_mutex_trylock and pthread_mutex_unlock
 * called directly, without ctypes' per-call argument conversion and libffi set-up (about 40 ns
 * per call instead of 170 ns). Same libc calls, same mutex, same protocol as the ctypes path in
 * _posix.py, which is used whenever this module was not built. The GIL is kept: neither call
 * blocks. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t *mutex_at(PyObject *address)
{
    void *pointer = PyLong_AsVoidPtr(address);
    if (pointer == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "mutex address must not be 0");
    return (pthread_mutex_t *)pointer;
}

/* The type word glibc keeps in a mutex initialised as _posix.mutex_init does (robust,
 * process-shared, error-checking), read from a reference mutex at import; -1 where unknown. A
 * mutex in a segment whose type word differs was corrupted: glibc would take it for another
 * kind of mutex (priority-inheriting, priority-protected ...) and may abort the process on an
 * assertion. Every call below checks the word first (one comparison) and answers EINVAL. */
static int expected_kind = -1;

static int reference_kind(void)
{
#ifdef __GLIBC__
    pthread_mutexattr_t attributes;
    pthread_mutex_t reference;
    int kind = -1;
    if (pthread_mutexattr_init(&attributes) != 0)
        return -1;
    if (pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED) == 0 &&
        pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST) == 0 &&
        pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK) == 0 &&
        pthread_mutex_init(&reference, &attributes) == 0) {
        kind = reference.__data.__kind;
        pthread_mutex_destroy(&reference);
    }
    pthread_mutexattr_destroy(&attributes);
    return kind;
#else
    return -1;
#endif
}

static inline int mutex_sane(pthread_mutex_t *mutex)
{
#ifdef __GLIBC__
    return expected_kind < 0 || mutex->__data.__kind == expected_kind;
#else
    (void)mutex;
    return 1;
#endif
}

static PyObject *fast_trylock(PyObject *module, PyObject *address)
{
    pthread_mutex_t *mutex = mutex_at(address);
    if (mutex == NULL)
        return NULL;
    if (!mutex_sane(mutex))
        return PyLong_FromLong(EINVAL);
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
    if (!mutex_sane(mutex))
        return PyLong_FromLong(EINVAL);
    int result = pthread_mutex_trylock(mutex);
    if (result == 0)
        *word = 0;
    return PyLong_FromLong(result);
}

/* lock_until(mutex_address, deadline, word_address) -> errno. Blocks (without the GIL) until
 * the mutex is taken or the CLOCK_MONOTONIC time ``deadline`` (seconds, as time.monotonic())
 * passes. When taken plainly (0) and word_address is not 0, stores 0 there in the same call, as
 * trylock_clear does: a holder killed right after a blocking acquisition then leaves no stale
 * intent behind either. */
static PyObject *fast_lock_until(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "lock_until(mutex_address, deadline, word_address)");
        return NULL;
    }
    pthread_mutex_t *mutex = mutex_at(args[0]);
    if (mutex == NULL)
        return NULL;
    double deadline = PyFloat_AsDouble(args[1]);
    if (deadline == -1.0 && PyErr_Occurred())
        return NULL;
    volatile unsigned long long *word = PyLong_AsVoidPtr(args[2]);
    if (word == NULL && PyErr_Occurred())
        return NULL;
    if (!mutex_sane(mutex))
        return PyLong_FromLong(EINVAL);
    if (deadline < 0)
        deadline = 0;
    struct timespec until;
    until.tv_sec = (time_t)deadline;
    until.tv_nsec = (long)((deadline - (double)until.tv_sec) * 1e9);
    int result;
    Py_BEGIN_ALLOW_THREADS
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
    result = pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &until);
#else /* older libc: the same wait, measured on the realtime clock */
    struct timespec now_monotonic, now_real;
    clock_gettime(CLOCK_MONOTONIC, &now_monotonic);
    clock_gettime(CLOCK_REALTIME, &now_real);
    double remaining = deadline - ((double)now_monotonic.tv_sec + now_monotonic.tv_nsec / 1e9);
    double target = (double)now_real.tv_sec + now_real.tv_nsec / 1e9 + (remaining > 0 ? remaining : 0);
    until.tv_sec = (time_t)target;
    until.tv_nsec = (long)((target - (double)until.tv_sec) * 1e9);
    result = pthread_mutex_timedlock(mutex, &until);
#endif
    if (result == 0 && word != NULL)
        *word = 0;
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(result);
}

static PyObject *fast_unlock(PyObject *module, PyObject *address)
{
    pthread_mutex_t *mutex = mutex_at(address);
    if (mutex == NULL)
        return NULL;
    if (!mutex_sane(mutex))
        return PyLong_FromLong(EINVAL);
    return PyLong_FromLong(pthread_mutex_unlock(mutex));
}


/* RingWriter: the ring's put (shm/_ring_put.py, RingPuts.put) for a record that fits before
 * the end of the lap, done in one call. The layout mirrors _ring_core.py and docs/queue.md:
 * control words are u64 (free 0, tail 2, put 3, intent 7), futex words u32 (put 0, consumers
 * waiting 2), records start with the 16-byte header <IBBHII (size, kind, state, meta length,
 * payload length, taker).
 * The commit is the same single store to tail after the record is written, so a writer killed
 * at any instant leaves the old or the new state, exactly as the Python path does. */
enum { C_FREE = 0, C_TAIL = 2, C_PUT = 3, C_INTENT = 7, W_PUT = 0, W_CONSUMERS_WAITING = 2 };
#define RECORD_HEADER_BYTES 16
#define RELEASE_GIL_BYTES (256 * 1024)

typedef struct {
    PyObject_HEAD
    pthread_mutex_t *mutex;
    uint64_t *control;
    uint32_t *words;
    uint32_t *flags;
    unsigned char *buffer;
    uint64_t capacity;
} RingWriter;

static int writer_init(RingWriter *self, PyObject *args, PyObject *kwargs)
{
    PyObject *mutex, *control, *words, *flags, *buffer;
    unsigned long long capacity;
    if (!PyArg_ParseTuple(args, "OOOOOK", &mutex, &control, &words, &flags, &buffer, &capacity))
        return -1;
    self->mutex = PyLong_AsVoidPtr(mutex);
    self->control = PyLong_AsVoidPtr(control);
    self->words = PyLong_AsVoidPtr(words);
    self->flags = PyLong_AsVoidPtr(flags);
    self->buffer = PyLong_AsVoidPtr(buffer);
    self->capacity = capacity;
    if (PyErr_Occurred())
        return -1;
    if (!self->mutex || !self->control || !self->words || !self->flags || !self->buffer ||
        capacity == 0) {
        PyErr_SetString(PyExc_ValueError, "RingWriter needs non-zero addresses and capacity");
        return -1;
    }
    return 0;
}

/* put(kind, meta, payload, locked) -> 0 written; -1 not written (closed, failed, no room or
 * the record would cross the end of the lap: the caller's general path decides); otherwise
 * the errno of a trylock that did not take the lock plainly (EBUSY, or EOWNERDEAD: then the
 * lock is held and must be recovered). With locked=1 the caller already holds the lock. The
 * lock is always released when 0 or -1 is returned, and when an error is raised. */
static PyObject *writer_put(RingWriter *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "put(kind, meta, payload, locked)");
        return NULL;
    }
    int locked = PyObject_IsTrue(args[3]);
    if (locked < 0)
        return NULL;
    long kind = PyLong_AsLong(args[0]);
    Py_buffer meta, payload;
    int meta_ok = 0, payload_ok = 0;
    if (!(kind == -1 && PyErr_Occurred()))
        meta_ok = PyObject_GetBuffer(args[1], &meta, PyBUF_SIMPLE) == 0;
    if (meta_ok)
        payload_ok = PyObject_GetBuffer(args[2], &payload, PyBUF_SIMPLE) == 0;
    if (!payload_ok) { /* never return an error with the lock still held */
        if (meta_ok)
            PyBuffer_Release(&meta);
        if (locked)
            pthread_mutex_unlock(self->mutex);
        return NULL;
    }
    long status = -1;
    uint64_t need = (RECORD_HEADER_BYTES + (uint64_t)meta.len + (uint64_t)payload.len + 15) &
                    ~(uint64_t)15;
    if (meta.len > 0xFFFF || (uint64_t)payload.len > 0xFFFFFFFFu || need > self->capacity) {
        if (locked)
            pthread_mutex_unlock(self->mutex);
        goto done; /* the general path raises the clear error */
    }
    if (!locked) {
        int result = mutex_sane(self->mutex) ? pthread_mutex_trylock(self->mutex) : EINVAL;
        if (result != 0) {
            status = result;
            goto done;
        }
    }
    self->control[C_INTENT] = 0; /* a finished get's intent, cleared by its next holder */
    uint64_t tail = self->control[C_TAIL], free = self->control[C_FREE];
    uint64_t offset = tail % self->capacity;
    /* Positions that no intact ring holds (free past tail, more than a lap apart, off the
     * 16-byte grid) also go to the general path, which raises CorruptSegmentError. Whatever
     * they hold, the record is written inside the ring: offset + need <= capacity. */
    int fits = *self->flags == 0 && free <= tail && tail - free <= self->capacity &&
               (tail & 15) == 0 && offset + need <= self->capacity &&
               tail - free + need <= self->capacity;
    uint32_t waiting = 0;
    if (fits) {
        unsigned char *record = self->buffer + offset;
        uint32_t size = (uint32_t)need, payload_length = (uint32_t)payload.len, taker = 0;
        uint16_t meta_length = (uint16_t)meta.len;
        memcpy(record, &size, 4);
        record[4] = (unsigned char)kind;
        record[5] = 0; /* STATE_READY */
        memcpy(record + 6, &meta_length, 2);
        memcpy(record + 8, &payload_length, 4);
        memcpy(record + 12, &taker, 4);
        memcpy(record + RECORD_HEADER_BYTES, meta.buf, meta.len);
        if (payload.len >= RELEASE_GIL_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            memcpy(record + RECORD_HEADER_BYTES + meta.len, payload.buf, payload.len);
            Py_END_ALLOW_THREADS
        } else {
            memcpy(record + RECORD_HEADER_BYTES + meta.len, payload.buf, payload.len);
        }
        __atomic_store_n(&self->control[C_TAIL], tail + need, __ATOMIC_RELEASE); /* commit */
        self->control[C_PUT] += 1;
        __atomic_store_n(&self->words[W_PUT], self->words[W_PUT] + 1, __ATOMIC_RELEASE);
        waiting = self->words[W_CONSUMERS_WAITING];
        status = 0;
    }
    pthread_mutex_unlock(self->mutex);
    if (waiting) /* after unlocking, so the woken consumer finds the lock free */
        syscall(SYS_futex, &self->words[W_PUT], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
done:
    PyBuffer_Release(&payload);
    PyBuffer_Release(&meta);
    return PyLong_FromLong(status);
}

static PyMethodDef writer_methods[] = {
    {"put", (PyCFunction)(void (*)(void))writer_put, METH_FASTCALL,
     "put(kind, meta, payload, locked) -> 0 written, -1 not written, or the trylock errno"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RingWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ataraxis_like.shm._fastlock.RingWriter",
    .tp_basicsize = sizeof(RingWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RingWriter(mutex, control, words, flags, buffer, capacity): the ring's fast put",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)writer_init,
    .tp_methods = writer_methods,
};

static PyMethodDef methods[] = {
    {"trylock", fast_trylock, METH_O,
     "trylock(address) -> errno: 0 taken, EBUSY held, EOWNERDEAD taken from a dead holder"},
    {"unlock", fast_unlock, METH_O, "unlock(address) -> errno: 0 released"},
    {"trylock_clear", (PyCFunction)(void (*)(void))fast_trylock_clear, METH_FASTCALL,
     "trylock_clear(mutex_address, word_address) -> errno; on 0 the word is set to 0 at once"},
    {"lock_until", (PyCFunction)(void (*)(void))fast_lock_until, METH_FASTCALL,
     "lock_until(mutex_address, monotonic_deadline, word_address) -> errno; on 0 a non-zero "
     "word address is set to 0 at once"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastlock", "Direct pthread mutex trylock/unlock.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastlock(void)
{
    expected_kind = reference_kind();
    if (PyType_Ready(&RingWriterType) < 0)
        return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL)
        return NULL;
    if (PyModule_AddIntConstant(created, "MUTEX_KIND", expected_kind) < 0 ||
        PyModule_AddObjectRef(created, "RingWriter", (PyObject *)&RingWriterType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
