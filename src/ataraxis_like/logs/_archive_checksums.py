"""Checksums of an archive's entries, block by block (format version 2, docs/formats.md).

Entries are grouped in blocks of ``block_entries`` (a power of two, chosen so that a block holds
about 64 KiB of payload). Each block has two CRC-32s: its index (its timestamps, then its
offsets from its first entry's start to its last entry's end) and its payload bytes. A reader
checks a block the first time it touches it, so a damaged byte gives an error instead of a wrong
entry, and a random access costs one checksum per 64 KiB read, not per entry.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

TARGET_BLOCK_BYTES = 64 << 10
MAX_BLOCK_ENTRIES = 4096


def choose_block_entries(count: int, payload_bytes: int) -> int:
    """Entries per block: the power of two that puts about 64 KiB of payload in a block."""
    if count == 0 or payload_bytes == 0:
        return MAX_BLOCK_ENTRIES
    entries = max(1, TARGET_BLOCK_BYTES * count // payload_bytes)
    return int(min(MAX_BLOCK_ENTRIES, 1 << (entries.bit_length() - 1)))


def block_count(count: int, block_entries: int) -> int:
    return -(-count // block_entries)


def index_checksum(stamps: np.ndarray, offsets: np.ndarray) -> int:
    """CRC-32 of a block's timestamps followed by its ``block_entries + 1`` offsets (bytes)."""
    return zlib.crc32(np.ascontiguousarray(offsets).data,
                      zlib.crc32(np.ascontiguousarray(stamps).data))  # fmt: skip


class ChecksumBuilder:
    """Computes the checksums of an archive as its columns are written, in one pass each.

    ``add_index(stamps, ends)`` takes the timestamps and end offsets of the next entries (any
    number at a time); ``add_payload(chunk)`` the next payload bytes. ``checksums`` is then the
    ``(blocks, 2)`` uint32 member: index CRC, payload CRC.
    """

    def __init__(self, count: int, block_entries: int) -> None:
        self.block_entries = block_entries
        blocks = block_count(count, block_entries)
        self.checksums = np.zeros((blocks, 2), dtype=np.uint32)
        self._bounds = np.zeros(blocks + 1, dtype=np.uint64)  # payload byte where each starts
        self._stamps: list[np.ndarray] = []
        self._ends: list[np.ndarray] = []
        self._pending = 0
        self._block = 0
        self._start = np.zeros(1, dtype=np.uint64)  # the offset the next block starts at
        self._payload_block = 0
        self._payload_position = 0
        self._payload_crc = 0

    def add_index(self, stamps: np.ndarray, ends: np.ndarray) -> None:
        stamps = np.ascontiguousarray(stamps, dtype="<u8")
        ends = np.ascontiguousarray(ends, dtype="<u8")
        size, at = self.block_entries, 0
        if self._pending:
            at = min(len(stamps), size - self._pending)
            self._stamps.append(stamps[:at])
            self._ends.append(ends[:at])
            self._pending += at
            if self._pending < size:
                return
            self._close_index_block(np.concatenate(self._stamps), np.concatenate(self._ends))
        while len(stamps) - at >= size:
            self._close_index_block(stamps[at : at + size], ends[at : at + size])
            at += size
        if at < len(stamps):
            self._stamps, self._ends = [stamps[at:]], [ends[at:]]
            self._pending = len(stamps) - at

    def finish_index(self) -> None:
        if self._pending:
            self._close_index_block(np.concatenate(self._stamps), np.concatenate(self._ends))
        self._payload_settle()

    def _close_index_block(self, stamps: np.ndarray, ends: np.ndarray) -> None:
        crc = zlib.crc32(ends.data, zlib.crc32(self._start.data, zlib.crc32(stamps.data)))
        self.checksums[self._block, 0] = crc
        self._start = ends[-1:].copy()
        self._block += 1
        self._bounds[self._block] = self._start[0]
        self._stamps, self._ends, self._pending = [], [], 0

    def add_payload(self, chunk: Any) -> None:
        view = memoryview(chunk).cast("B")
        at = 0
        while at < len(view):
            self._payload_settle()
            if self._payload_block >= self._block:
                raise ValueError("the payload is longer than the archive's offsets say")
            end = int(self._bounds[self._payload_block + 1])
            take = min(len(view) - at, end - self._payload_position)
            self._payload_crc = zlib.crc32(view[at : at + take], self._payload_crc)
            self._payload_position += take
            at += take
        self._payload_settle()

    def _payload_settle(self) -> None:
        """Close every block whose payload is complete (empty blocks included)."""
        while self._payload_block < self._block:
            if self._payload_position != int(self._bounds[self._payload_block + 1]):
                return
            self.checksums[self._payload_block, 1] = self._payload_crc
            self._payload_crc = 0
            self._payload_block += 1

    def tap(self, chunks: Iterator[Any]) -> Iterator[Any]:
        """Pass payload chunks through, adding each to the checksums."""
        for chunk in chunks:
            self.add_payload(chunk)
            yield chunk
