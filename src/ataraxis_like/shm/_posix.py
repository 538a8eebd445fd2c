"""Thin ctypes bindings to the libc calls the shared-memory layer is built on.

Robust, process-shared pthread mutexes give a lock that the kernel hands on (with ``EOWNERDEAD``)
when its holder dies, and futex wait/wake give blocking without polling. Non-blocking calls go
through ``PyDLL`` (the GIL is kept: cheaper for a call that cannot block); blocking calls go
through ``CDLL`` so other threads run while one waits.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedPlatformError

MUTEX_BYTES = 64
"""Room reserved for one ``pthread_mutex_t`` (40 bytes on x86_64, 48 on aarch64)."""

EOWNERDEAD = errno.EOWNERDEAD
EBUSY = errno.EBUSY
ETIMEDOUT = errno.ETIMEDOUT
EDEADLK = errno.EDEADLK
EAGAIN = errno.EAGAIN
EINTR = errno.EINTR
EINVAL = errno.EINVAL
ENOTRECOVERABLE = errno.ENOTRECOVERABLE

_PTHREAD_PROCESS_SHARED = 1
_PTHREAD_MUTEX_ROBUST = 1
_PTHREAD_MUTEX_ERRORCHECK = 2
_CLOCK_MONOTONIC = 1
_FUTEX_WAIT = 0
_FUTEX_WAKE = 1
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine())


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _load() -> tuple[ctypes.PyDLL, ctypes.CDLL]:
    if not sys.platform.startswith("linux") or _SYS_FUTEX is None:
        raise UnsupportedPlatformError(
            f"shared memory needs Linux on x86_64 or aarch64 (got {sys.platform} on "
            f"{platform.machine()}); run on a supported machine"
        )
    return ctypes.PyDLL(None, use_errno=True), ctypes.CDLL(None, use_errno=True)


_keep_gil, _free_gil = _load()

# The hot path: ``trylock(pointer(a))`` and ``unlock(pointer(a))``. The compiled accelerator
# (built with the wheel when a C compiler is there) calls the very same libc functions about 4x
# faster than ctypes; without it, ctypes gets a pre-built ``c_void_p`` and no argtypes, which skips
# per-call conversion. ATARAXIS_LIKE_NO_EXTENSION=1 forces the ctypes path (tests use it).
_ctypes_trylock = _keep_gil.pthread_mutex_trylock
_ctypes_trylock.restype = ctypes.c_int
_ctypes_unlock = _keep_gil.pthread_mutex_unlock
_ctypes_unlock.restype = ctypes.c_int


def _ctypes_trylock_clear(mutex: Any, word_address: int) -> int:
    """trylock; when taken, zero the 64-bit word at ``word_address`` (a few bytecodes later:
    the compiled version does it in the same call)."""
    result: int = _ctypes_trylock(mutex)
    if result == 0:
        ctypes.c_uint64.from_address(word_address).value = 0
    return result


trylock: Callable[[Any], int]
unlock: Callable[[Any], int]
trylock_clear: Callable[[Any, int], int]
RingWriter: Any
lock_until: Callable[[Any, float, int], int] | None
try:
    if os.environ.get("ATARAXIS_LIKE_NO_EXTENSION"):
        raise ImportError("disabled by ATARAXIS_LIKE_NO_EXTENSION")
    from ._fastlock import RingWriter, lock_until, trylock, trylock_clear, unlock

    ACCELERATED = True
except ImportError:
    lock_until = None
    trylock, unlock = _ctypes_trylock, _ctypes_unlock
    trylock_clear = _ctypes_trylock_clear
    RingWriter = None  # the ring's Python put is used instead
    ACCELERATED = False
_consistent = _keep_gil.pthread_mutex_consistent
_consistent.argtypes = [ctypes.c_void_p]
_consistent.restype = ctypes.c_int

try:
    _clocklock = _free_gil.pthread_mutex_clocklock
    _clocklock.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Timespec)]
    _clocklock.restype = ctypes.c_int
    _HAS_CLOCKLOCK = True
except AttributeError:  # glibc older than 2.30: fall back to the realtime clock
    _timedlock = _free_gil.pthread_mutex_timedlock
    _timedlock.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Timespec)]
    _timedlock.restype = ctypes.c_int
    _HAS_CLOCKLOCK = False

_syscall_free = _free_gil.syscall
_syscall_free.restype = ctypes.c_long
_syscall_keep = _keep_gil.syscall
_syscall_keep.restype = ctypes.c_long


def mutex_init(address: int) -> None:
    """Initialise a robust, process-shared, error-checking mutex at ``address``."""
    attr = ctypes.create_string_buffer(64)
    calls = (
        ("pthread_mutexattr_init", (attr,)),
        ("pthread_mutexattr_setpshared", (attr, _PTHREAD_PROCESS_SHARED)),
        ("pthread_mutexattr_setrobust", (attr, _PTHREAD_MUTEX_ROBUST)),
        ("pthread_mutexattr_settype", (attr, _PTHREAD_MUTEX_ERRORCHECK)),
    )
    for function_name, arguments in calls:
        result = getattr(_keep_gil, function_name)(*arguments)
        if result != 0:
            raise OSError(result, f"{function_name}: {os.strerror(result)}")
    result = _keep_gil.pthread_mutex_init(ctypes.c_void_p(address), attr)
    _keep_gil.pthread_mutexattr_destroy(attr)
    if result != 0:
        raise OSError(result, f"pthread_mutex_init: {os.strerror(result)}")


def _glibc_kind_offset() -> int | None:
    """Where glibc keeps a mutex's type word (16 on every 64-bit glibc); None on another libc."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    return 16 if libc.startswith("glibc") and ctypes.sizeof(ctypes.c_void_p) == 8 else None


def _reference_kind(offset: int | None) -> int | None:
    if offset is None:
        return None
    reference = ctypes.create_string_buffer(MUTEX_BYTES)
    mutex_init(ctypes.addressof(reference))
    return int.from_bytes(reference.raw[offset : offset + 4], "little", signed=True)


_KIND_OFFSET = _glibc_kind_offset()
MUTEX_KIND = _reference_kind(_KIND_OFFSET)
"""The type word of a mutex as ``mutex_init`` leaves it (robust, shared, error-checking), or
None where the libc's layout is not known. A segment's mutex must still carry it: glibc reads
the word on every call, and a corrupted one can make it abort the process on an assertion."""


def mutex_kind_ok(address: int) -> bool:
    """True when the mutex at ``address`` has the type ``mutex_init`` gave it (or we cannot
    tell). The compiled calls check this themselves on every call; the ctypes ones do not."""
    if _KIND_OFFSET is None:
        return True
    return ctypes.c_int.from_address(address + _KIND_OFFSET).value == MUTEX_KIND


def pointer(address: int) -> Any:
    """The argument form ``trylock`` and ``unlock`` take: ``trylock(pointer(a))`` returns 0 when
    taken, EBUSY when held elsewhere, EOWNERDEAD when taken from a dead holder."""
    return address if ACCELERATED else ctypes.c_void_p(address)


def lock_word(address: int) -> ctypes.c_int:
    """The mutex's owner word (0 when free in glibc's layout), read to spin without writing.

    Only a hint: the lock is always taken with ``trylock``, so a libc with another layout only
    spins less before blocking.
    """
    return ctypes.c_int.from_address(address)


def mutex_lock_until(address: Any, deadline: float, clear_address: int | None = None) -> int:
    """Wait until taken or ``time.monotonic()`` passes ``deadline``; return an errno (0: taken).

    With ``clear_address``, a plain acquisition zeroes that 64-bit word: in the same call when
    compiled, a few bytecodes later through ctypes."""
    if lock_until is not None:
        return lock_until(address, deadline, clear_address or 0)
    result = _ctypes_lock_until(address, deadline)
    if result == 0 and clear_address is not None:
        ctypes.c_uint64.from_address(clear_address).value = 0
    return result


def _ctypes_lock_until(address: Any, deadline: float) -> int:
    remaining = max(0.0, deadline - time.monotonic())
    if _HAS_CLOCKLOCK:
        now = time.clock_gettime(time.CLOCK_MONOTONIC)
        target = now + remaining
        spec = _Timespec(int(target), int((target % 1.0) * 1e9))
        return int(_clocklock(address, _CLOCK_MONOTONIC, ctypes.byref(spec)))
    target = time.time() + remaining
    spec = _Timespec(int(target), int((target % 1.0) * 1e9))
    return int(_timedlock(address, ctypes.byref(spec)))


def mutex_make_consistent(address: Any) -> int:
    return int(_consistent(address))


def futex_wait(address: int, expected: int, timeout: float) -> bool:
    """Sleep while the 32-bit word at ``address`` equals ``expected``, at most ``timeout`` seconds.

    Returns False only when the timeout passed with no wake-up; callers re-check their condition
    either way.
    """
    seconds = max(0.0, timeout)
    spec = _Timespec(int(seconds), int((seconds % 1.0) * 1e9))
    result = _syscall_free(
        _SYS_FUTEX,
        ctypes.c_void_p(address),
        ctypes.c_int(_FUTEX_WAIT),
        ctypes.c_uint32(expected & 0xFFFFFFFF),
        ctypes.byref(spec),
        None,
        ctypes.c_int(0),
    )
    return result == 0 or ctypes.get_errno() != ETIMEDOUT


def futex_wake_all(address: int) -> None:
    """Wake every process sleeping on the 32-bit word at ``address``."""
    _syscall_keep(
        _SYS_FUTEX,
        ctypes.c_void_p(address),
        ctypes.c_int(_FUTEX_WAKE),
        ctypes.c_int(2**31 - 1),
        None,
        None,
        ctypes.c_int(0),
    )
