"""The put path: append one record under the lock and commit it with one store of ``tail``.

The compiled accelerator's ``RingWriter`` (``_fastlock.c``) does the same put in one call when
it is built; this module is the reference it mirrors and the fallback. Records and commit:
docs/queue.md, "Records" and "Put".
"""

from __future__ import annotations

from typing import Any

from ..errors import ItemTooLargeError, QueueFullError
from . import _posix
from ._ring_core import (
    ALIGN,
    CONSUMERS_WAITING,
    FREE,
    GOT_WORD,
    HEADER_BYTES,
    INTENT,
    INTENT_NONE,
    INTENT_RESET,
    KIND_WRAP,
    PRODUCERS_WAITING,
    PUT,
    PUT_WORD,
    READ,
    STAGE,
    STATE_READY,
    TAIL,
    pack_record_header,
    pack_record_header_into,
)
from ._ring_wait import RingWaiting

_PREBUILT_BYTES = 64 * 1024
"""Records up to this size are assembled before taking the lock and written in one copy."""


class RingPuts(RingWaiting):
    """Producers' side of the ring."""

    def put(
        self, kind: int, meta: bytes, payload: Any, payload_length: int, timeout: float | None
    ) -> None:
        """Append one record; block while full (``timeout`` None: forever, 0: not at all)."""
        need = (HEADER_BYTES + len(meta) + payload_length + ALIGN - 1) & ~(ALIGN - 1)
        if need > self._largest_record:
            raise ItemTooLargeError(
                f"item of {payload_length} bytes does not fit {self._label} of "
                f"{self.capacity} bytes; create the queue with capacity_bytes >= {need}",
                name=self.name,
                size=payload_length,
            )
        if self._control is None:
            raise self._closed_here()
        writer = self._writer
        if writer is not None:  # the compiled put: same record, same commit, one call
            result = writer.put(kind, meta, payload, False)
            if result > 0:  # the lock is busy (or was held by a dead process): wait for it
                self._lock.acquire_slow(result, None, self._intent_address)
                result = writer.put(kind, meta, payload, True)
            if result < 0:
                self._put_waiting(kind, meta, payload, payload_length, need, timeout)
            return
        record = None
        if need <= _PREBUILT_BYTES:
            header = pack_record_header(need, kind, STATE_READY, len(meta), payload_length, 0)
            record = b"".join((header, meta, payload))
        self._enter()
        try:  # the common case: open, and room for the record
            waiting = None
            if not self._flags.value:
                waiting = self._try_put(kind, meta, payload, payload_length, need, record)
        finally:
            self._exit()
        if waiting is None:
            self._put_waiting(kind, meta, payload, payload_length, need, timeout)
        elif waiting:
            self._wake_consumers()

    def _put_waiting(
        self, kind: int, meta: bytes, payload: Any, length: int, need: int, timeout: float | None
    ) -> None:
        def attempt() -> int | None:
            self._check_open(for_put=True)
            return self._try_put(kind, meta, payload, length, need)

        if self._until(attempt, GOT_WORD, PRODUCERS_WAITING, timeout, self._full):
            self._wake_consumers()

    def _wake_consumers(self) -> None:
        """After unlocking, so the woken consumer finds the lock free."""
        _posix.futex_wake_all(self._words_address + 4 * PUT_WORD)

    def _try_put(
        self,
        kind: int,
        meta: bytes,
        payload: Any,
        length: int,
        need: int,
        record: bytes | None = None,
    ) -> int | None:
        """Write the record under the lock: None when there is no room, else how many consumers
        wait for it (the caller wakes them after unlocking)."""
        control, capacity, buffer = self._control, self.capacity, self._buffer
        free, read, tail = self._positions()
        offset = tail % capacity
        wrap = capacity - offset if offset + need > capacity else 0
        if (tail - free) + wrap + need > capacity:
            if not (free == read == tail and wrap):
                return None
            # Empty but the record does not fit before the end: restart at the next lap.
            lap = tail + wrap
            control[STAGE], control[STAGE + 1], control[STAGE + 2] = lap, lap, lap
            control[INTENT] = INTENT_RESET
            control[FREE] = control[READ] = control[TAIL] = lap
            control[INTENT] = INTENT_NONE
            tail, offset, wrap = lap, 0, 0
        if wrap:
            pack_record_header_into(buffer, offset, wrap, KIND_WRAP, STATE_READY, 0, 0, 0)
            tail += wrap
            offset = 0
        if record is not None:
            buffer[offset : offset + len(record)] = record
        else:
            meta_length = len(meta)
            pack_record_header_into(buffer, offset, need, kind, STATE_READY, meta_length, length, 0)
            start = offset + HEADER_BYTES
            if meta_length:
                buffer[start : start + meta_length] = meta
            if length:
                buffer[start + meta_length : start + meta_length + length] = payload
        control[TAIL] = tail + need  # the commit: the record exists from here on
        control[PUT] += 1
        words = self._words
        words[PUT_WORD] = (words[PUT_WORD] + 1) & 0xFFFFFFFF
        return int(words[CONSUMERS_WAITING])

    def _full(self, timeout: float | None) -> QueueFullError:
        return QueueFullError(
            f"{self._label} stayed full for {timeout} s ({self.capacity} bytes); consume "
            "faster, pass a longer timeout or create it with a larger capacity_bytes",
            name=self.name,
        )
