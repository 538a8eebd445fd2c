"""ShmQueue: a shared-memory queue for bytes, numpy arrays and any picklable object.

Many producers and consumers, in any processes (spawn, fork, or attached by name) and threads.
Each item goes to exactly one consumer, intact, in order per producer. Bytes and arrays travel
without pickle: one copy in, one copy out (or none out, with ``get_view``). The queue is bounded
by bytes. Crash behaviour and the record format are in docs/queue.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import NotConnectedError
from . import _items, _trust
from ._arguments import checked_count, checked_timeout, plain_timeout
from ._items import KIND_ARRAY, KIND_BYTES, KIND_PICKLE, copy_out, decode_all, encode
from ._ring import Ring
from ._segment import PROCESS_ID as _PROCESS_ID

__all__ = ["DEFAULT_CAPACITY", "KIND_ARRAY", "KIND_BYTES", "KIND_PICKLE", "ItemView", "ShmQueue"]

DEFAULT_CAPACITY = 64 * 1024 * 1024


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
        """Create the queue ``name`` (a fresh unique name when None) holding up to
        ``capacity_bytes`` (64 bytes up to the size of /dev/shm, rounded up to a multiple of
        16) of records; a name another user holds raises SegmentExistsError naming them."""
        name = name if name is not None else f"q_{uuid.uuid4().hex[:16]}"
        ring = Ring.create(name, capacity_bytes, exist_ok)
        self._adopt(ring, _trust.OWN_USER)

    def _adopt(self, ring: Ring, trust: _trust.Trust) -> None:
        self._ring: Ring | None = ring
        self._name = ring.name
        self._token = ring.segment.header.token
        self._trust = trust
        self._pid = os.getpid()
        self._label = f"queue {ring.name!r}"

    @classmethod
    def attach(
        cls, name: str, *, trust: int | str | Iterable[int | str] = (), allow_pickle: bool = False
    ) -> ShmQueue:
        """Join the existing queue ``name`` from any process.

        Only queues created by this process's own user are attached, unless ``trust`` names
        the creator (a uid or login name, or several). Pickled items from a trusted other
        user are unpickled only with ``allow_pickle=True`` (unpickling runs their code as
        you); bytes and arrays are never unpickled. See docs/shared-memory.md, "Who may attach".
        """
        policy = _trust.Trust.of(trust, allow_pickle)
        handle = cls.__new__(cls)
        handle._adopt(Ring.attach(name, trust=policy), policy)
        return handle

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self._name, "token": self._token, **self._trust.state()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._name = state["name"]
        self._token = state["token"]
        self._trust = _trust.Trust.from_state(state)
        self._label = f"queue {self._name!r}"
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
                ring = Ring.attach(self._name, self._token, self._trust)
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
        if timeout is not None:  # inline: the put costs well under a microsecond
            try:
                plain = (timeout >= 0) is True
            except (TypeError, ValueError):
                plain = False
            if not plain:
                timeout = checked_timeout(timeout, self._label)
        kind, meta, payload, length = encode(item)
        ring = self._ring
        if ring is None or self._pid != _PROCESS_ID[0]:
            ring = self.ring()
        ring.put(kind, meta, payload, length, timeout)

    def put_nowait(self, item: Any) -> None:
        self.put(item, timeout=0)

    def get(self, timeout: float | None = None) -> Any:
        """Remove and return the oldest item; wait up to ``timeout`` seconds (None: forever).

        An item that cannot be decoded (or a pickle from an untrusted user) raises
        ItemDecodeError carrying its bytes."""
        if timeout is not None and not plain_timeout(timeout):
            timeout = checked_timeout(timeout, self._label)
        ring = self._ring
        if ring is None or self._pid != _PROCESS_ID[0]:
            ring = self.ring()
        records = ring.get_many(1, timeout, materialize=copy_out)
        kind, _meta, payload = records[0]
        if kind == KIND_BYTES or type(payload) is np.ndarray:  # copied out whole: no decoding
            return payload
        return decode_all(records, ring.segment.pickles_trusted, self._label)[0]

    def get_nowait(self) -> Any:
        return self.get(timeout=0)

    def get_many(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """Up to ``max_items`` items in one locked pass; waits (per ``timeout``) only when empty."""
        if type(max_items) is not int or max_items < 1:
            max_items = checked_count(max_items, "max_items", self._label)
        if timeout is not None and not plain_timeout(timeout):
            timeout = checked_timeout(timeout, self._label)
        ring = self._ring
        if ring is None or self._pid != _PROCESS_ID[0]:
            ring = self.ring()
        records = ring.get_many(max_items, timeout, materialize=copy_out)
        return decode_all(records, ring.segment.pickles_trusted, self._label)

    def get_view(self, timeout: float | None = None) -> ItemView:
        """Take the oldest item without copying it out; use as ``with q.get_view() as item:``.

        The item is a read-only view into the queue, valid until the view is released. If this
        process dies first, the item is delivered again to another consumer.
        """
        if not plain_timeout(timeout):
            timeout = checked_timeout(timeout, self._label)
        ring = self.ring()
        kind, meta, (position, payload) = ring.get(timeout, take=True)
        try:
            value = _items.decode(
                kind, meta, payload.toreadonly(), ring.segment.pickles_trusted, self._label
            )
        except BaseException:
            ring.release([position])  # refused: its space is given back, it is not kept
            raise
        return ItemView(ring, position, value)

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
