"""Shared state of a queue-mode sink: the key registry and the client table.

The **registry** is an append-only list of key schemas in a shared array of bytes, written under
the array's robust lock: the first process to use a key fixes its schema for every process, so
clients check values before they enter the ring and the writer never meets bad input. An entry's
byte offset is its schema id, carried by every record.

The **client table** is a shared array of u64: word 0 hands out client ids, and word 2 + id holds
the last sequence number of that client which the writer has committed to the file. A client's
``flush()`` waits for it to reach the sequence number of its flush marker.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from ..shm.array import SharedMemoryArray
from ._errors import SinkCapacityError
from ._keys import KeyTree
from ._schema import Schema

_HEADER = 8
_LENGTH = 4
CLIENT_BASE = 2


class Registry:
    """This process's view of the shared key registry (a SharedMemoryArray of bytes)."""

    def __init__(self, array: SharedMemoryArray) -> None:
        self.array = array
        self._offset = _HEADER
        self.by_key: dict[str, tuple[int, Schema]] = {}
        self.by_id: dict[int, Schema] = {}
        self.tree = KeyTree()

    @classmethod
    def create(cls, capacity: int) -> Registry:
        prototype = np.zeros(capacity, dtype=np.uint8)
        return cls(SharedMemoryArray.create_array(f"h5r_{uuid.uuid4().hex[:16]}", prototype))

    def _read_new(self, data: np.ndarray) -> None:
        used = int.from_bytes(data[:_HEADER].tobytes(), "little")
        offset = self._offset
        while offset < used:
            length = int.from_bytes(data[offset : offset + _LENGTH].tobytes(), "little")
            schema = Schema.from_text(data[offset + _LENGTH : offset + _LENGTH + length].tobytes()
                                      .decode("utf-8"))  # fmt: skip
            self._add(offset, schema)
            offset += _LENGTH + length
        self._offset = offset

    def _add(self, offset: int, schema: Schema) -> None:
        self.by_key[schema.key] = (offset, schema)
        self.by_id[offset] = schema
        self.tree.add(schema.key)

    def lookup(self, key: str) -> tuple[int, Schema] | None:
        found = self.by_key.get(key)
        if found is None:
            with self.array.array() as data:
                self._read_new(data)
            found = self.by_key.get(key)
        return found

    def is_group(self, name: str) -> bool:
        """True when ``name`` is a group holding registered keys."""
        if not self.tree.is_group(name):
            with self.array.array() as data:
                self._read_new(data)
        return self.tree.is_group(name)

    def schema(self, schema_id: int) -> Schema:
        found = self.by_id.get(schema_id)
        if found is None:
            with self.array.array() as data:
                self._read_new(data)
            found = self.by_id[schema_id]
        return found

    def register(self, schema: Schema, replace: bool = False) -> tuple[int, Schema]:
        """Add ``schema`` unless its key is known; ``replace`` adds a new layout for arrays.

        Returns the entry in force for the key, which may be another process's.
        """
        with self.array.array() as data:
            self._read_new(data)
            found = self.by_key.get(schema.key)
            if found is not None and (not replace or found[1] == schema):
                return found
            if found is None:
                self.tree.check(schema.key)
            encoded = schema.to_text().encode("utf-8")
            offset = self._offset
            end = offset + _LENGTH + len(encoded)
            if end > len(data):
                raise SinkCapacityError(
                    f"the sink's key registry is full ({len(data):,} bytes, "
                    f"{len(self.by_key):,} keys) at new key {schema.key!r}; create the sink with "
                    f"a larger registry_bytes (about {2 * len(data):,})",
                    key=schema.key,
                    capacity=len(data),
                )
            data[offset : offset + _LENGTH] = np.frombuffer(
                len(encoded).to_bytes(_LENGTH, "little"), np.uint8
            )
            data[offset + _LENGTH : end] = np.frombuffer(encoded, np.uint8)
            data[:_HEADER] = np.frombuffer(end.to_bytes(_HEADER, "little"), np.uint8)
            self._add(offset, schema)
            self._offset = end
            return self.by_key[schema.key]


class ClientTable:
    """Client ids and their committed sequence numbers (a SharedMemoryArray of u64)."""

    def __init__(self, array: SharedMemoryArray) -> None:
        self.array = array
        self._live: Any = None

    @classmethod
    def create(cls, max_clients: int) -> ClientTable:
        prototype = np.zeros(CLIENT_BASE + max_clients, dtype=np.uint64)
        return cls(SharedMemoryArray.create_array(f"h5c_{uuid.uuid4().hex[:16]}", prototype))

    def _words(self) -> np.ndarray:
        if self._live is None:
            with self.array.array(with_lock=False) as live:
                self._live = live
        return self._live  # type: ignore[no-any-return]

    def new_client(self) -> int:
        with self.array.array() as words:
            client = int(words[0])
            if CLIENT_BASE + client >= len(words):
                raise SinkCapacityError(
                    f"the sink has handed out all {len(words) - CLIENT_BASE} client ids (one per "
                    "process and client); create it with a larger max_clients",
                )
            words[0] = client + 1
        return client

    def committed(self, client: int) -> int:
        return int(self._words()[CLIENT_BASE + client])

    def publish(self, applied: dict[int, int]) -> None:
        """Writer: these clients' records up to these sequence numbers are in the file."""
        words = self._words()
        for client, sequence in applied.items():
            words[CLIENT_BASE + client] = sequence
