"""A packed archive's columns read on demand, block by block, each block checked once.

``PackedBlocks`` opens the three columns of a packed archive (docs/formats.md), reads the
entries of one block (``block_entries`` of them, about 64 KiB of payload) with ``pread``,
checks that block's index and payload checksums (format version 2) the first time it is read,
and keeps it in a cache of at most ``cache_bytes`` (the oldest go first). Deflated payloads are
decompressed whole on the first random access, or streamed front to back by ``iter_stream``.
``LogArchiveReader`` indexes the cache itself on its hot path and calls ``block`` on a miss.
"""

from __future__ import annotations

import itertools
import os
import struct
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive_checksums import block_count, choose_block_entries, index_checksum
from ._archive_layout import (
    ARCHIVE_VERSION,
    ZIP_ERRORS,
    ArchiveFormatError,
    member_info,
    member_name,
    open_member,
    open_payload_stream,
    packed_fields,
    read_member,
    stored_member,
)

_STREAM_BYTES = 16 << 20
_MAX_BLOCK_ENTRIES = 1 << 20
_COLUMNS: dict[str, np.dtype[Any]] = {
    "timestamps": np.dtype("<u8"),
    "offsets": np.dtype("<u8"),
    "payload": np.dtype("u1"),
}
UNREADABLE = (*ZIP_ERRORS, OSError, ValueError, KeyError, IndexError, OverflowError,
              struct.error)  # fmt: skip
"""What reading a damaged archive through zipfile and numpy can raise."""

Message = tuple[int, np.ndarray]


def damaged(path: Path, what: str) -> ArchiveFormatError:
    """The error for an archive found damaged after it opened."""
    return ArchiveFormatError(
        f"{path.name} is damaged: {what}; restore it from a copy, or compress its batch files "
        "again",
        path=str(path),
    )


def reason(error: BaseException) -> str:
    """Why reading failed, for a message: our own error's text, or the library's as corruption."""
    return str(error) if isinstance(error, ArchiveFormatError) else f"corrupt ({error})"


class Block:
    """Entries of one block, checked: timestamps, payload starts (relative to ``data``) and the
    payload bytes. Memoryviews index to plain ints faster than numpy arrays do."""

    __slots__ = ("data", "size", "stamps", "starts")

    def __init__(self, stamps: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> None:
        self.stamps = np.ascontiguousarray(stamps, dtype=np.uint64).data
        self.starts = np.ascontiguousarray(offsets - offsets[0], dtype=np.uint64).data
        self.data = data
        self.size = data.nbytes + 16 * len(stamps) + 256

    def messages(self, first: int, last: int) -> Iterator[Message]:
        """``(timestamp, payload view)`` of the block's entries ``first`` to ``last``, made in C
        by zip/map: about 0.3 us each."""
        starts = self.starts[first : last + 1].tolist()
        slices = map(slice, starts[:-1], itertools.islice(starts, 1, None))
        return zip(self.stamps[first:last].tolist(), map(self.data.__getitem__, slices),
                   strict=True)  # fmt: skip


class PackedBlocks:
    """The columns of one packed archive and the cache of its checked blocks.

    ``blocks`` maps a block number to its ``Block`` (block ``n`` holds entries ``n << shift`` to
    ``((n + 1) << shift) - 1``); ``count`` and ``payload_size`` are known once ``open`` returns.
    """

    def __init__(self, path: Path, cache_bytes: int) -> None:
        self.path = path
        self.cache_bytes = cache_bytes
        self.blocks: dict[int, Block] = {}
        self.count = 0
        self.shift = 0
        self.mask = 0
        self.payload_size = 0
        self.payload_deflated = False
        self._cached = 0
        self._checksums: np.ndarray | None = None
        self._stored: dict[str, int] = {}  # file offset of each stored column's first element
        self._loaded: dict[str, np.ndarray] = {}  # columns in memory (deflated, or read whole)
        self._zip_checked: set[str] = set()  # columns read whole through the zip (CRC checked)
        self._index_checked = False
        self._descriptor: int | None = None
        self._closer: weakref.finalize[Any, Any] | None = None

    def open(self, archive: zipfile.ZipFile, handle: IO[bytes]) -> tuple[int, int, dict[int, int]]:
        """Read the archive's layout and checksums; return its source id, onset and sessions."""
        version, source_id, onset_us, sessions = packed_fields(
            archive,
            lambda version: ArchiveFormatError(
                f"its format version is {version}, this library reads up to {ARCHIVE_VERSION}: "
                "upgrade ataraxis-like"
            ),
        )
        shapes: dict[str, tuple[int, ...]] = {}
        for name, dtype in _COLUMNS.items():
            info = member_info(archive, member_name(name))
            if info.compress_type == zipfile.ZIP_STORED:
                self._stored[name], shapes[name], found = stored_member(archive, info.filename,
                                                                        handle)  # fmt: skip
            elif name == "payload":
                self.payload_deflated = True
                stream, shapes[name], found = open_member(archive, name)
                stream.close()
            else:
                self._loaded[name] = read_member(archive, name)
                self._zip_checked.add(name)
                shapes[name], found = self._loaded[name].shape, self._loaded[name].dtype
            if found != dtype or len(shapes[name]) != 1:
                raise ArchiveFormatError(f"its {name} are {found} {shapes[name]}, not {dtype}")
        count = shapes["timestamps"][0]
        if shapes["offsets"] != (count + 1,):
            raise ArchiveFormatError("its timestamps and offsets do not match")
        self.count = count
        self.payload_size = shapes["payload"][0]
        first, last = (int(self.read("offsets", at, at + 1)[0]) for at in (0, count))
        if first != 0 or last != self.payload_size:
            raise ArchiveFormatError(
                f"its offsets end at {last} but the payload has {self.payload_size} bytes"
                if first == 0
                else "its offsets do not start at 0"
            )
        if version >= 2:
            block_entries = int(read_member(archive, "block_entries"))
            checksums = read_member(archive, "checksums")
            if not 0 < block_entries <= _MAX_BLOCK_ENTRIES or block_entries & (block_entries - 1):
                raise ArchiveFormatError(f"its block size {block_entries} is not a power of two")
            if checksums.dtype != np.uint32 or checksums.shape != (
                block_count(count, block_entries), 2,
            ):  # fmt: skip
                raise ArchiveFormatError("its checksums do not match its entries")
            self._checksums = checksums
        else:
            block_entries = choose_block_entries(count, self.payload_size)
        self.shift = block_entries.bit_length() - 1
        self.mask = block_entries - 1
        return source_id, onset_us, sessions

    def keep_descriptor(self, descriptor: int) -> None:
        """Read the stored columns through ``descriptor`` (closed by ``close`` or collection)."""
        self._descriptor = descriptor
        self._closer = weakref.finalize(self, os.close, descriptor)

    # ------------------------------------------------------------------ columns
    def read(self, name: str, first: int, last: int) -> np.ndarray:
        """Elements ``first`` to ``last`` of a column, from memory or from the file."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded[first:last]
        dtype = _COLUMNS[name]
        if name == "payload" and self.payload_deflated:
            return self._loaded_payload()[first:last]
        if self._descriptor is None:
            try:
                self.keep_descriptor(os.open(self.path, os.O_RDONLY | os.O_CLOEXEC))
            except OSError as error:
                raise damaged(self.path, f"it cannot be opened again ({error.strerror})") from None
        assert self._descriptor is not None
        size = (last - first) * dtype.itemsize
        try:
            data = os.pread(self._descriptor, size, self._stored[name] + first * dtype.itemsize)
        except OSError as error:
            raise damaged(self.path, f"reading its {name} failed ({error.strerror})") from None
        if len(data) != size:
            raise damaged(self.path, f"it ends inside its {name} (truncated after it was opened?)")
        return np.frombuffer(data, dtype=dtype)

    def _loaded_payload(self) -> np.ndarray:
        """A deflated payload in memory, decompressed once (costs its full size)."""
        payload = self._loaded.get("payload")
        if payload is None:
            try:
                with zipfile.ZipFile(self.path) as archive:
                    payload = read_member(archive, "payload")
            except UNREADABLE as error:
                raise damaged(self.path, f"its payload is unreadable ({reason(error)})") from None
            if payload.shape != (self.payload_size,) or payload.dtype != np.uint8:
                raise damaged(self.path, "its payload changed since it was opened")
            payload.flags.writeable = False
            self._loaded["payload"] = payload
            self._zip_checked.add("payload")
        return payload

    def whole(self, name: str) -> np.ndarray:
        """A whole index column (timestamps or offsets) in memory, every block's index checked."""
        if self._index_checked:
            return self._loaded[name]
        stamps = self.read("timestamps", 0, self.count)
        offsets = self.read("offsets", 0, self.count + 1)
        if self._checksums is not None and not {"timestamps", "offsets"} <= self._zip_checked:
            size = self.mask + 1
            for number, (index_sum, _payload_sum) in enumerate(self._checksums.tolist()):
                first = number * size
                last = min(self.count, first + size)
                if index_checksum(stamps[first:last], offsets[first : last + 1]) != index_sum:
                    raise damaged(
                        self.path,
                        f"the checksum of the index of entries {first} to {last - 1} fails",
                    )
        if bool(np.any(offsets[1:] < offsets[:-1])):
            raise damaged(self.path, "its offsets are out of order")
        self._loaded["timestamps"], self._loaded["offsets"] = stamps, offsets
        self._index_checked = True
        return self._loaded[name]

    # ------------------------------------------------------------------- blocks
    def block(self, number: int, payload: Callable[[int, int], np.ndarray] | None = None) -> Block:
        """Block ``number``, read and checked (and cached, unless ``payload`` supplies its bytes
        from a stream)."""
        first = number << self.shift
        last = min(self.count, first + self.mask + 1)
        stamps = self.read("timestamps", first, last)
        offsets = self.read("offsets", first, last + 1)
        checksums, checked = self._checksums, self._zip_checked
        index_sum = None if checksums is None else int(checksums[number, 0])
        if {"timestamps", "offsets"} <= checked:
            index_sum = None  # both were read whole through the zip, which checked them
        if index_sum is not None and index_checksum(stamps, offsets) != index_sum:
            raise damaged(
                self.path, f"the checksum of the index of entries {first} to {last - 1} fails"
            )
        start, end = int(offsets[0]), int(offsets[-1])
        if end > self.payload_size or bool(np.any(offsets[1:] < offsets[:-1])):
            raise damaged(
                self.path, f"the offsets of entries {first} to {last - 1} are out of order"
            )
        data = self.read("payload", start, end) if payload is None else payload(start, end)
        payload_sum = None if checksums is None else int(checksums[number, 1])
        if payload is None and "payload" in checked:
            payload_sum = None
        if payload_sum is not None and zlib.crc32(data.data) != payload_sum:
            raise damaged(
                self.path, f"the checksum of the payload of entries {first} to {last - 1} fails"
            )
        block = Block(stamps, offsets, data)
        if payload is None:
            self.blocks[number] = block
            self._cached += block.size
            while self._cached > self.cache_bytes and len(self.blocks) > 1:
                self._cached -= self.blocks.pop(next(iter(self.blocks))).size
        return block

    def streams(self) -> bool:
        """True while entries are read by streaming: a deflated payload not decompressed yet."""
        return self.payload_deflated and "payload" not in self._loaded

    def iter_stream(self, start: int, stop: int) -> Iterator[Message]:
        """Entries of a deflated payload read front to back, block by block (each checked)."""
        shift, size = self.shift, self.mask + 1
        try:
            with zipfile.ZipFile(self.path) as archive, open_payload_stream(archive) as stream:
                position = 0

                def read(begin: int, end: int) -> np.ndarray:
                    nonlocal position
                    _skip(stream, begin - position)
                    data = _read_exactly(stream, end - begin)
                    position = end
                    return np.frombuffer(data, dtype=np.uint8)

                for number in range(start >> shift, ((stop - 1) >> shift) + 1):
                    first = number << shift
                    block = self.block(number, read)
                    yield from block.messages(max(start - first, 0), min(stop - first, size))
        except ArchiveFormatError:
            raise
        except UNREADABLE as error:
            raise damaged(self.path, f"its payload is unreadable ({reason(error)})") from None

    def close(self) -> None:
        """Drop cached blocks and a decompressed payload and close the file; reading again
        reopens it."""
        self.blocks.clear()
        self._cached = 0
        if self.payload_deflated:
            self._loaded.pop("payload", None)
        if self._closer is not None:
            self._closer()
            self._closer = self._descriptor = None


def _skip(stream: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = stream.read(min(count, _STREAM_BYTES))
        if not chunk:
            raise ArchiveFormatError("payload member ends before its offsets say")
        count -= len(chunk)


def _read_exactly(stream: IO[bytes], count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise ArchiveFormatError(f"payload member ends early ({len(data)} of {count} bytes)")
    return data
