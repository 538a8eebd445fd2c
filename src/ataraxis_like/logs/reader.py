"""Read log archives: this library's packed layout and the reference library's one-member-per-entry.

A packed archive (docs/formats.md) keeps all timestamps in one array, all payload bytes in another
and the entry boundaries in a third, so opening costs a few reads and one entry costs two array
lookups. Entries are read a block at a time (about 64 KiB of payload) with ``pread`` and kept in
a bounded cache; each block's checksums (format version 2) are checked when it is first read, so
a damaged byte gives ArchiveFormatError, never a wrong entry. Nothing is memory-mapped: a file
truncated while a reader has it open gives a short read and an error, not SIGBUS. Deflated
payloads are decompressed once, on the first random access, or streamed by ``iter_messages``.
"""

from __future__ import annotations

import itertools
import operator
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
    REFERENCE_MEMBER,
    ZIP_ERRORS,
    ArchiveFormatError,
    ArchiveHeader,
    ArchiveIndexError,
    archive_layout,
    archive_name,
    discover_log_archives,
    member_name,
    open_member,
    open_payload_stream,
    packed_fields,
    read_archive_header,
    read_member,
    stored_member,
)

__all__ = [  # the archive helpers that lived here before _archive_layout, kept importable
    "ArchiveFormatError",
    "ArchiveHeader",
    "ArchiveIndexError",
    "LogArchiveReader",
    "Message",
    "archive_name",
    "discover_log_archives",
    "open_member",
    "open_payload_stream",
    "read_archive_header",
    "read_member",
]

_ITERATION_CHUNK = 65536
_STREAM_BYTES = 16 << 20
_MAX_BLOCK_ENTRIES = 1 << 20
_COLUMNS: dict[str, np.dtype[Any]] = {
    "timestamps": np.dtype("<u8"),
    "offsets": np.dtype("<u8"),
    "payload": np.dtype("u1"),
}
_UNREADABLE = (*ZIP_ERRORS, OSError, ValueError, KeyError, IndexError, OverflowError,
               struct.error)  # fmt: skip
CACHE_BYTES = 256 << 20

Message = tuple[int, np.ndarray]


class _Block:
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


class LogArchiveReader:
    """One source's log archive: timestamps without touching payloads, and fast entry access.

    Entries are ``(timestamp_us, payload)`` tuples: an ``int`` of microseconds since ``onset_us``
    and a read-only ``uint8`` array. Blocks of entries read for random access stay in a cache of
    at most ``cache_bytes`` (the oldest go first). Also reads the reference library's archives
    (one ``.npy`` member per entry); their onset is the payload of the entry stamped 0, when
    there is one, and that entry is not a message. A reader pickles as its path, so it can be
    sent to worker processes with ``get_batches``.
    """

    def __init__(
        self, path: Path | str, onset_us: int | None = None, *, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self._path = Path(path)
        self._onset_override = onset_us
        self._cache_bytes = cache_bytes
        self._blocks: dict[int, _Block] = {}
        self._cached = 0
        self._fast_count = 0  # entries the fast path of __getitem__ serves (packed archives)
        self._count = 0
        self._shift = 0
        self._mask = 0
        self._checksums: np.ndarray | None = None
        self._stored: dict[str, int] = {}  # file offset of each stored column's first element
        self._loaded: dict[str, np.ndarray] = {}  # columns in memory (deflated, or read whole)
        self._zip_checked: set[str] = set()  # columns read whole through the zip (CRC checked)
        self._payload_deflated = False
        self._index_checked = False
        self._payload_size = 0
        self._descriptor: int | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._members: list[str] = []
        self._timestamps = np.zeros(0, dtype=np.uint64)  # reference archives only
        self._reference_archive: zipfile.ZipFile | None = None
        self.format = ""
        self.source_id = -1
        self.onset_us: int | None = None
        self.sessions: dict[int, int] = {}
        try:
            handle = open(self._path, "rb")  # noqa: SIM115 (closed below, after the zip)
        except FileNotFoundError:
            raise ArchiveFormatError(
                f"log archive {self._path} does not exist; pass the path of a <id>_log.npz file",
                path=str(self._path),
            ) from None
        except OSError as error:
            raise self._not_an_archive(f"cannot open it ({error.strerror or error})") from None
        with handle:
            try:
                archive = zipfile.ZipFile(handle)
            except _UNREADABLE as error:
                raise self._not_an_archive(f"not a zip file ({error})") from None
            with archive:
                try:
                    self._open(archive, handle)
                except _UNREADABLE as error:
                    raise self._not_an_archive(_reason(error)) from None
            if self.format == "packed":
                self._keep_descriptor(os.dup(handle.fileno()))
        if onset_us is not None:
            self.onset_us = int(onset_us)

    def _not_an_archive(self, why: str) -> ArchiveFormatError:
        return ArchiveFormatError(
            f"{self._path.name} is not a readable log archive: {why}; pass a <id>_log.npz "
            "written by compress_npy_logs or by the reference library",
            path=str(self._path),
        )

    def _damaged(self, what: str) -> ArchiveFormatError:
        return ArchiveFormatError(
            f"{self._path.name} is damaged: {what}; restore it from a copy, or compress its "
            "batch files again",
            path=str(self._path),
        )

    # ------------------------------------------------------------------ opening
    def _open(self, archive: zipfile.ZipFile, handle: IO[bytes]) -> None:
        names = set(archive.namelist())
        layout = archive_layout(names)
        if layout == "packed":
            self.format = "packed"
            self._open_packed(archive, handle)
        elif layout == "reference":
            self.format = "reference"
            self._open_reference(archive, sorted(names))
        else:
            raise ArchiveFormatError(
                f"its members ({', '.join(sorted(names)[:4]) or 'none'}) are neither "
                "this library's layout nor one .npy per entry"
            )

    def _open_packed(self, archive: zipfile.ZipFile, handle: IO[bytes]) -> None:
        version, self.source_id, self.onset_us, self.sessions = packed_fields(
            archive,
            lambda version: ArchiveFormatError(
                f"its format version is {version}, this library reads up to {ARCHIVE_VERSION}: "
                "upgrade ataraxis-like"
            ),
        )
        shapes: dict[str, tuple[int, ...]] = {}
        for name, dtype in _COLUMNS.items():
            info = archive.getinfo(member_name(name))
            if info.compress_type == zipfile.ZIP_STORED:
                self._stored[name], shapes[name], found = stored_member(archive, info.filename,
                                                                        handle)  # fmt: skip
            elif name == "payload":
                self._payload_deflated = True
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
        self._count = count
        self._payload_size = shapes["payload"][0]
        first, last = (int(self._read("offsets", at, at + 1)[0]) for at in (0, count))
        if first != 0 or last != self._payload_size:
            raise ArchiveFormatError(
                f"its offsets end at {last} but the payload has {self._payload_size} bytes"
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
            block_entries = choose_block_entries(count, self._payload_size)
        self._shift = block_entries.bit_length() - 1
        self._mask = block_entries - 1
        self._fast_count = count

    def _keep_descriptor(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._closer = weakref.finalize(self, os.close, descriptor)

    def _open_reference(self, archive: zipfile.ZipFile, names: list[str]) -> None:
        parsed = [REFERENCE_MEMBER.match(name) for name in names]
        sources = {int(match.group(1)) for match in parsed if match}
        if len(sources) != 1:
            raise ArchiveFormatError(f"it mixes sources {sorted(sources)}")
        self.source_id = sources.pop()
        self.onset_us = None
        stamps = [int(match.group(2)) for match in parsed if match]
        order = sorted(range(len(names)), key=stamps.__getitem__)
        members = [names[i] for i in order]
        timestamps = np.array([stamps[i] for i in order], dtype=np.uint64)
        if members and timestamps[0] == 0:
            onset_entry = self._reference_entry(archive, members[0])
            if onset_entry.size == 8:
                self.onset_us = int(onset_entry.view("<u8")[0])
                members, timestamps = members[1:], timestamps[1:]
        self._members = members
        self._timestamps = timestamps
        self._count = len(members)

    @staticmethod
    def _reference_entry(archive: zipfile.ZipFile, name: str) -> np.ndarray:
        try:
            with archive.open(name) as handle:
                data = np.lib.format.read_array(handle, allow_pickle=False)
        except _UNREADABLE as error:
            raise ArchiveFormatError(f"entry {name} is unreadable ({_reason(error)})") from None
        if data.dtype != np.uint8 or data.ndim != 1 or data.size < 9:
            raise ArchiveFormatError(f"entry {name} is not [source][timestamp][payload] bytes")
        data.flags.writeable = False
        return data[9:]

    # ------------------------------------------------------------------ reading
    def _read(self, name: str, first: int, last: int) -> np.ndarray:
        """Elements ``first`` to ``last`` of a packed column, from memory or from the file."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded[first:last]
        dtype = _COLUMNS[name]
        if name == "payload" and self._payload_deflated:
            return self._loaded_payload()[first:last]
        if self._descriptor is None:
            try:
                self._keep_descriptor(os.open(self._path, os.O_RDONLY | os.O_CLOEXEC))
            except OSError as error:
                raise self._damaged(f"it cannot be opened again ({error.strerror})") from None
        assert self._descriptor is not None
        size = (last - first) * dtype.itemsize
        try:
            data = os.pread(self._descriptor, size, self._stored[name] + first * dtype.itemsize)
        except OSError as error:
            raise self._damaged(f"reading its {name} failed ({error.strerror})") from None
        if len(data) != size:
            raise self._damaged(f"it ends inside its {name} (truncated after it was opened?)")
        return np.frombuffer(data, dtype=dtype)

    def _loaded_payload(self) -> np.ndarray:
        """A deflated payload in memory, decompressed once (costs its full size)."""
        payload = self._loaded.get("payload")
        if payload is None:
            try:
                with zipfile.ZipFile(self._path) as archive:
                    payload = read_member(archive, "payload")
            except _UNREADABLE as error:
                raise self._damaged(f"its payload is unreadable ({_reason(error)})") from None
            if payload.shape != (self._payload_size,) or payload.dtype != np.uint8:
                raise self._damaged("its payload changed since it was opened")
            payload.flags.writeable = False
            self._loaded["payload"] = payload
            self._zip_checked.add("payload")
        return payload

    def _block(
        self, number: int, payload: Callable[[int, int], np.ndarray] | None = None
    ) -> _Block:
        """Block ``number``, read and checked (and cached, unless ``payload`` supplies its bytes
        from a stream)."""
        first = number << self._shift
        last = min(self._count, first + self._mask + 1)
        stamps = self._read("timestamps", first, last)
        offsets = self._read("offsets", first, last + 1)
        checksums, checked = self._checksums, self._zip_checked
        index_sum = None if checksums is None else int(checksums[number, 0])
        if {"timestamps", "offsets"} <= checked:
            index_sum = None  # both were read whole through the zip, which checked them
        if index_sum is not None and index_checksum(stamps, offsets) != index_sum:
            raise self._damaged(f"the checksum of the index of entries {first} to {last - 1} fails")
        start, end = int(offsets[0]), int(offsets[-1])
        if end > self._payload_size or bool(np.any(offsets[1:] < offsets[:-1])):
            raise self._damaged(f"the offsets of entries {first} to {last - 1} are out of order")
        data = self._read("payload", start, end) if payload is None else payload(start, end)
        payload_sum = None if checksums is None else int(checksums[number, 1])
        if payload is None and "payload" in checked:
            payload_sum = None
        if payload_sum is not None and zlib.crc32(data.data) != payload_sum:
            raise self._damaged(
                f"the checksum of the payload of entries {first} to {last - 1} fails"
            )
        block = _Block(stamps, offsets, data)
        if payload is None:
            self._blocks[number] = block
            self._cached += block.size
            while self._cached > self._cache_bytes and len(self._blocks) > 1:
                self._cached -= self._blocks.pop(next(iter(self._blocks))).size
        return block

    def _whole(self, name: str) -> np.ndarray:
        """A whole index column (timestamps or offsets) in memory, every block's index checked."""
        if self._index_checked:
            return self._loaded[name]
        stamps = self._read("timestamps", 0, self._count)
        offsets = self._read("offsets", 0, self._count + 1)
        if self._checksums is not None and not {"timestamps", "offsets"} <= self._zip_checked:
            size = self._mask + 1
            for number, (index_sum, _payload_sum) in enumerate(self._checksums.tolist()):
                first = number * size
                last = min(self._count, first + size)
                if index_checksum(stamps[first:last], offsets[first : last + 1]) != index_sum:
                    raise self._damaged(
                        f"the checksum of the index of entries {first} to {last - 1} fails"
                    )
        if bool(np.any(offsets[1:] < offsets[:-1])):
            raise self._damaged("its offsets are out of order")
        self._loaded["timestamps"], self._loaded["offsets"] = stamps, offsets
        self._index_checked = True
        return self._loaded[name]

    # --------------------------------------------------------------- properties
    @property
    def path(self) -> Path:
        return self._path

    @property
    def message_count(self) -> int:
        return self._count

    @property
    def timestamps(self) -> np.ndarray:
        """Microseconds since ``onset_us`` of every entry, ascending (uint64, read-only)."""
        stamps = self._timestamps if self._members or self.format != "packed" else (
            self._whole("timestamps"))  # fmt: skip
        view = stamps.view()
        view.flags.writeable = False
        return view

    @property
    def offsets(self) -> np.ndarray:
        """Entry ``i``'s payload is bytes ``offsets[i]:offsets[i + 1]`` of the payload member
        (packed archives; uint64, one more than the entries, read-only)."""
        offsets = self._whole("offsets") if self.format == "packed" else np.zeros(1, np.uint64)
        view = offsets.view()
        view.flags.writeable = False
        return view

    @property
    def payload_bytes(self) -> int:
        """Total payload size of all entries (known without decoding for packed archives)."""
        if self.format == "packed":
            return self._payload_size
        return sum(int(self[i][1].size) for i in range(len(self)))

    @property
    def compressed(self) -> bool:
        """Whether the payload is deflated (decompressed on the first random access)."""
        return self._payload_deflated

    def absolute_times_us(self) -> np.ndarray:
        """UTC microseconds since the epoch of every entry: ``onset_us + timestamps``."""
        if self.onset_us is None:
            raise ArchiveFormatError(
                f"{self._path.name} records no onset (a reference archive without an onset "
                "entry); pass it: LogArchiveReader(path, onset_us=...)",
                path=str(self._path),
            )
        return self.timestamps + np.uint64(self.onset_us)

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (
            f"LogArchiveReader({str(self._path)!r}, source_id={self.source_id}, "
            f"messages={len(self)}, format={self.format!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self._path, self._onset_override, self._cache_bytes)

    # ------------------------------------------------------------------- access
    def __getitem__(self, index: int | slice) -> Any:
        """``reader[i]`` is one ``(timestamp_us, payload)``; ``reader[a:b:c]`` a list of them."""
        if type(index) is int and 0 <= index < self._fast_count:
            block = self._blocks.get(index >> self._shift)
            if block is None:
                block = self._block(index >> self._shift)
            at = index & self._mask
            starts = block.starts
            return block.stamps[at], block.data[starts[at] : starts[at + 1]]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return list(self.iter_messages(start, max(start, stop)))
            return [self[i] for i in range(start, stop, step)]
        index = operator.index(index)
        count = self._count
        if not -count <= index < count:
            raise ArchiveIndexError(
                f"message index {index} is out of range for {count} messages", index=index
            )
        if index < 0:
            index += count
        if self._members:
            return int(self._timestamps[index]), self._reference_payload(index)
        return self[index]

    def _reference_payload(self, index: int) -> np.ndarray:
        if self._reference_archive is None:
            try:
                self._reference_archive = zipfile.ZipFile(self._path)
            except _UNREADABLE as error:
                raise self._damaged(f"it cannot be opened again ({_reason(error)})") from None
        return self._reference_entry(self._reference_archive, self._members[index])

    def __iter__(self) -> Iterator[Message]:
        return self.iter_messages()

    def iter_messages(self, start: int = 0, stop: int | None = None) -> Iterator[Message]:
        """Yield ``(timestamp_us, payload)`` for entries ``start`` to ``stop`` in time order.

        Deflated payloads are streamed: memory stays bounded whatever the archive's size.
        """
        stop = len(self) if stop is None else min(stop, len(self))
        start = max(0, start)
        if start >= stop:
            return
        if self._members:
            for index in range(start, stop):
                yield self[index]
            return
        if self._payload_deflated and "payload" not in self._loaded:
            yield from self._iter_stream(start, stop)
            return
        shift, size = self._shift, self._mask + 1
        for number in range(start >> shift, ((stop - 1) >> shift) + 1):
            block = self._blocks.get(number) or self._block(number)
            first = number << shift
            yield from block.messages(max(start - first, 0), min(stop - first, size))

    def _iter_stream(self, start: int, stop: int) -> Iterator[Message]:
        """Entries of a deflated payload read front to back, block by block (each checked)."""
        shift, size = self._shift, self._mask + 1
        try:
            with zipfile.ZipFile(self._path) as archive, open_payload_stream(archive) as stream:
                position = 0

                def read(begin: int, end: int) -> np.ndarray:
                    nonlocal position
                    _skip(stream, begin - position)
                    data = _read_exactly(stream, end - begin)
                    position = end
                    return np.frombuffer(data, dtype=np.uint8)

                for number in range(start >> shift, ((stop - 1) >> shift) + 1):
                    first = number << shift
                    block = self._block(number, read)
                    yield from block.messages(max(start - first, 0), min(stop - first, size))
        except ArchiveFormatError:
            raise
        except _UNREADABLE as error:
            raise self._damaged(f"its payload is unreadable ({_reason(error)})") from None

    def read_all_messages(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """All entries at once: a uint64 timestamp array and a list of payload arrays."""
        payloads = [payload for _timestamp, payload in self.iter_messages()]
        return self.timestamps.copy(), payloads

    def get_batches(self, count: int) -> list[tuple[int, int]]:
        """Split the entries into up to ``count`` contiguous ``(start, stop)`` ranges of similar
        cost (payload bytes plus a per-entry share), for ``iter_messages(start, stop)`` in workers.
        """
        if count < 1:
            raise ValueError(f"get_batches needs a batch count of at least 1 (got {count})")
        total = len(self)
        if total == 0:
            return []
        if self.format == "packed":
            weights = self.offsets + np.arange(total + 1, dtype=np.uint64) * np.uint64(64)
        else:
            weights = np.arange(total + 1, dtype=np.uint64)
        targets = np.linspace(0, float(weights[-1]), count + 1)[1:-1]
        cuts = np.searchsorted(weights, targets, side="left").tolist()
        bounds = sorted({0, total, *(min(max(cut, 0), total) for cut in cuts)})
        return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]

    def close(self) -> None:
        """Close the file and drop cached entries and a decompressed payload. Payload arrays
        already returned stay valid; reading again reopens the file."""
        if self._reference_archive is not None:
            self._reference_archive.close()
            self._reference_archive = None
        self._blocks.clear()
        self._cached = 0
        if self._payload_deflated:
            self._loaded.pop("payload", None)
        if self._closer is not None:
            self._closer()
            self._closer = self._descriptor = None

    def __enter__(self) -> LogArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _rebuild(path: Path, onset_us: int | None, cache_bytes: int) -> LogArchiveReader:
    return LogArchiveReader(path, onset_us, cache_bytes=cache_bytes)


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, ArchiveFormatError) else f"corrupt ({error})"


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
