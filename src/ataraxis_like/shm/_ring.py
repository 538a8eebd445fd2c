"""The bus: a bounded, multi-producer multi-consumer byte ring in a shared-memory segment.

Records are written and taken under the segment's robust lock, and every change becomes visible
through one 8-byte store (``tail`` for a put, ``read`` for a get), so a process killed at any
instant leaves either the old or the new state. An in-flight get is announced in an intent word;
when its consumer dies before the get returns, the lock's next holder rescues the record and it
is delivered again. Records taken for zero-copy use (or by a logger until its file is on disk)
carry their taker's pid and are rescued the same way when that process dies. The protocol is
written down in docs/queue.md.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil

from ..errors import (
    ItemTooLargeError,
    NotConnectedError,
    QueueClosedError,
    QueueEmptyError,
    QueueFailedError,
    QueueFullError,
)
from . import _header, _posix, _segment

RECORD_HEADER = struct.Struct("<IBBHII")  # size, kind, state, meta length, payload length, taker
_TAKER = struct.Struct("<I")
_SIZE_KIND_STATE = struct.Struct("<IBB")
HEADER_BYTES = 16
ALIGN = 16
NOTE_BYTES = 1024

KIND_WRAP = 0
STATE_READY, STATE_TAKEN, STATE_RELEASED, STATE_RESCUED = 0, 1, 2, 3

# Control words (u64) in the segment's kind area.
_FREE, _READ, _TAIL, _PUT, _GOT, _RESCUED, _REDELIVERED = 0, 1, 2, 3, 4, 5, 6
_INTENT, _INTENT_AT, _STAGE, _SERIAL = 7, 8, 9, 12  # _STAGE.._STAGE+2: staged free/read/tail
_INTENT_NONE, _INTENT_RESET, _INTENT_GET, _INTENT_SPAN = 0, 1, 2, 3
# Futex words (u32) after the control words.
_WORDS_OFFSET = 128
_PUT_WORD, _GOT_WORD, _CONSUMERS_WAITING, _PRODUCERS_WAITING = 0, 1, 2, 3
_FLAG_FAILED = 2
_WAIT_SLICE = 0.1
_BATCH_MARK = 0x8000_0000
"""A record's taker field holds a pid when taken for later release, or this bit plus the serial
of the locked batch that copied it out, so a batch whose consumer died can be found again."""


_COPY_BUDGET = 1 << 20
_SPAN_BYTES = 256 * 1024
"""Pending regions up to this size leave the ring in one copy and are parsed outside the lock."""
_SPIN_SECONDS = 50e-6
_GATHER_SECONDS = 25e-6  # a batching consumer that found the ring empty lets items gather
"""How long a consumer watches an empty ring before it sleeps (see ``_spin_while_empty``)."""
_PREBUILT_BYTES = 64 * 1024
"""Records up to this size are assembled before taking the lock and written in one copy."""


_T = TypeVar("_T")
_trylock_clear = _posix.trylock_clear


def _owned_bytes(_kind: int, _meta: bytes, view: memoryview) -> bytes:
    return bytes(view)


def _align(size: int) -> int:
    return (size + ALIGN - 1) & ~(ALIGN - 1)


def process_dead(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its parent counts as dead)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


class Record:
    """A record taken from the ring: where it lies and what it holds."""

    __slots__ = ("kind", "meta", "payload", "position")

    def __init__(self, kind: int, meta: bytes, payload: memoryview, position: int) -> None:
        self.kind = kind
        self.meta = meta
        self.payload = payload
        self.position = position


class Ring:
    """The ring inside one segment. ``Ring.create`` makes one; ``Ring.attach`` maps it."""

    def __init__(self, segment: _segment.Segment) -> None:
        self.segment = segment
        self.capacity = int(segment.header.meta["capacity"])
        self.name = segment.name
        self._label = f"queue {segment.name!r}"
        area = segment.kind_area()
        self._control: Any = (ctypes.c_uint64 * 16).from_buffer(area)
        self._words: Any = (ctypes.c_uint32 * 8).from_buffer(area, _WORDS_OFFSET)
        self._flags: Any = ctypes.c_uint32.from_buffer(segment.mapping, _header.FLAGS_OFFSET)
        self._words_address = ctypes.addressof(self._words)
        data = segment.data()
        self._note = data[:NOTE_BYTES]
        self._buffer = data[NOTE_BYTES : NOTE_BYTES + self.capacity]
        self._lock = segment.lock
        self._pointer = segment.lock.pointer
        self._intent_address = ctypes.addressof(self._control) + 8 * _INTENT
        segment.recovery_hooks.append(self._repair)
        self._idle = 0.0
        self._writer: Any = None
        if _posix.RingWriter is not None:
            buffer_address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
            self._writer = _posix.RingWriter(
                self._pointer, ctypes.addressof(self._control), self._words_address,
                ctypes.addressof(self._flags), buffer_address, self.capacity,
            )  # fmt: skip

    @classmethod
    def create(cls, name: str, capacity: int, exist_ok: bool = False) -> Ring:
        capacity = _align(max(capacity, 4 * ALIGN))
        meta = {"capacity": capacity}
        segment = _segment.create(name, _header.KIND_QUEUE, meta, NOTE_BYTES + capacity, exist_ok)
        return cls(segment)

    @classmethod
    def attach(cls, name: str, token: int | None = None) -> Ring:
        return cls(_segment.attach(name, _header.KIND_QUEUE, token))

    def close(self) -> None:
        """Unmap (after dropping every buffer exported from the mapping)."""
        self._control = self._words = self._flags = self._writer = None
        self._note = self._buffer = memoryview(b"")
        self.segment.close()

    # ------------------------------------------------------------- lock helpers
    def _enter(self, timeout: float | None = None) -> None:
        if self._control is None:
            raise self._closed_here()
        # The stale intent of a holder that returned is cleared in the call that takes the lock;
        # taken from a dead holder instead, the intent is its own and _repair has used it.
        result = _trylock_clear(self._pointer, self._intent_address)
        if result:
            self._lock.acquire_slow(result, timeout, self._intent_address)

    def _exit(self) -> None:
        _posix.unlock(self._pointer)

    def _repair(self) -> None:
        """Runs under the lock taken from a dead holder: finish or undo what it was doing."""
        control = self._control
        intent = control[_INTENT]
        start = control[_STAGE] if intent == _INTENT_GET else control[_INTENT_AT]
        if intent in (_INTENT_GET, _INTENT_SPAN) and control[_TAIL] > start + self.capacity:
            # Producers have written over the batch's space since: the intent is a stale one
            # (see docs/queue.md, "a holder killed just after acquiring"), its get returned.
            intent = _INTENT_NONE
        if intent == _INTENT_RESET:
            control[_FREE], control[_READ], control[_TAIL] = (
                control[_STAGE], control[_STAGE + 1], control[_STAGE + 2],
            )  # fmt: skip
        elif intent == _INTENT_SPAN:
            # The holder died after copying a span out: none of it reached its caller.
            control[_READ] = control[_FREE] = control[_INTENT_AT]
        elif intent == _INTENT_GET:
            # The holder died holding a batch it had copied out, so its get never returned:
            # put back the positions it started from, and deliver its rescued records again.
            batch = _BATCH_MARK | control[_SERIAL]
            old_free, old_read = control[_STAGE], control[_INTENT_AT]
            position, read = old_free, control[_READ]
            while position < read:
                size, kind, _state, _m, _l, taker = self._header(position)
                if taker == batch and kind != KIND_WRAP:
                    if position >= old_read:
                        self._set_state(position, STATE_READY)
                    else:
                        self._set_state(position, STATE_RESCUED)
                        control[_RESCUED] += 1
                position += size
            control[_READ], control[_FREE] = old_read, old_free
        control[_INTENT] = _INTENT_NONE
        self._rescue_dead_takers()
        self._words[_CONSUMERS_WAITING] = 0
        self._words[_PRODUCERS_WAITING] = 0
        self._bump(_PUT_WORD, always=True)
        self._bump(_GOT_WORD, always=True)

    # --------------------------------------------------------------- records
    def _header(self, position: int) -> tuple[int, int, int, int, int, int]:
        result: tuple[int, int, int, int, int, int] = RECORD_HEADER.unpack_from(
            self._buffer, position % self.capacity
        )
        return result

    def _state(self, position: int) -> int:
        return self._buffer[position % self.capacity + 5]

    def _set_state(self, position: int, state: int, taker: int = 0) -> None:
        offset = position % self.capacity
        self._buffer[offset + 5] = state
        struct.pack_into("<I", self._buffer, offset + 12, taker)

    def _bump(self, word: int, always: bool = False) -> None:
        words = self._words
        words[word] = (words[word] + 1) & 0xFFFFFFFF
        waiting = _CONSUMERS_WAITING if word == _PUT_WORD else _PRODUCERS_WAITING
        if always or words[waiting]:
            _posix.futex_wake_all(self._words_address + 4 * word)

    def _sweep(self) -> None:
        """Advance ``free`` over released records so producers can reuse their space."""
        control, buffer, capacity = self._control, self._buffer, self.capacity
        unpack = _SIZE_KIND_STATE.unpack_from
        free, read = control[_FREE], control[_READ]
        start = free
        while free < read:
            size, kind, state = unpack(buffer, free % capacity)
            if state != STATE_RELEASED and kind != KIND_WRAP:
                break
            free += size
        if free != start:
            control[_FREE] = free
            self._bump(_GOT_WORD)

    # ------------------------------------------------------------------- put
    def record_size(self, meta_length: int, payload_length: int) -> int:
        return _align(HEADER_BYTES + meta_length + payload_length)

    def put(
        self, kind: int, meta: bytes, payload: Any, payload_length: int, timeout: float | None
    ) -> None:
        """Append one record; block while full (``timeout`` None: forever, 0: not at all)."""
        need = (HEADER_BYTES + len(meta) + payload_length + ALIGN - 1) & ~(ALIGN - 1)
        if need > self.capacity:
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
            header = RECORD_HEADER.pack(need, kind, STATE_READY, len(meta), payload_length, 0)
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

        if self._until(attempt, _GOT_WORD, _PRODUCERS_WAITING, timeout, self._full):
            self._wake_consumers()

    def _wake_consumers(self) -> None:
        """After unlocking, so the woken consumer finds the lock free."""
        _posix.futex_wake_all(self._words_address + 4 * _PUT_WORD)

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
        free, read, tail = control[_FREE], control[_READ], control[_TAIL]
        offset = tail % capacity
        wrap = capacity - offset if offset + need > capacity else 0
        if (tail - free) + wrap + need > capacity:
            if not (free == read == tail and wrap):
                return None
            # Empty but the record does not fit before the end: restart at the next lap.
            lap = tail + wrap
            control[_STAGE], control[_STAGE + 1], control[_STAGE + 2] = lap, lap, lap
            control[_INTENT] = _INTENT_RESET
            control[_FREE] = control[_READ] = control[_TAIL] = lap
            control[_INTENT] = _INTENT_NONE
            tail, offset, wrap = lap, 0, 0
        if wrap:
            RECORD_HEADER.pack_into(buffer, offset, wrap, KIND_WRAP, STATE_READY, 0, 0, 0)
            tail += wrap
            offset = 0
        if record is not None:
            buffer[offset : offset + len(record)] = record
        else:
            meta_length = len(meta)
            RECORD_HEADER.pack_into(buffer, offset, need, kind, STATE_READY, meta_length, length, 0)
            start = offset + HEADER_BYTES
            if meta_length:
                buffer[start : start + meta_length] = meta
            if length:
                buffer[start + meta_length : start + meta_length + length] = payload
        control[_TAIL] = tail + need  # the commit: the record exists from here on
        control[_PUT] += 1
        words = self._words
        words[_PUT_WORD] = (words[_PUT_WORD] + 1) & 0xFFFFFFFF
        return int(words[_CONSUMERS_WAITING])

    # ------------------------------------------------------------------- get
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
            attempt, _PUT_WORD, _CONSUMERS_WAITING, timeout, self._empty, poll
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
        tail = control[_TAIL]
        if control[_READ] != tail or control[_RESCUED]:
            return
        end = time.monotonic() + _SPIN_SECONDS
        while control[_TAIL] == tail and not control[_RESCUED] and not flags.value:
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
            read, tail = control[_READ], control[_TAIL]
            if read == tail or control[_RESCUED] or control[_FREE] != read or wanted <= 0:
                break
            end = min(tail, read - read % capacity + capacity, read + _SPAN_BYTES)
            offset = read % capacity
            first = _SIZE_KIND_STATE.unpack_from(self._buffer, offset)[0]
            if first > end - read:
                break  # the next record is larger than a span: _take copies it alone
            end = min(end, read + max(first * wanted * 2, 4096))  # copy about what is wanted
            if not pieces:  # one intent for the whole hold: repair rewinds to the first piece
                control[_INTENT_AT] = read
                control[_INTENT] = _INTENT_SPAN
            data = bytes(self._buffer[offset : offset + (end - read)])
            records: list[tuple[int, int]] = []
            position, length = 0, len(data)
            unpack = _SIZE_KIND_STATE.unpack_from
            while position + HEADER_BYTES <= length and len(records) < wanted:
                size, kind, _state = unpack(data, position)
                if position + size > length:
                    break  # cut by the span's limit: left for the next get
                if kind != KIND_WRAP:
                    records.append((position, size))
                position += size
            control[_READ] = control[_FREE] = read + position  # the commit
            control[_GOT] += len(records)
            wanted -= len(records)
            if records:
                pieces.append((data, records))
        if pieces:
            self._bump(_GOT_WORD)
        return pieces or None

    @staticmethod
    def _parse_span(
        pieces: Any, materialize: Callable[[int, bytes, memoryview], Any]
    ) -> list[tuple[int, bytes, Any]]:
        found = []
        for data, records in pieces:
            view = memoryview(data)
            for position, _size in records:
                _s, kind, _state, meta_length, length, _t = RECORD_HEADER.unpack_from(
                    data, position
                )
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
        if take and not control[_RESCUED]:
            return self._take_in_place(max_items, budget)
        found: list[tuple[int, bytes, Any]] = []
        if take:
            state, taker = STATE_TAKEN, _segment.PROCESS_ID[0]
        else:
            # The intent stays set after this get: only the next holder knows whether we
            # returned (it clears the intent) or died holding the lock (it repairs).
            serial = (control[_SERIAL] + 1) & 0x7FFF_FFFF
            control[_SERIAL] = serial
            state, taker = STATE_RELEASED, _BATCH_MARK | serial
            control[_STAGE], control[_INTENT_AT] = control[_FREE], control[_READ]
            control[_INTENT] = _INTENT_GET
        while len(found) < max_items and budget > 0:
            position = self._find_rescued() if control[_RESCUED] else None
            if position is None:
                position = control[_READ]
                if position == control[_TAIL]:
                    break
            size, kind, _state, meta_length, length, _ = RECORD_HEADER.unpack_from(
                buffer, position % capacity
            )
            if kind == KIND_WRAP:
                control[_READ] = position + size
                continue
            start = position % capacity + HEADER_BYTES
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
            self._set_state(position, state, taker)
            if position == control[_READ]:
                control[_READ] = position + size
            else:
                control[_RESCUED] -= 1
                control[_REDELIVERED] += 1
            control[_GOT] += 1
        if found and not take:
            self._sweep()
        return found

    def _take_in_place(self, max_items: int, budget: int) -> list[tuple[int, bytes, Any]]:
        """``_take(take=True)`` when nothing waits to be delivered again (the logger's loop).

        Marks each record taken by this pid, then commits ``read`` once. A holder killed before
        that store leaves ``read`` where it was: the marked records are still ahead of it and
        the next take marks them again, so the outcome is that of the record-by-record loop.
        """
        control, buffer, capacity = self._control, self._buffer, self.capacity
        unpack, pack_taker = RECORD_HEADER.unpack_from, _TAKER.pack_into
        pid = _segment.PROCESS_ID[0]
        found: list[tuple[int, bytes, Any]] = []
        position, tail = control[_READ], control[_TAIL]
        while position < tail and len(found) < max_items and budget > 0:
            offset = position % capacity
            size, kind, _state, meta_length, length, _ = unpack(buffer, offset)
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
        control[_READ] = position  # the commit
        control[_GOT] += len(found)
        return found

    def _find_rescued(self) -> int | None:
        control = self._control
        position, read = control[_FREE], control[_READ]
        while position < read:
            size, _kind, state = self._header(position)[:3]
            if state == STATE_RESCUED:
                return int(position)
            position += size
        control[_RESCUED] = 0  # a count left high by a holder that died mid-update
        return None

    def release(self, positions: list[int]) -> None:
        """Give the space of taken records back: their contents are done with."""
        buffer, capacity, pack_taker = self._buffer, self.capacity, _TAKER.pack_into
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
                self._control[_RESCUED] += 1
            self._bump(_PUT_WORD)
        finally:
            self._exit()

    def rescue_abandoned(self) -> int:
        """Deliver again every record taken by a process that has died; return how many."""
        self._enter()
        try:
            return self._rescue_dead_takers()
        finally:
            self._exit()

    def _rescue_dead_takers(self) -> int:
        control = self._control
        position, read = control[_FREE], control[_READ]
        rescued = 0
        dead: dict[int, bool] = {}
        while position < read:
            size, _kind, state, _m, _l, taker = self._header(position)
            if state == STATE_TAKEN:
                if taker not in dead:
                    dead[taker] = process_dead(taker)
                if dead[taker]:
                    self._set_state(position, STATE_RESCUED)
                    rescued += 1
            position += size
        if rescued:
            control[_RESCUED] += rescued
            self._bump(_PUT_WORD)
        return rescued

    # --------------------------------------------------------------- waiting
    def _until(
        self,
        attempt: Callable[[], _T | None],
        word: int,
        counter: int,
        timeout: float | None,
        failure: Callable[[float | None], Exception],
        poll: float | None = None,
    ) -> _T:
        """Call ``attempt`` under the lock until it returns something other than None.

        Between tries, sleep until ``word`` moves, counted in the waiters ``counter`` so that
        whoever moves it wakes us (with ``poll``: uncounted, looking again every ``poll``
        seconds). ``failure(timeout)`` is raised once ``timeout`` (None: never) has passed.
        """
        deadline = None
        registered = False
        while True:
            self._enter()
            try:
                if registered:
                    self._words[counter] = max(0, self._words[counter] - 1)
                    registered = False
                result = attempt()
                if result is not None:
                    return result
                if timeout is not None and timeout <= 0:
                    raise failure(timeout)
                if poll is None:
                    self._words[counter] += 1
                    registered = True
                seen = self._words[word]
            finally:
                self._exit()
            if deadline is None:
                deadline = None if timeout is None else time.monotonic() + timeout
            if not self._wait(word, seen, deadline, poll):
                if registered:
                    self._withdraw(counter)
                raise failure(timeout)

    def _wait(
        self, word: int, seen: int, deadline: float | None, poll: float | None = None
    ) -> bool:
        """Sleep until the word moves, a slice passes or the deadline; False once past it.

        A slice that passes with no wake-up is when we look for trouble: a dead creator ends
        the wait, and records taken by dead consumers are delivered again.
        """
        remaining = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return False
        if poll is not None:
            nap = min(poll, remaining)
            time.sleep(nap)
            self._idle += nap
            if self._idle < _WAIT_SLICE:
                return True
            self._idle = 0.0
        elif _posix.futex_wait(self._words_address + 4 * word, seen, min(remaining, _WAIT_SLICE)):
            return True
        if not self.segment.creator_alive():
            raise QueueClosedError(
                f"{self._label} is gone: its creator (pid {self.segment.header.creator_pid}) died; "
                "recreate the queue",
                name=self.name,
            )
        self.rescue_abandoned()
        return True

    def _withdraw(self, counter: int) -> None:
        self._enter()
        try:
            self._words[counter] = max(0, self._words[counter] - 1)
        finally:
            self._exit()

    # ---------------------------------------------------------------- status
    def _check_open(self, for_put: bool) -> None:
        flags = self.segment.flags
        if flags & _FLAG_FAILED:
            raise QueueFailedError(self.failure(), name=self.name)
        if flags & _header.FLAG_CLOSED:
            action = "put into" if for_put else "get from"
            raise QueueClosedError(
                f"cannot {action} {self._label}: it was closed by its creator; create a new queue",
                name=self.name,
            )

    def reopen(self) -> None:
        """Undo ``mark_closed`` and ``mark_failed``: puts and gets flow again."""
        self._enter()
        try:
            self.segment.clear_flag(_header.FLAG_CLOSED | _FLAG_FAILED)
        finally:
            self._exit()

    def mark_closed(self) -> None:
        self._enter()
        try:
            self.segment.set_flag(_header.FLAG_CLOSED)
            self._bump(_PUT_WORD, always=True)
            self._bump(_GOT_WORD, always=True)
        finally:
            self._exit()

    def mark_failed(self, message: str) -> None:
        """Make every later put and get raise QueueFailedError(message)."""
        encoded = message.encode("utf-8")[: NOTE_BYTES - 4]
        self._enter()
        try:
            struct.pack_into("<I", self._note, 0, len(encoded))
            self._note[4 : 4 + len(encoded)] = encoded
            self.segment.set_flag(_FLAG_FAILED)
            self._bump(_PUT_WORD, always=True)
            self._bump(_GOT_WORD, always=True)
        finally:
            self._exit()

    def failure(self) -> str:
        if self._control is None:
            raise self._closed_here()
        length = struct.unpack_from("<I", self._note, 0)[0]
        return bytes(self._note[4 : 4 + length]).decode("utf-8", "replace")

    def stats(self) -> dict[str, int]:
        control = self._control
        if control is None:
            raise self._closed_here()
        return {
            "items": int(control[_PUT] - control[_GOT]),
            "bytes_used": int(control[_TAIL] - control[_FREE]),
            "capacity": self.capacity,
            "put_total": int(control[_PUT]),
            "got_total": int(control[_GOT]),
            "redelivered": int(control[_REDELIVERED]),
        }

    def unreleased(self) -> int:
        """Records whose space is still held: waiting, taken but not released, or rescued."""
        self._enter()
        try:
            position, tail, count = self._control[_FREE], self._control[_TAIL], 0
            while position < tail:
                size, kind, state = self._header(position)[:3]
                count += kind != KIND_WRAP and state != STATE_RELEASED
                position += size
            return count
        finally:
            self._exit()

    def _closed_here(self) -> NotConnectedError:
        return NotConnectedError(
            f"{self._label} was closed in this process; attach it again to use it",
            name=self.name,
        )

    def _full(self, timeout: float | None) -> QueueFullError:
        return QueueFullError(
            f"{self._label} stayed full for {timeout} s ({self.capacity} bytes); consume "
            "faster, pass a longer timeout or create it with a larger capacity_bytes",
            name=self.name,
        )

    def _empty(self, timeout: float | None) -> QueueEmptyError:
        return QueueEmptyError(
            f"{self._label} stayed empty for {timeout} s; pass a longer timeout or "
            "check that producers are running",
            name=self.name,
        )
