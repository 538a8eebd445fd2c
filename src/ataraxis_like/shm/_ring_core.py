"""The ring's shared core: its layout in the segment, the mapped state every part works on, the
lock, record headers, the sweep that reclaims space, and the queue's flags and statistics.

The layout constants here are the one copy of docs/queue.md's tables in the code (the compiled
put in ``_fastlock.c`` mirrors them). The put path (``_ring_put``), the take path
(``_ring_take``), waiting (``_ring_wait``) and crash repair (``_ring_repair``) build on
``RingCore``; ``_ring.Ring`` puts them together.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from ..errors import CorruptSegmentError, NotConnectedError, QueueClosedError, QueueFailedError
from . import _integrity, _posix, _segment

RECORD_HEADER = struct.Struct("<IBBHII")  # size, kind, state, meta length, payload length, taker
TAKER = struct.Struct("<I")
SIZE_KIND_STATE = struct.Struct("<IBB")
# The structs' methods bound once: called through a name imported from here, ``X.method(...)``
# would compile to an attribute load plus a call, making a bound method object on every record.
pack_record_header = RECORD_HEADER.pack
pack_record_header_into = RECORD_HEADER.pack_into
unpack_record_header = RECORD_HEADER.unpack_from
unpack_size_kind_state = SIZE_KIND_STATE.unpack_from
HEADER_BYTES = 16
ALIGN = 16
NOTE_BYTES = 1024
MIN_CAPACITY = 64
_LARGEST_RECORD = 0xFFFF_FFF0
"""A record's size is a u32 (docs/queue.md, "Records")."""

KIND_WRAP = 0
STATE_READY, STATE_TAKEN, STATE_RELEASED, STATE_RESCUED = 0, 1, 2, 3

# Control words (u64) in the segment's kind area.
FREE, READ, TAIL, PUT, GOT, RESCUED, REDELIVERED = 0, 1, 2, 3, 4, 5, 6
INTENT, INTENT_AT, STAGE, SERIAL = 7, 8, 9, 12  # STAGE..STAGE+2: staged free/read/tail
STAGED_GOT = 13  # ``got`` when a copying get began: its repair puts it back
INTENT_NONE, INTENT_RESET, INTENT_GET, INTENT_SPAN = 0, 1, 2, 3
# Futex words (u32) after the control words.
_WORDS_OFFSET = 128
PUT_WORD, GOT_WORD, CONSUMERS_WAITING, PRODUCERS_WAITING = 0, 1, 2, 3
_FLAG_FAILED = 2
BATCH_MARK = 0x8000_0000
"""A record's taker field holds a pid when taken for later release, or this bit plus the serial
of the locked batch that copied it out, so a batch whose consumer died can be found again."""

_trylock_clear = _posix.trylock_clear
_sweep_released = _posix.sweep_released


class RingCore:
    """The mapped ring of one segment: control words, futex words, note and record bytes."""

    def __init__(self, segment: _segment.Segment) -> None:
        self.segment = segment
        room = segment.size - segment.header.data_offset - NOTE_BYTES
        self.capacity = _integrity.ring_capacity(
            segment.name, segment.header.meta, room, MIN_CAPACITY, ALIGN
        )
        self._largest_record = min(self.capacity, _LARGEST_RECORD)
        self.name = segment.name
        self._label = f"queue {segment.name!r}"
        area = segment.kind_area()
        self._control: Any = (ctypes.c_uint64 * 16).from_buffer(area)
        self._words: Any = (ctypes.c_uint32 * 8).from_buffer(area, _WORDS_OFFSET)
        self._flags: Any = ctypes.c_uint32.from_buffer(segment.mapping, _segment.FLAGS_OFFSET)
        self._words_address = ctypes.addressof(self._words)
        data = segment.data()
        self._note = data[:NOTE_BYTES]
        self._buffer = data[NOTE_BYTES : NOTE_BYTES + self.capacity]
        self._lock = segment.lock
        self._pointer = segment.lock.pointer
        self._intent_address = ctypes.addressof(self._control) + 8 * INTENT
        self._idle = 0.0
        self._buffer_address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        self._writer: Any = None
        self.fast_put: Any = None
        """The compiled put when built: ``fast_put(kind, meta, payload, False)`` returns 0 when
        the record is in, else hand the result to ``finish_put``. Valid while the ring is open."""
        if _posix.RingWriter is not None:
            self._writer = _posix.RingWriter(
                self._pointer, ctypes.addressof(self._control), self._words_address,
                ctypes.addressof(self._flags), self._buffer_address, self.capacity,
            )  # fmt: skip
            self.fast_put = self._writer.put

    def close(self) -> None:
        """Unmap (after dropping every buffer exported from the mapping)."""
        self._control = self._words = self._flags = self._writer = self.fast_put = None
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

    # ------------------------------------------------- positions and records
    def _positions(self) -> tuple[int, int, int]:
        """``free``, ``read`` and ``tail``, checked: an intact ring has free <= read <= tail <=
        free + capacity, all multiples of 16 (two comparisons and a mask)."""
        control = self._control
        free, read, tail = control[FREE], control[READ], control[TAIL]
        if free <= read <= tail <= free + self.capacity and not (free | read | tail) & 15:
            return free, read, tail
        raise self._corrupt(
            f"its positions are free {free}, read {read}, tail {tail}, expected "
            f"free <= read <= tail <= free + {self.capacity}, multiples of 16"
        )

    def _record(self, position: int, end: int) -> tuple[int, int, int, int, int, int]:
        """The header of the record at ``position``, checked to lie whole inside the ring and
        before ``end``, with its meta and payload inside the record."""
        offset = position % self.capacity
        header: tuple[int, int, int, int, int, int] = unpack_record_header(self._buffer, offset)
        size = header[0]
        if (
            size & 15
            or HEADER_BYTES + header[3] + header[4] > size  # also: size >= 16
            or offset + size > self.capacity
            or position + size > end
        ):
            raise self._bad_record(position, header)
        return header

    def _bad_record(self, position: int, header: tuple[int, ...]) -> CorruptSegmentError:
        size, kind, _state, meta_length, length, _taker = header
        return self._corrupt(
            f"the record at position {position} has size {size}, kind {kind}, meta length "
            f"{meta_length} and payload length {length}, which do not fit the ring of "
            f"{self.capacity} bytes"
        )

    def _corrupt(self, what: str) -> CorruptSegmentError:
        return _integrity.corrupt(self.name, what)

    def _set_state(self, position: int, state: int, taker: int = 0) -> None:
        offset = position % self.capacity
        self._buffer[offset + 5] = state
        struct.pack_into("<I", self._buffer, offset + 12, taker)

    def _bump(self, word: int, always: bool = False) -> None:
        words = self._words
        words[word] = (words[word] + 1) & 0xFFFFFFFF
        waiting = CONSUMERS_WAITING if word == PUT_WORD else PRODUCERS_WAITING
        if always or words[waiting]:
            _posix.futex_wake_all(self._words_address + 4 * word)

    def _sweep(self) -> None:
        """Advance ``free`` over released records so producers can reuse their space.

        Runs after records were taken, so it never raises: it stops at a record that cannot be
        intact, and the next operation that reads it reports the corruption."""
        control, buffer, capacity = self._control, self._buffer, self.capacity
        unpack = SIZE_KIND_STATE.unpack_from
        free, read = control[FREE], control[READ]
        start = free
        if _sweep_released is not None:  # the same walk, compiled
            free = _sweep_released(self._buffer_address, capacity, free, read)
        while free < read:
            size, kind, state = unpack(buffer, free % capacity)
            if state != STATE_RELEASED and kind != KIND_WRAP:
                break
            if size < HEADER_BYTES or size & 15 or free + size > read:
                break
            free += size
        if free != start:
            control[FREE] = free
            self._bump(GOT_WORD)

    # ---------------------------------------------------------------- status
    def _check_open(self, for_put: bool) -> None:
        flags = self.segment.flags
        if flags & _FLAG_FAILED:
            raise QueueFailedError(self.failure(), name=self.name)
        if flags & _segment.FLAG_CLOSED:
            action = "put into" if for_put else "get from"
            raise QueueClosedError(
                f"cannot {action} {self._label}: it was closed by its creator; create a new queue",
                name=self.name,
            )

    def reopen(self) -> None:
        """Undo ``mark_closed`` and ``mark_failed``: puts and gets flow again."""
        self._enter()
        try:
            self.segment.clear_flag(_segment.FLAG_CLOSED | _FLAG_FAILED)
        finally:
            self._exit()

    def mark_closed(self) -> None:
        self._enter()
        try:
            self.segment.set_flag(_segment.FLAG_CLOSED)
            self._bump(PUT_WORD, always=True)
            self._bump(GOT_WORD, always=True)
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
            self._bump(PUT_WORD, always=True)
            self._bump(GOT_WORD, always=True)
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
        # got before put: each only grows and got never passes put, so no count read this
        # way is negative (the max() guards a segment whose counters were garbled).
        got, rescued = control[GOT], control[RESCUED]
        return {
            "items": max(0, int(control[PUT] - got + rescued)),
            "bytes_used": int(control[TAIL] - control[FREE]),
            "capacity": self.capacity,
            "put_total": int(control[PUT]),
            "got_total": int(control[GOT]),
            "redelivered": int(control[REDELIVERED]),
        }

    def unreleased(self) -> int:
        """Records whose space is still held: waiting, taken but not released, or rescued."""
        self._enter()
        try:
            position, _read, tail = self._positions()
            count = 0
            while position < tail:
                size, kind, state = self._record(position, tail)[:3]
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
