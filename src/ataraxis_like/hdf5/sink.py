"""Hdf5Sink: append rows to an HDF5 file from anywhere, fast, and survive a killed writer.

Three ways to share the file (``sharing``):

- ``None`` (default): this process is the file's only writer. Rows are buffered per key in
  numpy arrays and written in blocks; the file stays open in SWMR mode for live readers.
- ``"queue"``: a writer process owns the file; ``sink.client()`` (or the pickled sink) lets any
  process append through a shared-memory ring (see client.py and _writer.py).
- ``"lock"``: every process opens its own sink; rows are buffered and each flush takes the
  file's lock, opens the file, writes the batch and closes it (see locked.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .._files import FILE_MODE, check_file_mode
from ..shm._segment import PROCESS_ID
from ._attrs import check_attributes
from ._buffer import Buffer
from ._errors import LockConfigError, SinkClosedError, SinkError
from ._keys import KeyTree
from ._locks import check_lock_url
from ._owner import QueueOwner
from ._paths import FileIdentity, require_directory, writing
from ._rwlock import writer_lock
from ._schema import (
    ROWS,
    Schema,
    array_for_write,
    check_row,
    check_rows,
    check_writable,
    is_empty_sequence,
    normalize_key,
    schema_for_row,
    schema_for_rows,
)
from ._sink_life import SinkLifetime
from ._sink_read import SinkReading
from ._store import DEFAULT_CHUNK_BYTES, Store, compression_options
from .client import Hdf5Client
from .locked import PendingRows, open_batches
from .reader import SinkReader

_MODES = ("r", "r+", "a", "w", "w-", "x")


class Hdf5Sink(SinkReading, SinkLifetime):
    """``Hdf5Sink(path, mode="a", compression=None)``: see the module docstring and docs/hdf5.md.

    ``mode`` is h5py's: "r" (read only), "r+"/"a" (append; "a" creates), "w" (truncate),
    "w-"/"x" (create, fail if it exists). ``compression``: None, "gzip", "lzf" or a gzip level.
    ``flush_interval`` (s) bounds how long rows wait in buffers: a background thread (the
    writer process, in queue mode) flushes them, so live readers see every row within about
    that time. Appends never wait for the disk except when a buffer fills. ``file_mode`` is the
    mode of a file the sink creates (owner-only by default, docs/files.md). The other options
    are described in docs/hdf5.md.
    """

    def __init__(
        self,
        path: Path | str,
        mode: str = "a",
        compression: str | int | None = None,
        *,
        sharing: str | None = None,
        flush_interval: float = 0.25,
        buffer_bytes: int = 1 << 20,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        lock_timeout: float = 10.0,
        queue_bytes: int = 64 << 20,
        flush_bytes: int = 64 << 20,
        flush_records: int = 8192,
        max_restarts: int = 5,
        max_clients: int = 4096,
        registry_bytes: int = 1 << 20,
        lock: str | None = None,
        file_mode: int = FILE_MODE,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES} (got {mode!r}); use 'a' to append")
        if sharing not in (None, "queue", "lock"):
            raise ValueError(f"sharing must be None, 'queue' or 'lock' (got {sharing!r})")
        if check_lock_url(lock) not in (None, "flock") and sharing != "lock":
            raise LockConfigError(
                f"lock={lock!r} needs sharing='lock' (got sharing={sharing!r}): a Redis lock "
                "guards lock-mode batches; pass sharing='lock'",
                lock=lock,
            )
        compression_options(compression)
        check_file_mode(file_mode)
        self.path = Path(path)
        self.mode, self.sharing = mode, sharing
        self._buffer_bytes = buffer_bytes
        self._buffers: dict[str, Buffer] = {}
        self._schemas: dict[str, Schema] = {}
        self._tree = KeyTree()
        self._owner_pid = PROCESS_ID[0]
        self._store: Store | None = None
        self._queue: QueueOwner | None = None
        self._client: Hdf5Client | None = None
        self._reader: SinkReader | None = None
        self._writer_lock: Any = None
        self._closed = True  # until fully open: __del__ of a failed open does nothing
        self._pending = PendingRows()  # lock mode: rows for the next batch
        self._mutex = threading.RLock()
        self._dirty = False
        self._stop_ticking = threading.Event()
        self._ticker: threading.Thread | None = None
        self._options = {"lock_timeout": lock_timeout, "compression": compression,
                         "chunk_bytes": chunk_bytes, "lock": lock,
                         "file_mode": file_mode}  # fmt: skip
        self._identity: FileIdentity | None = None
        if mode != "r":
            require_directory(self.path)
        if mode == "r":
            self._reader = SinkReader(self.path)
        elif sharing == "queue":
            self._queue = QueueOwner(self.path, mode, {
                "compression": compression, "chunk_bytes": chunk_bytes,
                "flush_interval": flush_interval, "queue_bytes": queue_bytes,
                "flush_bytes": flush_bytes, "flush_records": flush_records,
                "max_restarts": max_restarts, "lock_timeout": lock_timeout,
                "max_clients": max_clients, "registry_bytes": registry_bytes,
                "file_mode": file_mode,
            })  # fmt: skip
            self._client = self._queue.client
        elif sharing == "lock":
            self._remember(open_batches(self.path, mode, self._options))
        else:
            self._writer_lock = writer_lock(self.path, lock_timeout, file_mode)
            try:
                self._store = Store(self.path, mode, compression, chunk_bytes, file_mode)
                self._identity = FileIdentity(self.path)
            except BaseException:
                self._writer_lock.release()
                raise
            self._remember(self._store.schemas)
        self._closed = False
        if mode != "r" and sharing != "queue":
            self._start_ticking(flush_interval)

    # ------------------------------------------------------------ properties
    @property
    def writer_pid(self) -> int | None:
        """The queue-mode writer process's pid (None in other modes)."""
        return None if self._queue is None else self._queue.writer_pid

    def client(self) -> Hdf5Client:
        """The picklable handle other processes use (queue mode only)."""
        if self._client is None:
            raise SinkError(
                f"sink for {self.path} was opened with sharing={self.sharing!r}; clients need "
                "Hdf5Sink(path, sharing='queue')",
                path=str(self.path),
            )
        return self._client

    def __reduce__(self) -> tuple[Any, ...]:
        return Hdf5Client, (self.client()._channels,)

    def __repr__(self) -> str:
        return f"Hdf5Sink({str(self.path)!r}, mode={self.mode!r}, sharing={self.sharing!r})"

    # --------------------------------------------------------------- writing
    def append(self, key: str, value: Any) -> None:
        """Append one row (a scalar or an array of fixed shape) to the dataset at ``key``."""
        buffer = self._buffers.get(key)
        if buffer is not None and type(value) in buffer.fast:
            with self._mutex:
                try:
                    buffer.array[buffer.count] = value
                except OverflowError:
                    check_row(buffer.schema, value)
                    raise
                except IndexError:  # full: its last drain failed (disk full); try again
                    self._drain(buffer)
                    buffer.array[buffer.count] = value
                buffer.count += 1
                if buffer.count == buffer.capacity:
                    self._drain(buffer)
            return
        if self._client is not None:
            self._client.append(key, value)
            return
        with self._mutex:
            buffer = self._buffer(key, value, rows=False)
            row = check_row(buffer.schema, value)
            if buffer.capacity == 1:
                self._write_block(buffer.schema, row.reshape(1, *buffer.schema.shape))
                return
            if buffer.count == buffer.capacity:
                self._drain(buffer)
            buffer.array[buffer.count] = row[()] if row.ndim == 0 else row
            buffer.count += 1
            if buffer.count == buffer.capacity:
                self._drain(buffer)

    def extend(self, key: str, values: Any) -> None:
        """Append many rows: a sequence or an array whose first axis counts rows."""
        if self._client is not None:
            self._client.extend(key, values)
            return
        if is_empty_sequence(values):
            normalize_key(key)  # no rows to add, but a bad key is still refused
            return
        with self._mutex:
            buffer = self._buffer(key, values, rows=True)
            rows = check_rows(buffer.schema, values)
            count = len(rows)
            if buffer.count + count <= buffer.capacity:
                buffer.array[buffer.count : buffer.count + count] = rows
                buffer.count += count
                if buffer.count == buffer.capacity:
                    self._drain(buffer)
                return
            self._drain(buffer)
            self._write_block(buffer.schema, rows)

    def write(self, key: str, array: Any) -> None:
        """Store a whole array at ``key`` (replacing an earlier array there, never rows)."""
        if self._client is not None:
            self._client.write(key, array)
            return
        name = normalize_key(key)
        with self._mutex:
            self._require_writer()
            old = self._schemas.get(name)
            if old is not None:
                check_writable(old)
            else:
                self._check_clash(name)
            schema, data = array_for_write(name, array)
            self._apply(lambda store: store.write_array(schema, data))
            self._remember({name: schema})

    def set_attrs(self, key: str, **attributes: Any) -> None:
        """Set HDF5 attributes of ``key`` after its first append or write; "/" is the file."""
        if self._client is not None:
            self._client.set_attrs(key, **attributes)
            return
        name = "" if key in ("", "/") else normalize_key(key)
        check_attributes(name, attributes)
        with self._mutex:
            self._require_writer()
            # The key's rows, or those of a key in the group, may still wait in a buffer: the
            # dataset and its groups are made when they are written (as in queue mode). A key
            # declared by an empty extend has no rows: its dataset is made empty.
            waiting = self._buffers.get(name)
            if waiting is None:
                waiting = self._buffers.get(self._tree.key_under(name) or "")
            if waiting is not None:
                if waiting.count:
                    self._drain(waiting)
                elif self._store is None or waiting.schema.key not in self._store.schemas:
                    self._write_block(waiting.schema, waiting.array[:0])
            self._apply(lambda store: store.set_attrs(name, attributes))

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Apply the block's writes and attribute changes in one go.

        SWMR forbids new objects and attributes, so each such change otherwise closes and
        reopens the file (about a millisecond); inside the block the file is reopened once, at
        its end, and live readers see the changes from then on. Appends are unaffected. Queue
        and lock modes batch on their own: there the block changes nothing.
        """
        if self._client is not None or self._store is None:
            yield
            return
        with self._mutex:
            self._require_writer()
            window = self._store.structural()
            with writing(self.path):
                window.__enter__()
            try:
                yield
            finally:
                with writing(self.path):  # the file's errors, not those of the block's code
                    window.__exit__(None, None, None)

    def flush(self) -> None:
        """Put every appended row in the file (as far as the operating system) and return."""
        if self._client is not None:
            self._client.flush()
            return
        with self._mutex:
            self._require_writer()
            if self._store is None:
                self._apply(None)
            else:
                for buffer in self._buffers.values():
                    self._drain(buffer)
                with writing(self.path):
                    self._store.flush()
            if self._identity is not None:
                self._identity.check()
            self._dirty = False

    # ------------------------------------------------------------- internals
    def _require_writer(self) -> None:
        if self._closed or self.mode == "r":
            state = "closed" if self._closed else "read-only (mode 'r')"
            raise SinkClosedError(
                f"sink for {self.path} is {state}; open Hdf5Sink(path, 'a') to write",
                path=str(self.path),
            )
        if PROCESS_ID[0] != self._owner_pid:
            raise SinkError(
                f"this sink for {self.path} belongs to pid {self._owner_pid}; other processes "
                "write through Hdf5Sink(path, sharing='queue').client() or their own "
                "Hdf5Sink(path, sharing='lock')",
                path=str(self.path),
            )

    def _buffer(self, key: str, value: Any, rows: bool) -> Buffer:
        buffer = self._buffers.get(key)
        if buffer is not None:
            return buffer
        self._require_writer()
        name = normalize_key(key)
        buffer = self._buffers.get(name)
        if buffer is None:
            schema = self._schemas.get(name)
            if schema is None:
                schema = schema_for_rows(name, value) if rows else schema_for_row(name, value)
                self._check_clash(name)
                self._remember({name: schema})
            elif schema.kind != ROWS:
                check_row(schema, value)
            buffer = self._buffers[name] = Buffer(schema, self._buffer_bytes)
        self._buffers[key] = buffer
        return buffer

    def _check_clash(self, name: str) -> None:
        self._tree.check(name)

    def _remember(self, schemas: dict[str, Schema]) -> None:
        self._schemas.update(schemas)
        for key in schemas:
            self._tree.add(key)

    def _drain(self, buffer: Buffer) -> None:
        """Write the buffer's rows; they stay buffered when the write fails (a full disk), so a
        later flush() writes them once there is room."""
        count = buffer.count
        if count:
            buffer.count = 0
            try:
                self._write_block(buffer.schema, buffer.array[:count])
            except BaseException:
                buffer.count = count
                raise

    def _write_block(self, schema: Schema, rows: np.ndarray) -> None:
        self._require_writer()
        self._dirty = True
        if self._store is not None:
            with writing(self.path):
                if schema.key not in self._store.schemas:
                    self._store.create([schema], {schema.key: len(rows)})
                self._store.append_block(schema.key, rows)
            return
        self._pending.add(schema, np.array(rows, copy=True))
        if self._pending.nbytes >= 4 * self._buffer_bytes:
            self._apply(None)

    def _apply(self, operation: Any) -> None:
        """Run ``operation(store)`` on the open file, or in lock mode in one locked batch."""
        if self._store is not None:
            with writing(self.path):
                operation(self._store)
            return
        for buffer in self._buffers.values():
            if buffer.count:
                self._pending.add(buffer.schema, buffer.array[: buffer.count].copy())
                buffer.count = 0
        if self._reader is not None:  # HDF5 refuses a second, writable open in one process
            self._reader.close()
            self._reader = None
        self._remember(self._pending.write(self.path, self._options, operation))
