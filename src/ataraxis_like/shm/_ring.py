"""The bus: a bounded, multi-producer multi-consumer byte ring in a shared-memory segment.

Records are written and taken under the segment's robust lock, and every change becomes visible
through one 8-byte store (``tail`` for a put, ``read`` for a get), so a process killed at any
instant leaves either the old or the new state. An in-flight get is announced in an intent word;
when its consumer dies before the get returns, the lock's next holder rescues the record and it
is delivered again. Records taken for zero-copy use (or by a logger until its file is on disk)
carry their taker's pid and are rescued the same way when that process dies. The protocol is
written down in docs/queue.md.

``Ring`` is put together from one part per job, each readable on its own:

- ``_ring_core``: layout, mapped state, lock, record headers, sweep, flags and statistics;
- ``_ring_repair``: repair after a dead lock holder, rescue of records held by dead takers;
- ``_ring_wait``: blocking between tries, and looking for trouble while blocked;
- ``_ring_put``: the put path; ``_ring_take``: gets, takes, release and give-back.
"""

from __future__ import annotations

from . import _header, _segment
from ._ring_core import ALIGN, NOTE_BYTES
from ._ring_put import RingPuts
from ._ring_take import RingTakes


def _align(size: int) -> int:
    return (size + ALIGN - 1) & ~(ALIGN - 1)


class Ring(RingPuts, RingTakes):
    """The ring inside one segment. ``Ring.create`` makes one; ``Ring.attach`` maps it."""

    @classmethod
    def create(cls, name: str, capacity: int, exist_ok: bool = False) -> Ring:
        capacity = _align(max(capacity, 4 * ALIGN))
        meta = {"capacity": capacity}
        segment = _segment.create(name, _header.KIND_QUEUE, meta, NOTE_BYTES + capacity, exist_ok)
        return cls(segment)

    @classmethod
    def attach(cls, name: str, token: int | None = None) -> Ring:
        return cls(_segment.attach(name, _header.KIND_QUEUE, token))
