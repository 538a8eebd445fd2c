"""Cross-process locking of an HDF5 file: a readers-writer lock, and lock-mode batches.

The lock is ``fcntl.flock`` on ``<file>.lock`` beside the HDF5 file: shared for readers,
exclusive for a writer. The kernel drops a flock when the last descriptor of its holder closes,
so a holder that is killed never blocks the others. Every writer in this library takes the
exclusive lock (a sink for its lifetime, the queue's writer process through the owner's
inherited descriptor, a lock-mode batch for one batch), and filelock's ``FileLock`` uses the
same flock on the same file, so they all exclude each other.

``locked_file`` hands foreign code a plain ``h5py.File`` under that lock. A killed holder can
leave an HDF5 file with stale "open for write" flags; the next holder clears them (under the
exclusive lock) before opening, so nobody needs h5clear.
"""

from __future__ import annotations

import fcntl
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
from filelock import FileLock, Timeout

from ..errors import LockTimeoutError
from ._errors import SinkInUseError, SinkKeyError, SinkWriteError
from ._paths import require_directory
from ._schema import Schema
from ._store import Store
from .recover import clear_status_flags, is_stale_flags_error

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


def _open_clearing(lock: FileRWLock, path: Path, mode: str, options: dict[str, Any]) -> h5py.File:
    try:
        return h5py.File(path, mode, **options)
    except OSError as error:
        if not is_stale_flags_error(error):
            raise
    if not lock.exclusive:
        lock.acquire(exclusive=True)  # converts the shared lock: no writer can be inside
        try:
            clear_status_flags(path)
        finally:
            lock.acquire(exclusive=False)
    else:
        clear_status_flags(path)
    return h5py.File(path, mode, **options)


@contextmanager
def locked_file(
    path: Path | str, mode: str = "r", *, timeout: float | None = None, **options: Any
) -> Iterator[h5py.File]:
    """``with locked_file(path, "r") as f:``: a plain h5py.File under the readers-writer lock.

    Mode "r" takes the shared lock (many readers at once); any other mode the exclusive one.
    ``options`` go to ``h5py.File``; HDF5's own file locking is off by default (the flock guards
    the file, and HDF5's lock would refuse files that live SWMR readers hold).
    """
    path = Path(path)
    options.setdefault("locking", False)
    lock = FileRWLock(path)
    lock.acquire(exclusive=mode != "r", timeout=timeout)
    try:
        handle = _open_clearing(lock, path, mode, options)
        try:
            yield handle
        finally:
            handle.close()
    finally:
        lock.release()


def write_batch(
    path: Path,
    blocks: list[tuple[Schema, np.ndarray]],
    options: dict[str, Any],
    operation: Callable[[Store], None] | None = None,
    create: bool = True,
) -> dict[str, Schema]:
    """Lock mode: take the file's lock, open it, append ``blocks``, run ``operation``, close.

    Returns the file's schemas. With ``create=False`` a missing file (deleted since the sink
    opened it) raises SinkWriteError instead of starting a new file without the earlier rows.
    Rows for a key that another process created with another layout are dropped with
    SinkKeyError after the other keys were written.
    """
    require_directory(path)  # filelock would create it again
    lock = FileLock(str(lock_path(path)), timeout=options["lock_timeout"])
    try:
        lock.acquire()
    except Timeout:
        raise SinkInUseError(
            f"{path} stayed locked for {options['lock_timeout']} s; another writer holds it: "
            "wait for it or pass a longer lock_timeout",
            path=str(path),
        ) from None
    try:
        if not create and not path.exists():
            raise SinkWriteError(
                f"sink file {path} was deleted while this lock-mode sink wrote it; earlier rows "
                "are lost: keep the file until every sink has closed",
                path=str(path),
            )
        store = Store(path, "a", options["compression"], options["chunk_bytes"])
        try:
            clashes = [
                (schema, store.schemas[schema.key])
                for schema, _rows in blocks
                if store.schemas.get(schema.key, schema) != schema
            ]
            clashing = {mine.key for mine, _known in clashes}
            blocks = [(schema, rows) for schema, rows in blocks if schema.key not in clashing]
            # One window for the new datasets and the operation: each window reopens the file.
            with store.structural():
                store.create(
                    [schema for schema, _rows in blocks],
                    {schema.key: len(rows) for schema, rows in blocks},
                )
                for schema, rows in blocks:
                    store.append_block(schema.key, rows)
                if operation is not None:
                    operation(store)
            if clashes:
                mine, known = clashes[0]
                raise SinkKeyError(
                    f"sink key {mine.key!r} holds {known.describe()} in the file (written by "
                    f"another process) but this process appended {mine.describe()}; those rows "
                    "were dropped: use one layout per key",
                    key=mine.key,
                )
            return dict(store.schemas)
        finally:
            store.close()
    finally:
        lock.release()
