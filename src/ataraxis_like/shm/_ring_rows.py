"""Taking records in place as rows: for a consumer that keeps records in the ring until it is
done with them, many at a time (the logger).

``take_rows`` takes records exactly as ``get(take=True)`` does (docs/queue.md, "Take": marked
taken by this pid, ``read`` committed once) and describes each in a row of ``TAKEN_ROW``: where it
is, its payload's place and length, its kind and meta. The consumer reads metas from the rows and
payloads from the ring (``gather`` or ``payload_views``) and then gives the space back with
``release_rows``, or returns the records with ``give_back``. The compiled accelerator does the
per-record work in C; without it the Python take does it and its results become the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _posix, _segment
from ._ring_core import (
    CONSUMERS_WAITING,
    FREE,
    GOT,
    HEADER_BYTES,
    PUT_WORD,
    READ,
    RESCUED,
    STATE_TAKEN,
    TAIL,
    unpack_size_kind_state,
)
from ._ring_take import RingTakes

ROW_META_BYTES = 16
TAKEN_ROW = np.dtype(
    [("position", "<u8"), ("offset", "<u8"), ("length", "<u4"), ("size", "<u4"),
     ("meta_length", "<u2"), ("kind", "u1"), ("state", "u1"), ("reserved", "<u4"),
     ("meta", "u1", (ROW_META_BYTES,))]
)  # fmt: skip
"""One taken record: its position, its payload's offset in the ring buffer and length, its size,
meta length (the true one; ``meta`` holds its first 16 bytes), kind and state. 48 bytes, laid
out as ``TakenRow`` in ``_fastlock.c``."""


class RingRows(RingTakes):
    """Takes and releases in rows."""

    def take_rows(
        self,
        max_items: int,
        timeout: float | None,
        max_bytes: int | None = None,
        poll: float | None = None,
    ) -> np.ndarray:
        """Take up to ``max_items`` records (about ``max_bytes`` of payload) in one lock hold,
        waiting (per ``timeout``, checking every ``poll`` seconds) only for the first."""
        raw = np.empty(max_items * TAKEN_ROW.itemsize, dtype=np.uint8)
        rows = raw.view(TAKEN_ROW)  # C gets the bytes: exporting a structured buffer costs more
        budget = self.capacity if max_bytes is None else max(0, max_bytes)

        def attempt() -> np.ndarray | None:
            count = self._take_rows_locked(rows, raw, budget)
            if count:
                return rows[:count]
            self._check_open(for_put=False)  # a closed queue is drained before it refuses
            return None

        return self._until(attempt, PUT_WORD, CONSUMERS_WAITING, timeout, self._empty, poll)

    def _take_rows_locked(self, rows: np.ndarray, raw: np.ndarray, budget: int) -> int:
        control = self._control
        if not control[RESCUED] and _take_rows is not None:
            free, read, tail = control[FREE], control[READ], control[TAIL]
            if not free <= read <= tail <= free + self.capacity or (free | read | tail) & 15:
                self._positions()  # raises: a corrupt ring is reported before anything moves
            count, stop = _take_rows(
                self._buffer_address, self.capacity, read, tail, len(rows), budget,
                _segment.PROCESS_ID[0], raw,
            )  # fmt: skip
            control[READ] = stop  # the commit, as in _take_in_place
            control[GOT] += count
            if count or stop == control[TAIL]:
                return int(count)
            # The next record is one the compiled walk leaves alone: the Python take decides.
        found = self._take(len(rows), True, budget)
        count = len(found)
        if count:
            self._describe(rows[:count], found)
        return count

    def _describe(self, rows: np.ndarray, found: list[tuple[int, bytes, Any]]) -> None:
        """Fill ``rows`` from the Python take's ``(kind, meta, (position, payload))`` records."""
        capacity, buffer = self.capacity, self._buffer
        offsets = [position % capacity for _k, _m, (position, _p) in found]
        metas = [meta for _k, meta, _t in found]
        rows["position"] = [position for _k, _m, (position, _p) in found]
        rows["kind"] = [kind for kind, _m, _t in found]
        rows["meta_length"] = [len(meta) for meta in metas]
        rows["length"] = [len(payload) for _k, _m, (_p, payload) in found]
        rows["offset"] = [o + HEADER_BYTES + len(m) for o, m in zip(offsets, metas, strict=True)]
        rows["size"] = [unpack_size_kind_state(buffer, offset)[0] for offset in offsets]
        rows["state"], rows["reserved"] = STATE_TAKEN, 0
        padded = b"".join(meta[:ROW_META_BYTES].ljust(ROW_META_BYTES, b"\0") for meta in metas)
        rows["meta"] = np.frombuffer(padded, dtype=np.uint8).reshape(len(found), ROW_META_BYTES)

    def release_rows(self, rows: np.ndarray) -> None:
        """Give the space of the taken records ``rows`` describe back: their contents are done
        with (``release`` for many records)."""
        if _release_rows is None:
            self.release(rows["position"].tolist())
            return
        self._enter()
        try:
            _release_rows(self._buffer_address, self.capacity, _bytes_of(rows))
            self._sweep()
        finally:
            self._exit()

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The payloads of taken records back to back, as one uint8 array (a copy)."""
        out = np.empty(int(rows["length"].sum(dtype=np.uint64)), dtype=np.uint8)
        if _gather_rows is not None:
            _gather_rows(self._buffer_address, self.capacity, _bytes_of(rows), out)
            return out
        views = self.payload_views(rows)
        if views:
            out[:] = np.frombuffer(b"".join(views), dtype=np.uint8)
        return out

    def payload_views(self, rows: np.ndarray) -> list[memoryview]:
        """The payloads of taken records as views into the ring (valid until released)."""
        buffer = self._buffer
        return [
            buffer[offset : offset + length]
            for offset, length in zip(rows["offset"].tolist(), rows["length"].tolist(), strict=True)
        ]


def _bytes_of(rows: np.ndarray) -> np.ndarray:
    """The rows' bytes, contiguous, as the compiled functions take them."""
    return np.ascontiguousarray(rows).view(np.uint8)


_take_rows = _posix.take_rows
_release_rows = _posix.release_rows
_gather_rows = _posix.gather_rows
