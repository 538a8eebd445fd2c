"""The take path: copy records out (``get_many``) or take them in place for a later ``release``,
and hand taken records back (``give_back``).

Copying gets leave an intent for crash repair, take a pending region in one copy when they can,
and watch an empty ring briefly before they sleep; takes mark records with their pid. The
protocol: docs/queue.md, "Get", "Take", "Sweep" and "Watching before waiting".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import CorruptSegmentError, QueueEmptyError
from . import _segment
from ._ring_core import (
    BATCH_MARK,
    CONSUMERS_WAITING,
    FREE,
    GOT,
    GOT_WORD,
    HEADER_BYTES,
    INTENT,
    INTENT_AT,
    INTENT_GET,
    INTENT_SPAN,
    KIND_WRAP,
    PUT_WORD,
    READ,
    REDELIVERED,
    RESCUED,
    SERIAL,
    STAGE,
    STAGED_GOT,
    STATE_RELEASED,
    STATE_RESCUED,
    STATE_TAKEN,
    TAIL,
    TAKER,
    unpack_record_header,
    unpack_size_kind_state,
)
from ._ring_wait import RingWaiting

_COPY_BUDGET = 1 << 20
_SPAN_BYTES = 256 * 1024
"""Pending regions up to this size leave the ring in one copy and are parsed outside the lock."""
_SPIN_SECONDS = 50e-6
_GATHER_SECONDS = 25e-6  # a batching consumer that found the ring empty lets items gather
"""How long a consumer watches an empty ring before it sleeps (see ``_spin_while_empty``)."""


def _owned_bytes(_kind: int, _meta: bytes, view: memoryview) -> bytes:
    return bytes(view)


class RingTakes(RingWaiting):
    """Consumers' side of the ring."""

    def get(self, timeout: float | None, take: bool = False) -> tuple[int, bytes, Any]:
        """Take the oldest record: ``(kind, meta, payload bytes)``, or with ``take=True``
        ``(kind, meta, (position, payload view))`` of a record left in place, marked taken by
        this process until ``release``."""
        records = self.get_many(1, timeout, take)
        return records[0]

    def get_many(
        self,
        max_items: int,
        timeout: float | None,
        take: bool = False,
        max_bytes: int | None = None,
        materialize: Callable[[int, bytes, memoryview], Any] = _owned_bytes,
        poll: float | None = None,
    ) -> list[tuple[int, bytes, Any]]:
        """Take up to ``max_items`` records (and about ``max_bytes`` of payload), waiting (per
        ``timeout``) only for the first.

        Copied records become ``materialize(kind, meta, view)`` while the lock is held, so it
        must only copy (the view is reused once the lock is released). Copying gets default to
        a 1 MiB budget, so producers wait for at most about one large copy. With ``poll`` (in
        seconds) an empty queue is checked at that interval instead of being woken by every
        put: producers then never pay for waking this consumer (the logger batches anyway).
        """
        if max_bytes is None and not take:
            max_bytes = _COPY_BUDGET
        if poll is None and (timeout is None or timeout > 0):
            self._spin_while_empty(max_items > 1)

        def attempt() -> tuple[Any, bool] | None:
            span = None if take or max_items < 2 else self._take_span(max_items)
            if span:
                return span, True  # parsed after unlocking
            found = self._take(max_items, take, max_bytes, materialize)
            if found:
                return found, False
            self._check_open(for_put=False)  # a closed queue is drained before it refuses
            return None

        taken, is_span = self._until(
            attempt, PUT_WORD, CONSUMERS_WAITING, timeout, self._empty, poll
        )
        return self._parse_span(taken, materialize) if is_span else taken

    def _spin_while_empty(self, gather: bool = False) -> None:
        """Watch an empty ring without the lock for up to ``_SPIN_SECONDS`` before going to sleep.

        Under load the next put comes that soon, and a consumer that sleeps makes every producer
        pay a wake-up system call per put until it is back. Only reads: what to take is decided
        under the lock as always. Yields the CPU meanwhile, so producers on a busy machine run.
        With ``gather`` (a get of several items) it then watches ``_GATHER_SECONDS`` more, so
        the get takes what came meanwhile in one lock hold: a producer racing a consumer for the
        lock on every put pays twice as much per put.
        """
        control, flags = self._control, self._flags
        if control is None:
            return
        tail = control[TAIL]
        if control[READ] != tail or control[RESCUED]:
            return
        end = time.monotonic() + _SPIN_SECONDS
        while control[TAIL] == tail and not control[RESCUED] and not flags.value:
            if time.monotonic() > end:
                return
            os.sched_yield()
        if gather:  # one lock hold for several items instead of a lock handover per put
            end = time.monotonic() + _GATHER_SECONDS
            while time.monotonic() < end:
                os.sched_yield()  # a producer sharing this CPU gets to run

    def _take_span(self, max_items: int) -> Any:
        """Copy the pending region out in up to two pieces (one per lap), in one lock hold.

        Only when nothing is taken or waiting to be delivered again, and the region is small:
        returns ``[(data, [(offset, size), ...]), ...]`` or None, and ``_take`` goes record by
        record instead.
        """
        control, capacity = self._control, self.capacity
        pieces: list[tuple[bytes, list[tuple[int, int]]]] = []
        wanted = max_items
        for _lap in range(2):
            read, tail = control[READ], control[TAIL]
            if read == tail or control[RESCUED] or control[FREE] != read or wanted <= 0:
                break
            if not read < tail <= read + capacity or (read | tail) & 15:
                break  # positions no intact ring holds: _take reports them
            end = min(tail, read - read % capacity + capacity, read + _SPAN_BYTES)
            offset = read % capacity
            first = unpack_size_kind_state(self._buffer, offset)[0]
            if first > end - read:
                break  # the next record is larger than a span: _take copies it alone
            end = min(end, read + max(first * wanted * 2, 4096))  # copy about what is wanted
            if not pieces:  # one intent for the whole hold: repair rewinds to the first piece
                control[INTENT_AT], control[STAGED_GOT] = read, control[GOT]
                control[INTENT] = INTENT_SPAN
            data = bytes(self._buffer[offset : offset + (end - read)])
            records: list[tuple[int, int]] = []
            position, length, intact = 0, len(data), True
            unpack = unpack_record_header
            while position + HEADER_BYTES <= length and len(records) < wanted:
                size, kind, _state, meta_length, payload_length, _taker = unpack(data, position)
                if size & 15 or HEADER_BYTES + meta_length + payload_length > size:
                    intact = False  # taken up to here; _take reports it when it comes first
                    break
                if position + size > length:
                    break  # cut by the span's limit: left for the next get
                if kind != KIND_WRAP:
                    records.append((position, size))
                position += size
            control[READ] = control[FREE] = read + position  # the commit
            control[GOT] += len(records)
            wanted -= len(records)
            if records:
                pieces.append((data, records))
            if not intact:
                break
        if pieces:
            self._bump(GOT_WORD)
        return pieces or None

    @staticmethod
    def _parse_span(
        pieces: Any, materialize: Callable[[int, bytes, memoryview], Any]
    ) -> list[tuple[int, bytes, Any]]:
        found = []
        for data, records in pieces:
            view = memoryview(data)
            for position, _size in records:
                _s, kind, _state, meta_length, length, _t = unpack_record_header(data, position)
                start = position + HEADER_BYTES
                meta = data[start : start + meta_length]
                payload = view[start + meta_length : start + meta_length + length]
                found.append((kind, meta, materialize(kind, meta, payload)))
        return found

    def _take(
        self,
        max_items: int,
        take: bool,
        max_bytes: int | None = None,
        materialize: Callable[[int, bytes, memoryview], Any] = _owned_bytes,
    ) -> list[tuple[int, bytes, Any]]:
        control, buffer, capacity = self._control, self._buffer, self.capacity
        budget = capacity if max_bytes is None else max_bytes
        free, read, tail = control[FREE], control[READ], control[TAIL]
        if not free <= read <= tail <= free + capacity or (free | read | tail) & 15:
            self._positions()  # raises: a corrupt ring is reported before anything moves
        if take and not control[RESCUED]:
            return self._take_in_place(max_items, budget, read, tail)
        found: list[tuple[int, bytes, Any]] = []
        if take:
            state, taker = STATE_TAKEN, _segment.PROCESS_ID[0]
        else:
            # The intent stays set after this get: only the next holder knows whether we
            # returned (it clears the intent) or died holding the lock (it repairs).
            serial = (control[SERIAL] + 1) & 0x7FFF_FFFF
            control[SERIAL] = serial
            state, taker = STATE_RELEASED, BATCH_MARK | serial
            control[STAGE], control[INTENT_AT], control[STAGED_GOT] = free, read, control[GOT]
            control[INTENT] = INTENT_GET
        pack_taker = TAKER.pack_into
        while len(found) < max_items and budget > 0:
            try:
                position = self._find_rescued() if control[RESCUED] else None
                if position is None:
                    position = read
                    if position == tail:
                        break
                    end = tail
                else:
                    end = read
                offset = position % capacity
                header = unpack_record_header(buffer, offset)
                size, kind, _state, meta_length, length, _ = header
                if (
                    size & 15
                    or HEADER_BYTES + meta_length + length > size  # also: size >= 16
                    or offset + size > capacity
                    or position + size > end
                ):
                    raise self._bad_record(position, header)
            except CorruptSegmentError:
                if found:
                    break  # hand out what was taken; the next get reports the corruption
                raise
            if kind == KIND_WRAP:
                read = control[READ] = position + size
                continue
            start = offset + HEADER_BYTES
            meta = bytes(buffer[start : start + meta_length])
            budget -= length
            if take:
                end = start + meta_length + length
                found.append((kind, meta, (position, buffer[start + meta_length : end])))
            else:
                end = start + meta_length + length
                found.append(
                    (kind, meta, materialize(kind, meta, buffer[start + meta_length : end]))
                )
            buffer[offset + 5] = state
            pack_taker(buffer, offset + 12, taker)
            if position == read:
                read = control[READ] = position + size
                control[GOT] += 1
            else:  # delivered again: counted in got when first taken, in rescued until now
                control[RESCUED] -= 1
                control[REDELIVERED] += 1
        if found and not take:
            self._sweep()
        return found

    def _take_in_place(
        self, max_items: int, budget: int, read: int, tail: int
    ) -> list[tuple[int, bytes, Any]]:
        """``_take(take=True)`` when nothing waits to be delivered again (the logger's loop).

        Marks each record taken by this pid, then commits ``read`` once. A holder killed before
        that store leaves ``read`` where it was: the marked records are still ahead of it and
        the next take marks them again, so the outcome is that of the record-by-record loop.
        """
        control, buffer, capacity = self._control, self._buffer, self.capacity
        unpack, pack_taker = unpack_record_header, TAKER.pack_into
        pid = _segment.PROCESS_ID[0]
        found: list[tuple[int, bytes, Any]] = []
        position = read
        while position < tail and len(found) < max_items and budget > 0:
            offset = position % capacity
            header = unpack(buffer, offset)
            size, kind, _state, meta_length, length, _ = header
            if (
                size & 15
                or HEADER_BYTES + meta_length + length > size
                or offset + size > capacity
                or position + size > tail
            ):
                if found:
                    break  # hand out what was taken; the next take reports the corruption
                raise self._bad_record(position, header)
            if kind != KIND_WRAP:
                start = offset + HEADER_BYTES
                end = start + meta_length
                found.append(
                    (kind, bytes(buffer[start:end]), (position, buffer[end : end + length]))
                )
                buffer[offset + 5] = STATE_TAKEN
                pack_taker(buffer, offset + 12, pid)
                budget -= length
            position += size
        control[READ] = position  # the commit
        control[GOT] += len(found)
        return found

    def _find_rescued(self) -> int | None:
        control = self._control
        position, read = control[FREE], control[READ]
        while position < read:
            size, _kind, state = self._record(position, read)[:3]
            if state == STATE_RESCUED:
                return int(position)
            position += size
        control[RESCUED] = 0  # a count left high by a holder that died mid-update
        return None

    def release(self, positions: list[int]) -> None:
        """Give the space of taken records back: their contents are done with."""
        buffer, capacity, pack_taker = self._buffer, self.capacity, TAKER.pack_into
        self._enter()
        try:
            for position in positions:
                offset = position % capacity
                buffer[offset + 5] = STATE_RELEASED
                pack_taker(buffer, offset + 12, 0)
            self._sweep()
        finally:
            self._exit()

    def give_back(self, positions: list[int]) -> None:
        """Return taken records undelivered: they will be delivered again."""
        self._enter()
        try:
            for position in positions:
                self._set_state(position, STATE_RESCUED)
                self._control[RESCUED] += 1
            self._bump(PUT_WORD)
        finally:
            self._exit()

    def _empty(self, timeout: float | None) -> QueueEmptyError:
        return QueueEmptyError(
            f"{self._label} stayed empty for {timeout} s; pass a longer timeout or "
            "check that producers are running",
            name=self.name,
        )
