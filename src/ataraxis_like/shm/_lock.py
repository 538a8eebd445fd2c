"""A cross-process lock that survives the death of its holder.

The lock is a robust, process-shared pthread mutex stored inside a shared-memory segment. Every
process that maps the segment shares it; threads exclude each other too (ownership is per thread).
When a holder dies (even by SIGKILL) the kernel marks the mutex and wakes one waiter, which takes
the lock with ``EOWNERDEAD``: we then mark the mutex consistent, count the recovery in the segment
header and warn, because the data it guarded may be half-updated. See docs/shared-memory.md.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import (
    CorruptSegmentError,
    LockOwnerDiedWarning,
    LockReentryError,
    LockTimeoutError,
)
from . import _posix

_WAIT_SLICE_SECONDS = 0.1
"""Blocking waits are cut into slices so Ctrl-C and closed segments are noticed promptly."""


_SPIN_ATTEMPTS = 1000
"""Looks at the lock word before blocking (tens of microseconds): a holder on the other core
usually lets go within a few microseconds, and blocking in the kernel costs far more than that."""


class RobustLock:
    """The lock living at ``address`` inside a mapped segment; ``label`` names it in errors.

    Hot paths call ``_posix.trylock(lock.pointer)`` themselves and fall back to ``acquire_slow``;
    everything else uses ``acquire``/``release`` or ``held``.
    """

    __slots__ = ("_address", "_label", "_name", "_on_recovered", "_warn", "_word", "pointer")

    def __init__(
        self,
        address: int,
        label: str,
        on_recovered: Callable[[], None],
        warn: bool = True,
        name: str | None = None,
    ) -> None:
        self.pointer = _posix.pointer(address)
        self._address = address
        self._word = _posix.lock_word(address)
        self._label = label
        self._name = name
        self._on_recovered = on_recovered
        self._warn = warn

    def check(self) -> None:
        """Raise CorruptSegmentError unless the mutex still has the type it was made with."""
        if not _posix.mutex_kind_ok(self._address):
            raise self._corrupt(f"its type word is not {_posix.MUTEX_KIND}")

    def _corrupt(self, what: str) -> CorruptSegmentError:
        return CorruptSegmentError(
            f"the lock of {self._label} is corrupt ({what}); stop the processes using it and "
            "remove it with 'ataraxis-like shm clean' once its creator has ended",
            name=self._name,
        )

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock; return True when it was recovered from a dead holder.

        Raises LockTimeoutError when ``timeout`` seconds pass first and LockReentryError when
        the calling thread already holds it.
        """
        result = _posix.trylock(self.pointer)
        if result == 0:
            return False
        return self.acquire_slow(result, timeout)

    def acquire_slow(
        self, result: int, timeout: float | None, clear_address: int | None = None
    ) -> bool:
        """Finish an acquisition whose first ``trylock`` returned ``result`` (non-zero).

        With ``clear_address``, a plain acquisition zeroes that 64-bit word in the same call
        that takes the lock (see ``_posix.trylock_clear`` and ``_posix.mutex_lock_until``)."""
        pointer = self.pointer
        self.check()  # the compiled calls check on every call; this covers the ctypes ones
        if result == _posix.EBUSY:
            # Test before test-and-set: reading the word leaves the cache line with the holder,
            # where a failing trylock (an atomic write) would pull it away and slow the holder.
            word, busy = self._word, _posix.EBUSY
            trylock_clear, trylock = _posix.trylock_clear, _posix.trylock
            for _ in range(_SPIN_ATTEMPTS):
                if not word.value:
                    if clear_address is None:
                        result = trylock(pointer)
                    else:
                        result = trylock_clear(pointer, clear_address)
                    if result != busy:
                        break
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while result in (_posix.EBUSY, _posix.ETIMEDOUT, _posix.EINTR):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise LockTimeoutError(
                    f"lock of {self._label} not acquired within {timeout} s: another process "
                    "holds it; pass a longer timeout or see its holder with 'ataraxis-like shm ls'",
                    label=self._label,
                    timeout=timeout,
                )
            slice_end = now + _WAIT_SLICE_SECONDS
            if deadline is not None:
                slice_end = min(slice_end, deadline)
            result = _posix.mutex_lock_until(pointer, slice_end, clear_address)
        if result == 0:
            return False
        if result == _posix.EOWNERDEAD:
            _posix.mutex_make_consistent(pointer)
            try:
                self._on_recovered()
            except BaseException:
                _posix.unlock(pointer)  # a repair that fails must not leave the lock held
                raise
            if not self._warn:
                return True
            warnings.warn(
                f"lock of {self._label} recovered from a holder that died while holding it: "
                "the data it guarded may be half-updated; check it before trusting it",
                LockOwnerDiedWarning,
                stacklevel=4,
            )
            return True
        if result == _posix.EDEADLK:
            raise LockReentryError(
                f"this thread already holds the lock of {self._label}: pass with_lock=False "
                "to calls made inside 'with ... array()'",
                label=self._label,
            )
        if result in (_posix.EINVAL, _posix.ENOTRECOVERABLE):
            raise self._corrupt(f"locking it failed: {os.strerror(result)}")
        raise OSError(result, f"locking {self._label} failed: {os.strerror(result)}")

    def release(self) -> None:
        result = _posix.unlock(self.pointer)
        if result != 0:
            raise LockReentryError(
                f"lock of {self._label} released by a thread that does not hold it "
                f"(errno {result}); release only what this thread acquired",
                label=self._label,
            )

    @contextmanager
    def held(self, timeout: float | None = None) -> Iterator[bool]:
        recovered = self.acquire(timeout)
        try:
            yield recovered
        finally:
            self.release()
