"""Foreign h5py code and lock-mode batches under the file's readers-writer lock (_rwlock.py).

``locked_file`` hands foreign code a plain ``h5py.File`` under that lock; ``write_batch`` is one
turn of a lock-mode sink. A killed holder can leave an HDF5 file with stale "open for write"
flags; the next holder clears them (under the exclusive lock) before opening, so nobody needs
h5clear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
from filelock import FileLock, Timeout

from ._errors import SinkInUseError, SinkKeyError, SinkWriteError
from ._paths import require_directory
from ._rwlock import FileRWLock, lock_path
from ._schema import Schema
from ._store import Store
from .recover import clear_status_flags, is_stale_flags_error


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
