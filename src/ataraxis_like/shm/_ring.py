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

import os

import numpy as np

from ..errors import InvalidCapacityError
from . import _segment, _trust
from ._ring_core import ALIGN, MIN_CAPACITY, NOTE_BYTES
from ._ring_put import RingPuts
from ._ring_take import RingTakes


def _align(size: int) -> int:
    return (size + ALIGN - 1) & ~(ALIGN - 1)


def _shm_bytes() -> int:
    """The size of the file system segments live in: no ring can be larger."""
    try:
        status = os.statvfs(_segment.SHM_DIRECTORY)
    except OSError:
        return 1 << 40
    return status.f_blocks * status.f_frsize


def checked_capacity(capacity: object, argument: str = "capacity_bytes") -> int:
    """``capacity`` rounded up to a multiple of 16, or InvalidCapacityError with the range."""
    largest = _shm_bytes() - NOTE_BYTES
    if (
        isinstance(capacity, int | np.integer)
        and not isinstance(capacity, bool)
        and MIN_CAPACITY <= capacity <= largest
    ):
        return _align(int(capacity))
    shown = f"{capacity!r:.60}"
    raise InvalidCapacityError(
        f"{argument} must be an int from {MIN_CAPACITY} to {largest} (the size of "
        f"{_segment.SHM_DIRECTORY}) bytes (got {shown} that is a {type(capacity).__name__}); "
        "pass a whole number of bytes in that range (it is rounded up to a multiple of 16)",
        argument=argument,
        capacity=capacity,
    )


class Ring(RingPuts, RingTakes):
    """The ring inside one segment. ``Ring.create`` makes one; ``Ring.attach`` maps it."""

    @classmethod
    def create(
        cls, name: str, capacity: object, exist_ok: bool = False, argument: str = "capacity_bytes"
    ) -> Ring:
        """A new ring of ``capacity`` bytes (checked; ``argument`` names it in the error)."""
        capacity = checked_capacity(capacity, argument)
        meta = {"capacity": capacity}
        segment = _segment.create(name, _segment.KIND_QUEUE, meta, NOTE_BYTES + capacity, exist_ok)
        try:
            return cls(segment)
        except BaseException:
            segment.unlink()
            segment.close()
            raise

    @classmethod
    def attach(
        cls, name: str, token: int | None = None, trust: _trust.Trust = _trust.OWN_USER
    ) -> Ring:
        """Map the existing ring ``name``; see ``_segment.attach`` for ``token`` and ``trust``."""
        segment = _segment.attach(name, _segment.KIND_QUEUE, token, trust)
        try:
            return cls(segment)
        except BaseException:
            segment.close()
            raise
