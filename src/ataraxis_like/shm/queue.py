"""ShmQueue: a shared-memory queue for bytes, numpy arrays and any picklable object.

Many producers and consumers, in any processes (spawn, fork, or attached by name) and threads.
Each item goes to exactly one consumer, intact, in order per producer. Bytes and arrays travel
without pickle: one copy in, one copy out (or none out, with ``get_view``). The queue is bounded
by bytes. Crash behaviour and the record format are in docs/queue.md.
"""

from __future__ import annotations

import ast
import os
import pickle
import uuid
from typing import Any

import numpy as np

from ..errors import NotConnectedError
from ._ring import Ring
from ._segment import PROCESS_ID as _PROCESS_ID

KIND_BYTES, KIND_ARRAY, KIND_PICKLE = 1, 2, 3
DEFAULT_CAPACITY = 64 * 1024 * 1024

_array_meta: dict[tuple[np.dtype[Any], tuple[int, ...]], bytes] = {}
_array_layout: dict[bytes, tuple[np.dtype[Any], tuple[int, ...]]] = {}


def _encode_array(array: np.ndarray) -> bytes:
    key = (array.dtype, array.shape)
    meta = _array_meta.get(key)
    if meta is None:
        descr = np.lib.format.dtype_to_descr(array.dtype)
        meta = repr((descr, array.shape)).encode()
        if len(_array_meta) < 4096:
            _array_meta[key] = meta
    return meta


def _decode_array_layout(meta: bytes) -> tuple[np.dtype[Any], tuple[int, ...]]:
    layout = _array_layout.get(meta)
    if layout is None:
        descr, shape = ast.literal_eval(meta.decode())
        layout = (np.lib.format.descr_to_dtype(descr), tuple(shape))
        if len(_array_layout) < 4096:
            _array_layout[meta] = layout
    return layout


def encode(item: Any) -> tuple[int, bytes, Any, int]:
    """(kind, meta, payload buffer, payload length) for an item."""
    if isinstance(item, bytes | bytearray):
        return KIND_BYTES, b"", item, len(item)
    if isinstance(item, np.ndarray) and not item.dtype.hasobject:
        contiguous = item if item.flags.c_contiguous else item.copy(order="C")
        return (
            KIND_ARRAY,
            _encode_array(contiguous),
            contiguous.reshape(-1).view(np.uint8),
            (contiguous.nbytes),
        )
    if isinstance(item, memoryview):
        flat = item.cast("B") if item.contiguous else memoryview(item.tobytes())
        return KIND_BYTES, b"", flat, flat.nbytes
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return KIND_PICKLE, b"", data, len(data)


def copy_out(kind: int, meta: bytes, view: memoryview) -> Any:
    """Runs under the ring's lock: one copy from the ring into the object handed out.

    Arrays land directly in their final array; pickles are only copied here and unpickled
    after the lock is released (unpickling runs user code).
    """
    if kind == KIND_ARRAY:
        dtype, shape = _decode_array_layout(meta)
        array = np.empty(shape, dtype)
        array.reshape(-1).view(np.uint8)[:] = view
        return array
    return bytes(view)


def decode(kind: int, meta: bytes, payload: Any) -> Any:
    """The item a record holds, from ``copy_out``'s result or from a view into the ring."""
    if kind == KIND_BYTES:
        return payload
    if kind == KIND_ARRAY:
        if isinstance(payload, np.ndarray):
            return payload
        dtype, shape = _decode_array_layout(meta)
        return np.frombuffer(payload, dtype=dtype).reshape(shape)
    return pickle.loads(payload)


class ShmQueue:
    """A bounded queue in shared memory. ``ShmQueue()`` creates one; ``attach(name)`` joins it.

    Handles pickle to their name, so they pass through ``Process(args=...)`` under spawn and
    fork and reconnect in the child on first use.
    """

    def __init__(
        self,
        name: str | None = None,
        capacity_bytes: int = DEFAULT_CAPACITY,
        *,
        exist_ok: bool = False,
    ) -> None:
        name = name if name is not None else f"q_{uuid.uuid4().hex[:16]}"
        ring = Ring.create(name, capacity_bytes, exist_ok)
        self._adopt(ring)

    def _adopt(self, ring: Ring) -> None:
        self._ring: Ring | None = ring
        self._name = ring.name
        self._token = ring.segment.header.token
        self._pid = os.getpid()

    @classmethod
    def attach(cls, name: str) -> ShmQueue:
        """Join the existing queue ``name`` from any process."""
        handle = cls.__new__(cls)
        handle._adopt(Ring.attach(name))
        return handle

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self._name, "token": self._token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._name = state["name"]
        self._token = state["token"]
        self._ring = None
        self._pid = -1

    def ring(self) -> Ring:
        """The ring in this process, attached on first use after pickling."""
        ring = self._ring
        if ring is None or self._pid != _PROCESS_ID[0]:
            if self._pid == -2:
                raise NotConnectedError(
                    f"queue {self._name!r} was closed in this process; attach it again",
                    name=self._name,
                )
            if ring is None:
                ring = Ring.attach(self._name, self._token)
            self._ring, self._pid = ring, os.getpid()
        return ring

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity_bytes(self) -> int:
        return self.ring().capacity

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Add ``item``; wait while the queue is full (up to ``timeout`` seconds, None: forever)."""
        kind, meta, payload, length = encode(item)
        self.ring().put(kind, meta, payload, length, timeout)

    def put_nowait(self, item: Any) -> None:
        self.put(item, timeout=0)

    def get(self, timeout: float | None = None) -> Any:
        """Remove and return the oldest item; wait up to ``timeout`` seconds (None: forever)."""
        kind, meta, payload = self.ring().get_many(1, timeout, materialize=copy_out)[0]
        return decode(kind, meta, payload)

    def get_nowait(self) -> Any:
        return self.get(timeout=0)

    def get_many(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """Up to ``max_items`` items in one locked pass; waits (per ``timeout``) only when empty."""
        records = self.ring().get_many(max_items, timeout, materialize=copy_out)
        return [decode(kind, meta, payload) for kind, meta, payload in records]

    def get_view(self, timeout: float | None = None) -> ItemView:
        """Take the oldest item without copying it out; use as ``with q.get_view() as item:``.

        The item is a read-only view into the queue, valid until the view is released. If this
        process dies first, the item is delivered again to another consumer.
        """
        ring = self.ring()
        kind, meta, (position, payload) = ring.get(timeout, take=True)
        return ItemView(ring, position, decode(kind, meta, payload.toreadonly()))

    def qsize(self) -> int:
        """Items waiting (approximate while others put and get)."""
        return self.ring().stats()["items"]

    def empty(self) -> bool:
        return self.qsize() == 0

    def stats(self) -> dict[str, int]:
        """Items waiting, bytes in use, capacity, totals put and got, items delivered again."""
        return self.ring().stats()

    def close(self) -> None:
        """Leave the queue. In its creator this also closes it for everyone: blocked callers
        wake with QueueClosedError, consumers may still drain what is left."""
        ring, self._ring = self._ring, None
        if ring is None:
            return
        self._pid = -2
        if ring.segment.header.creator_pid == os.getpid():
            ring.mark_closed()
            ring.segment.unlink()
        ring.close()

    def __enter__(self) -> ShmQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ShmQueue(name={self._name!r})"


class ItemView:
    """An item read in place; ``release()`` (or leaving the ``with`` block) frees its space."""

    __slots__ = ("_position", "_ring", "value")

    def __init__(self, ring: Ring, position: int, value: Any) -> None:
        self._ring: Ring | None = ring
        self._position = position
        self.value = value

    def release(self) -> None:
        ring, self._ring = self._ring, None
        if ring is not None:
            self.value = None
            ring.release([self._position])

    def __enter__(self) -> Any:
        return self.value

    def __exit__(self, *exc_info: object) -> None:
        self.release()
