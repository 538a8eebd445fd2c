"""Queue mode, the producer side: a small picklable client that any process uses to write.

A client checks every value against the key's schema (from the shared registry) and puts one
record into the sink's shared-memory ring; the writer process drains the ring into the file.
Every record carries the client's id and a sequence number, which the writer uses to skip
records it already committed before a crash (see _writer.py and docs/hdf5.md).
"""

from __future__ import annotations

import pickle
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ItemTooLargeError, QueueClosedError, QueueFailedError
from ..shm._ring import Ring
from ..shm._segment import PROCESS_ID
from ..shm.array import SharedMemoryArray
from ._attrs import check_attributes
from ._errors import SinkClosedError, SinkError, SinkKeyError
from ._registry import ClientTable, Registry
from ._schema import (
    ARRAY,
    Schema,
    array_for_write,
    check_row,
    check_rows,
    check_writable,
    encode_array,
    encode_rows,
    is_empty_sequence,
    normalize_key,
    scalar_code,
    schema_for_row,
    schema_for_rows,
)

HEADER = struct.Struct("<IQII")  # client id, sequence number, schema id, row count
KIND_ROWS, KIND_ROW_INLINE, KIND_WRITE, KIND_ATTRS, KIND_FLUSH = 40, 41, 42, 43, 44
_INLINE_TYPES = {
    "?": frozenset({bool, np.bool_}),
    "d": frozenset({float, int, bool, np.float64, np.float32, np.int32, np.int64}),
    "f": frozenset({float, int, bool, np.float32}),
}
_INTEGER_TYPES = frozenset({int, bool})


@dataclass(frozen=True)
class Channels:
    """The shared-memory names a client needs; what is pickled to other processes."""

    path: str
    ring_name: str
    ring_token: int
    registry: SharedMemoryArray
    clients: SharedMemoryArray


class _Key:
    __slots__ = ("code", "inline", "schema", "schema_id", "types")

    def __init__(self, schema_id: int, schema: Schema) -> None:
        self.schema_id = schema_id
        self.schema = schema
        code = scalar_code(schema)
        self.types = frozenset() if code is None else _INLINE_TYPES.get(code, _INTEGER_TYPES)
        self.inline = struct.Struct(HEADER.format + (code or ""))


class Hdf5Client:
    """Appends, extends, writes and sets attributes through a queue-mode sink's writer.

    Picklable: pass it to any process (spawn or fork). Each process (and each fork) gets its own
    client id on first use. ``flush()`` returns once everything this client sent is in the file.
    """

    def __init__(self, channels: Channels) -> None:
        self._channels = channels
        self._pid = -1
        self._ring: Ring | None = None
        self._registry: Registry | None = None
        self._table: ClientTable | None = None
        self._keys: dict[str, _Key] = {}
        self._client = 0
        self._sequence = 0
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return Hdf5Client, (self._channels,)

    def __repr__(self) -> str:
        return f"Hdf5Client(path={self._channels.path!r})"

    @property
    def path(self) -> Path:
        return Path(self._channels.path)

    # ------------------------------------------------------------ attaching
    def _attach(self) -> Ring:
        if self._pid != PROCESS_ID[0]:
            channels = self._channels
            registry, clients = pickle.loads(pickle.dumps((channels.registry, channels.clients)))
            registry.connect()
            clients.connect()
            self._ring = Ring.attach(channels.ring_name, channels.ring_token)
            self._registry = Registry(registry)
            self._table = ClientTable(clients)
            self._keys = {}
            self._lock = threading.Lock()
            self._sequence = 0
            self._client = self._table.new_client()
            self._pid = PROCESS_ID[0]
        assert self._ring is not None
        return self._ring

    def _key(self, key: str, value: Any, rows: bool) -> _Key:
        self._attach()
        assert self._registry is not None
        name = normalize_key(key)
        found = self._registry.lookup(name)
        if found is None:
            made = schema_for_rows(name, value) if rows else schema_for_row(name, value)
            found = self._registry.register(made)
        entry = self._keys[key] = _Key(*found)
        return entry

    # --------------------------------------------------------------- sending
    def _put(self, kind: int, schema_id: int, count: int, tail: bytes, payload: Any,
             length: int, timeout: float | None) -> int:  # fmt: skip
        ring = self._ring if self._pid == PROCESS_ID[0] else None
        if ring is None:
            ring = self._attach()
        with self._lock:
            self._sequence += 1
            meta = HEADER.pack(self._client, self._sequence, schema_id, count) + tail
            try:
                ring.put(kind, meta, payload, length, timeout)
            except (QueueClosedError, QueueFailedError) as error:
                self._sequence -= 1
                raise self._stopped(error) from None
            except ItemTooLargeError:
                self._sequence -= 1
                raise ItemTooLargeError(
                    f"a {length}-byte item does not fit the queue of the sink for "
                    f"{self._channels.path} ({ring.capacity} bytes); open the sink with a larger "
                    "queue_bytes, or write the array in parts",
                    size=length,
                ) from None
            return self._sequence

    def append(self, key: str, value: Any, timeout: float | None = None) -> None:
        """Append one row to ``key`` (blocks while the ring is full; ``timeout`` in s)."""
        entry = self._keys.get(key)
        if entry is None:
            entry = self._key(key, value, rows=False)
        if type(value) in entry.types:
            ring = self._ring if self._pid == PROCESS_ID[0] else None
            if ring is not None:
                with self._lock:
                    self._sequence += 1
                    try:
                        meta = entry.inline.pack(self._client, self._sequence, entry.schema_id,
                                                 1, value)  # fmt: skip
                        ring.put(KIND_ROW_INLINE, meta, b"", 0, timeout)
                        return
                    except (struct.error, OverflowError):
                        self._sequence -= 1
                    except (QueueClosedError, QueueFailedError) as error:
                        self._sequence -= 1
                        raise self._stopped(error) from None
        row = check_row(entry.schema, value)
        payload, length = encode_rows(entry.schema, row.reshape(1, *entry.schema.shape))
        self._put(KIND_ROWS, entry.schema_id, 1, b"", payload, length, timeout)

    def extend(self, key: str, values: Any, timeout: float | None = None) -> None:
        """Append many rows to ``key``: a sequence or an array whose first axis counts rows."""
        if is_empty_sequence(values):
            normalize_key(key)  # no rows to send, but a bad key is still refused
            return
        entry = self._keys.get(key)
        if entry is None:
            entry = self._key(key, values, rows=True)
        rows = check_rows(entry.schema, values)
        assert self._ring is not None
        step = max(1, (self._ring.capacity // 4) // entry.schema.row_bytes)
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            payload, length = encode_rows(entry.schema, part)
            self._put(KIND_ROWS, entry.schema_id, len(part), b"", payload, length, timeout)

    def write(self, key: str, array: Any, timeout: float | None = None) -> None:
        """Store a whole array at ``key``, replacing an earlier array there."""
        self._attach()
        assert self._registry is not None
        name = normalize_key(key)
        found = self._registry.lookup(name)
        schema, data = array_for_write(name, array)
        if found is not None:
            check_writable(found[1])
            if found[1].kind != ARRAY:
                raise SinkKeyError(
                    f"sink key {name!r} holds {found[1].describe()}; write() needs an array key",
                    key=name,
                )
        schema_id, schema = self._registry.register(schema, replace=True)
        payload, length = encode_array(schema, data)
        self._put(KIND_WRITE, schema_id, 1, b"", payload, length, timeout)

    def set_attrs(self, key: str, **attributes: Any) -> None:
        """Set attributes of ``key`` (after its first append or write), or of "/" (the file)."""
        self._attach()
        assert self._registry is not None
        name = "" if key in ("", "/") else normalize_key(key)
        check_attributes(name, attributes)
        if name and self._registry.lookup(name) is None and not self._registry.is_group(name):
            raise SinkKeyError(
                f"sink key {name!r} is not known yet: set attributes after the key's first "
                "append or write (or on a group that holds keys)",
                key=name,
            )
        payload = pickle.dumps(attributes, protocol=pickle.HIGHEST_PROTOCOL)
        self._put(KIND_ATTRS, 0, 0, name.encode("utf-8"), payload, len(payload), None)

    def flush(self, timeout: float | None = None) -> None:
        """Return once every row this client sent before is in the file (SinkError if the
        writer failed or the sink's owner died; TimeoutError after ``timeout``)."""
        ring = self._attach()
        sequence = self._put(KIND_FLUSH, 0, 0, b"", b"", 0, timeout)
        assert self._table is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.0002
        while self._table.committed(self._client) < sequence:
            if ring.segment.flags & 2:
                raise SinkError(ring.failure(), path=self._channels.path)
            if not ring.segment.creator_alive():
                raise SinkError(
                    f"the owner of the sink for {self._channels.path} died before this client's "
                    "rows were flushed; they may be missing: check the file",
                    path=self._channels.path,
                )
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"sink for {self._channels.path} did not flush within {timeout} s; "
                    "pass a longer timeout"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.005)

    def _stopped(self, error: Exception) -> Exception:
        if isinstance(error, QueueFailedError):
            return SinkError(str(error), path=self._channels.path)
        return SinkClosedError(
            f"the sink for {self._channels.path} is closed and takes no rows; open a new sink",
            path=self._channels.path,
        )
