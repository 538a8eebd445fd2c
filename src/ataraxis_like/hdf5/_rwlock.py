"""The readers-writer lock of an HDF5 file on one host: flock, writer-preferring, crash-proof.

Two files beside the HDF5 file, both locked with ``fcntl.flock`` (the kernel drops a flock when
the last descriptor of its holder closes, so no holder or waiter can block others after death):

- ``<file>.lock``: the lock itself, shared by readers, exclusive for a writer. Every writer in
  this library takes it (a sink for its lifetime, the queue's writer through the owner's
  inherited descriptor, a lock-mode batch for one batch, ``recover``); filelock's ``FileLock``
  locks the same file the same way, so older writers are excluded too.
- ``<file>.lock.waiting``: "a writer waits". A writer takes it *shared* while it waits (any
  number of writers can wait) and lets go once it holds ``<file>.lock``. A reader only enters
  ``<file>.lock`` while holding ``<file>.lock.waiting`` *exclusively* for an instant, which it
  cannot get while any writer waits: new readers queue behind a waiting writer, readers already
  inside finish, and the writer gets in. Readers still share ``<file>.lock`` with each other.

Waiting is polling with ``LOCK_NB`` (1 ms growing to 10 ms), so every wait can time out.
"""

from __future__ import annotations

import fcntl
import os
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from ..errors import LockTimeoutError
from ._errors import SinkInUseError

_POLL_FIRST, _POLL_MAX = 0.001, 0.01


def lock_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def waiting_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock.waiting")


def remove_lock_files(path: Path | str) -> None:
    """Delete the lock files of ``path`` (only for a file nobody else can know of yet)."""
    for lock_file in (lock_path(path), waiting_path(path)):
        lock_file.unlink(missing_ok=True)


def _holders(lock_file: Path) -> list[int]:
    """Pids named by /proc/locks for ``lock_file`` (the process that took each flock)."""
    try:
        inode = os.stat(lock_file).st_ino
        with open("/proc/locks") as locks:
            return [int(line.split()[4]) for line in locks if f":{inode} " in line]
    except (OSError, ValueError, IndexError):
        return []


def _try(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def poll(
    attempt: Callable[[], bool],
    deadline: float | None,
    timed_out: Callable[[], Exception],
    longest_pause: float,
) -> None:
    """Call ``attempt`` until it succeeds, pausing 1 ms and doubling up to ``longest_pause``;
    raise ``timed_out()`` once ``deadline`` (monotonic; None: never) has passed."""
    pause = _POLL_FIRST
    while not attempt():
        if deadline is not None and time.monotonic() >= deadline:
            raise timed_out()
        time.sleep(pause)
        pause = min(pause * 2, longest_pause)


class FileRWLock:
    """``acquire(exclusive=False)`` for readers, True for a writer; see the module docstring.

    A forked child closes its copies of the descriptors, so a lock is never kept alive by a
    child after its owner released it (the queue's writer gets its copy through ``pass_fds``).
    """

    url = "flock"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.lock_file = lock_path(self.path)
        self.fd: int | None = None
        self._waiting_fd: int | None = None
        self.exclusive = False
        _HELD.add(self)

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None:
        """Wait (``timeout`` None: forever) for the lock; LockTimeoutError after ``timeout``.

        Called while holding the shared lock, ``acquire(True)`` upgrades it (not atomically:
        flock drops the shared lock first, as its manual says).
        """
        if self.fd is None:
            self.fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiting_fd = os.open(waiting_path(self.path), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if exclusive:
                self._wait(exclusive, deadline, timeout, self._mark_waiting)
                self._wait(exclusive, deadline, timeout, self._enter_exclusive)
            else:
                self._wait(exclusive, deadline, timeout, self._enter_shared)
            self.exclusive = exclusive
        finally:
            os.close(self._waiting_fd)  # a waiting writer's mark goes with it
            self._waiting_fd = None

    def _main(self) -> int:
        assert self.fd is not None
        return self.fd

    def _waiting(self) -> int:
        assert self._waiting_fd is not None
        return self._waiting_fd

    def _mark_waiting(self) -> bool:
        return _try(self._waiting(), fcntl.LOCK_SH)

    def _enter_exclusive(self) -> bool:
        return _try(self._main(), fcntl.LOCK_EX)

    def _enter_shared(self) -> bool:
        """One reader's attempt: only while no writer waits (see the module docstring)."""
        if not _try(self._waiting(), fcntl.LOCK_EX):
            return False
        try:
            return _try(self._main(), fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._waiting(), fcntl.LOCK_UN)

    def _wait(
        self,
        exclusive: bool,
        deadline: float | None,
        timeout: float | None,
        attempt: Callable[[], bool],
    ) -> None:
        def timed_out() -> LockTimeoutError:
            return LockTimeoutError(
                f"{self.path} stayed locked for {timeout} s (held by pid "
                f"{_holders(self.lock_file) or '?'}; writers waiting: pid "
                f"{_holders(waiting_path(self.path)) or 'none'}); could not take the "
                f"{'write' if exclusive else 'read'} lock: wait for that process or pass a "
                "longer timeout",
                path=str(self.path),
            )

        poll(attempt, deadline, timed_out, _POLL_MAX)

    def downgrade(self) -> None:
        """Exclusive to shared, at once (nobody else can hold the lock meanwhile)."""
        fcntl.flock(self._main(), fcntl.LOCK_SH)
        self.exclusive = False

    def check(self) -> None:
        """Nothing to check: the kernel keeps a flock until its holder closes or dies."""

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FileRWLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


_HELD: weakref.WeakSet[FileRWLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    for lock in list(_HELD):
        for name in ("fd", "_waiting_fd"):
            fd = getattr(lock, name)
            if fd is not None:
                os.close(fd)
                setattr(lock, name, None)


os.register_at_fork(after_in_child=_forget_in_child)


def writer_lock(path: Path | str, timeout: float) -> FileRWLock:
    """The exclusive lock a sink holds while it writes, or SinkInUseError naming the holder."""
    lock = FileRWLock(path)
    try:
        lock.acquire(exclusive=True, timeout=timeout)
    except LockTimeoutError:
        lock.release()
        raise SinkInUseError(
            f"{path} is written by another sink or locked writer (pid "
            f"{_holders(lock_path(path)) or '?'}); HDF5 allows one writer per file: send rows "
            "through that sink's client(), or use sharing='lock' in every writer",
            path=str(path),
        ) from None
    return lock
