"""The readers-writer lock of an HDF5 file, shared by every process that touches the file.

The lock is ``fcntl.flock`` on ``<file>.lock`` beside the HDF5 file: shared for readers,
exclusive for a writer. The kernel drops a flock when the last descriptor of its holder closes,
so a holder that is killed never blocks the others. Every writer in this library takes the
exclusive lock (a sink for its lifetime, the queue's writer process through the owner's
inherited descriptor, a lock-mode batch for one batch, ``recover`` while it clears flags), and
filelock's ``FileLock`` uses the same flock on the same file, so they all exclude each other.
"""

from __future__ import annotations

import fcntl
import os
import time
import weakref
from pathlib import Path

from ..errors import LockTimeoutError
from ._errors import SinkInUseError

_POLL_FIRST, _POLL_MAX = 0.001, 0.05


def lock_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _holders(lock_file: Path) -> list[int]:
    """Pids named by /proc/locks for ``lock_file`` (the process that took each flock)."""
    try:
        inode = os.stat(lock_file).st_ino
        with open("/proc/locks") as locks:
            return [int(line.split()[4]) for line in locks if f":{inode} " in line]
    except (OSError, ValueError, IndexError):
        return []


class FileRWLock:
    """flock on ``<path>.lock``: ``acquire(exclusive=False)`` for readers, True for a writer.

    A forked child closes its copies of the descriptors, so a lock is never kept alive by a
    child after its owner released it (the queue's writer gets its copy through ``pass_fds``).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.lock_file = lock_path(self.path)
        self.fd: int | None = None
        self.exclusive = False
        _HELD.add(self)

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None:
        """Wait (``timeout`` None: forever) for the lock; LockTimeoutError after ``timeout``."""
        if self.fd is None:
            self.fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        operation = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _POLL_FIRST
        while True:
            try:
                fcntl.flock(self.fd, operation | fcntl.LOCK_NB)
                self.exclusive = exclusive
                return
            except BlockingIOError:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                kind = "write" if exclusive else "read"
                raise LockTimeoutError(
                    f"{self.path} stayed locked for {timeout} s (held by pid "
                    f"{_holders(self.lock_file) or '?'}); could not take the {kind} lock: wait "
                    "for that process or pass a longer timeout",
                    path=str(self.path),
                )
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)

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
        if lock.fd is not None:
            os.close(lock.fd)
            lock.fd = None


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
