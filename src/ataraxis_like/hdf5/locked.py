"""Foreign h5py code and lock-mode batches under the file's readers-writer lock.

``locked_file`` hands foreign code a plain ``h5py.File`` under that lock; ``write_batch`` is one
turn of a lock-mode sink. The lock is flock (_rwlock.py) or Redis (_redis_lock.py), chosen by
``lock=`` (_locks.py). Whoever takes the lock next repairs what a killed holder left:

- stale "open for write" flags (cleared under the exclusive lock, so nobody needs h5clear);
- a lock-mode batch cut short: every batch is journalled (the queue writer's ``Journal``, one
  session shared by all lock holders): plan, rows, commit. A plan without its commit means the
  holder died (or lost its lease) mid-batch, and its keys are cut back to their old lengths
  before anyone reads or writes, so a partial batch never appears.

A holder whose Redis lease ran out must not write: every write step of a batch is fenced by
``lock.check()``, and a refused holder points HDF5's descriptor at /dev/null before closing,
so nothing it still had cached reaches the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from .._files import FILE_MODE, check_file_mode, touch_new
from ..errors import LockTimeoutError
from ._errors import (
    LockLostError,
    LockServerError,
    SinkInUseError,
    SinkKeyError,
    SinkWriteError,
)
from ._locks import RWLock, open_lock
from ._paths import require_directory, writing
from ._schema import Schema
from ._store import Store
from ._writer import Journal, pending_batch
from .recover import clear_status_flags, is_stale_flags_error

LOCK_SESSION = 0x4C4F_434B_4D4F_4445  # "LOCKMODE": the journal session of every lock holder
_FENCE_ERRORS = (LockLostError, LockServerError)


def abandon(handle: h5py.File) -> None:
    """Close ``handle`` without letting HDF5 write anything more to the file.

    HDF5 flushes its caches when a file closes; after a lost lease that would overwrite what
    the lock's next holder wrote. The descriptor HDF5 writes through is pointed at /dev/null
    first (dup2 is atomic), so every later write of this handle goes nowhere.
    """
    try:
        descriptor = handle.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, descriptor)
        finally:
            os.close(null)
    except (OSError, ValueError, TypeError):
        pass
    try:
        handle.close()
    except Exception:  # HDF5 may complain about what it read back from /dev/null
        pass


def _exclusively(lock: RWLock, work: Callable[[], object]) -> None:
    """Run ``work`` under the exclusive lock, returning to a shared one if that is what we had."""
    if lock.exclusive:
        work()
        return
    lock.acquire(exclusive=True)  # no writer can be inside now
    try:
        work()
    finally:
        lock.downgrade()


def roll_back(path: Path) -> None:
    """Cut a killed lock holder's unfinished batch out of ``path`` (under the exclusive lock)."""
    store = Store(path, "a")
    try:
        Journal(store, LOCK_SESSION).recover()
    finally:
        store.close()


def _open_settled(lock: RWLock, path: Path, mode: str, options: dict[str, Any]) -> h5py.File:
    """Open ``path`` after clearing stale writer flags and a partial batch, if any."""
    try:
        handle = h5py.File(path, mode, **options)
    except OSError as error:
        if not is_stale_flags_error(error):
            raise
        _exclusively(lock, lambda: clear_status_flags(path))
        handle = h5py.File(path, mode, **options)
    if mode not in ("w", "w-", "x") and pending_batch(handle, LOCK_SESSION):
        handle.close()  # HDF5 refuses a second, writable opening in one process
        _exclusively(lock, lambda: roll_back(path))
        handle = h5py.File(path, mode, **options)
    return handle


@contextmanager
def locked_file(
    path: Path | str,
    mode: str = "r",
    *,
    timeout: float | None = None,
    lock: str | None = None,
    file_mode: int = FILE_MODE,
    **options: Any,
) -> Iterator[h5py.File]:
    """``with locked_file(path, "r") as f:``: a plain h5py.File under the readers-writer lock.

    Mode "r" takes the shared lock (many readers at once); any other mode the exclusive one.
    ``lock``: None/"flock" (this host) or "redis://host:port/db" (several hosts). The lease is
    checked again before the file closes: a holder that lost it gets LockLostError and its
    unflushed changes are dropped. ``options`` go to ``h5py.File``; HDF5's own file locking is
    off by default (the lock guards the file, and HDF5's lock would refuse files that live SWMR
    readers hold). A file this creates gets ``file_mode`` (owner-only by default).
    """
    path = Path(path)
    check_file_mode(file_mode)
    options.setdefault("locking", False)
    rwlock = open_lock(path, lock, file_mode)
    rwlock.acquire(exclusive=mode != "r", timeout=timeout)
    try:
        if mode in ("w", "w-", "x", "a") and touch_new(path, file_mode):
            mode = "w"  # made empty with its mode just now, under the exclusive lock
        handle = _open_settled(rwlock, path, mode, options)
        try:
            yield handle
            rwlock.check()
        except _FENCE_ERRORS:
            abandon(handle)
            raise
        finally:
            if handle.id.valid:
                handle.close()
    finally:
        rwlock.release()


def exclusive_lock(path: Path, options: dict[str, Any]) -> RWLock:
    """The file's lock taken exclusively for a lock-mode sink, or SinkInUseError."""
    lock = open_lock(path, options.get("lock"), options.get("file_mode", FILE_MODE))
    try:
        lock.acquire(exclusive=True, timeout=options["lock_timeout"])
    except LockTimeoutError as error:
        raise SinkInUseError(
            f"{path} stayed locked for {options['lock_timeout']} s; another writer holds it "
            f"({error}): wait for it or pass a longer lock_timeout",
            path=str(path),
        ) from None
    return lock


def open_batches(path: Path, mode: str, options: dict[str, Any]) -> dict[str, Schema]:
    """A lock-mode sink's open: the file made (or emptied) under its lock when ``mode`` asks
    for that, then its schemas, read in a batch of no rows (which repairs what a killed holder
    left)."""
    if mode in ("w", "w-", "x"):
        lock = exclusive_lock(path, options)
        try:
            Store(
                path, mode, options["compression"], options["chunk_bytes"], options["file_mode"]
            ).close()
        finally:
            lock.release()
    return write_batch(path, [], options)


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
    SinkKeyError after the other keys were written. A lost lease raises LockLostError and
    writes nothing more (the next holder cuts out what this batch had begun).
    """
    require_directory(path)
    lock = exclusive_lock(path, options)
    try:
        if not create and not path.exists():
            raise SinkWriteError(
                f"sink file {path} was deleted while this lock-mode sink wrote it; earlier rows "
                "are lost: keep the file until every sink has closed",
                path=str(path),
            )
        store = Store(path, "a", options["compression"], options["chunk_bytes"],
                      options["file_mode"])  # fmt: skip
        try:
            return _journalled(store, lock, blocks, operation)
        except _FENCE_ERRORS:
            abandon(store.file)
            raise
        finally:
            store.close()
    finally:
        lock.release()


class PendingRows:
    """Rows a lock-mode sink holds until its next batch, and that batch.

    ``write`` hands every held block to ``write_batch``; when the lock could not be had or was
    lost (nothing written), the blocks are held again, ahead of any added meanwhile, so the
    next flush tries again.
    """

    __slots__ = ("blocks", "nbytes")

    def __init__(self) -> None:
        self.blocks: list[tuple[Schema, np.ndarray]] = []
        self.nbytes = 0

    def add(self, schema: Schema, rows: np.ndarray) -> None:
        """Hold ``rows`` (the caller's own copy) for the next batch."""
        self.blocks.append((schema, rows))
        self.nbytes += rows.nbytes

    def write(
        self, path: Path, options: dict[str, Any], operation: Callable[[Store], None] | None
    ) -> dict[str, Schema]:
        """One batch of every held block (and ``operation``); the file's schemas."""
        blocks, self.blocks, self.nbytes = self.blocks, [], 0
        try:
            with writing(path):
                return write_batch(path, blocks, options, operation, create=False)
        except (SinkInUseError, LockLostError, LockServerError):
            self.blocks[:0] = blocks  # nothing was written: the next flush tries again
            self.nbytes += sum(rows.nbytes for _schema, rows in blocks)
            raise


def _journalled(
    store: Store,
    lock: RWLock,
    blocks: list[tuple[Schema, np.ndarray]],
    operation: Callable[[Store], None] | None,
) -> dict[str, Schema]:
    """One batch: repair, structure (one reopening), then plan, rows and commit, fenced."""
    lock.check()
    journal = Journal(store, LOCK_SESSION)
    journal.adopt()
    journal.recover()
    clashes = [
        (schema, store.schemas[schema.key])
        for schema, _rows in blocks
        if store.schemas.get(schema.key, schema) != schema
    ]
    clashing = {mine.key for mine, _known in clashes}
    blocks = [(schema, rows) for schema, rows in blocks if schema.key not in clashing]
    if blocks or operation is not None:
        lock.check()
        with store.structural():  # one window for the new datasets and the operation
            store.create(
                [schema for schema, _rows in blocks],
                {schema.key: len(rows) for schema, rows in blocks},
            )
            if operation is not None:
                operation(store)
    plan: dict[str, tuple[int, int]] = {}
    for schema, rows in blocks:
        old = plan.get(schema.key, (store.dataset(schema.key).shape[0],) * 2)
        plan[schema.key] = (old[0], old[1] + len(rows))
    if plan:
        lock.check()
        journal.begin({}, plan)
        for schema, rows in blocks:
            lock.check()
            store.append_block(schema.key, rows)
        store.flush()
        lock.check()
        journal.commit({})
    if clashes:
        mine, known = clashes[0]
        raise SinkKeyError(
            f"sink key {mine.key!r} holds {known.describe()} in the file (written by "
            f"another process) but this process appended {mine.describe()}; those rows "
            "were dropped: use one layout per key",
            key=mine.key,
        )
    return dict(store.schemas)
