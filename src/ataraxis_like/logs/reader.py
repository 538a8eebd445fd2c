"""Read log archives: this library's packed layout and the reference library's one-member-per-entry.

A packed archive (docs/formats.md) keeps all timestamps in one array, all payload bytes in another
and the entry boundaries in a third, so opening costs a few reads and one entry costs two array
lookups. Entries are read a block at a time (about 64 KiB of payload) with ``pread`` and kept in
a bounded cache; each block's checksums (format version 2) are checked when it is first read, so
a damaged byte gives ArchiveFormatError, never a wrong entry (``_archive_blocks``). Nothing is
memory-mapped: a file truncated while a reader has it open gives a short read and an error, not
SIGBUS. Deflated payloads are decompressed once, on the first random access, or streamed by
``iter_messages``.
"""

from __future__ import annotations

import itertools
import operator
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive_blocks import UNREADABLE, Message, PackedBlocks, damaged, reason
from ._archive_layout import (
    REFERENCE_MEMBER,
    ArchiveFormatError,
    ArchiveHeader,
    ArchiveIndexError,
    archive_layout,
    archive_name,
    discover_log_archives,
    member_info,
    open_member,
    open_payload_stream,
    read_archive_header,
    read_member,
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

CACHE_BYTES = 256 << 20


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
        self._packed = PackedBlocks(self._path, cache_bytes)
        # The packed archive's cache and block geometry, read by __getitem__'s fast path.
        self._blocks = self._packed.blocks
        self._fast_count = 0  # entries the fast path of __getitem__ serves (packed archives)
        self._shift = 0
        self._mask = 0
        self._count = 0
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
            except UNREADABLE as error:
                raise self._not_an_archive(f"not a zip file ({error})") from None
            with archive:
                try:
                    self._open(archive, handle)
                except UNREADABLE as error:
                    raise self._not_an_archive(reason(error)) from None
            if self.format == "packed":
                self._packed.keep_descriptor(os.dup(handle.fileno()))
        if onset_us is not None:
            self.onset_us = int(onset_us)

    def _not_an_archive(self, why: str) -> ArchiveFormatError:
        return ArchiveFormatError(
            f"{self._path.name} is not a readable log archive: {why}; pass a <id>_log.npz "
            "written by compress_npy_logs or by the reference library",
            path=str(self._path),
        )

    # ------------------------------------------------------------------ opening
    def _open(self, archive: zipfile.ZipFile, handle: IO[bytes]) -> None:
        names = set(archive.namelist())
        layout = archive_layout(names)
        if layout == "packed":
            self.format = "packed"
            packed = self._packed
            self.source_id, self.onset_us, self.sessions = packed.open(archive, handle)
            self._count = self._fast_count = packed.count
            self._shift, self._mask = packed.shift, packed.mask
        elif layout == "reference":
            self.format = "reference"
            self._open_reference(archive, sorted(names))
        else:
            raise ArchiveFormatError(
                f"its members ({', '.join(sorted(names)[:4]) or 'none'}) are neither "
                "this library's layout nor one .npy per entry"
            )

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
            with archive.open(member_info(archive, name)) as handle:
                data = np.lib.format.read_array(handle, allow_pickle=False)
        except UNREADABLE as error:
            raise ArchiveFormatError(f"entry {name} is unreadable ({reason(error)})") from None
        if data.dtype != np.uint8 or data.ndim != 1 or data.size < 9:
            raise ArchiveFormatError(f"entry {name} is not [source][timestamp][payload] bytes")
        data.flags.writeable = False
        return data[9:]

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
            self._packed.whole("timestamps"))  # fmt: skip
        view = stamps.view()
        view.flags.writeable = False
        return view

    @property
    def offsets(self) -> np.ndarray:
        """Entry ``i``'s payload is bytes ``offsets[i]:offsets[i + 1]`` of the payload member
        (packed archives; uint64, one more than the entries, read-only)."""
        packed = self.format == "packed"
        offsets = self._packed.whole("offsets") if packed else np.zeros(1, np.uint64)
        view = offsets.view()
        view.flags.writeable = False
        return view

    @property
    def payload_bytes(self) -> int:
        """Total payload size of all entries (known without decoding for packed archives)."""
        if self.format == "packed":
            return self._packed.payload_size
        return sum(int(self[i][1].size) for i in range(len(self)))

    @property
    def compressed(self) -> bool:
        """Whether the payload is deflated (decompressed on the first random access)."""
        return self._packed.payload_deflated

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
                block = self._packed.block(index >> self._shift)
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
            except UNREADABLE as error:
                why = f"it cannot be opened again ({reason(error)})"
                raise damaged(self._path, why) from None
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
        packed = self._packed
        if packed.streams():
            yield from packed.iter_stream(start, stop)
            return
        shift, size = self._shift, self._mask + 1
        for number in range(start >> shift, ((stop - 1) >> shift) + 1):
            block = self._blocks.get(number) or packed.block(number)
            first = number << shift
            yield from block.messages(max(start - first, 0), min(stop - first, size))

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
        self._packed.close()

    def __enter__(self) -> LogArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _rebuild(path: Path, onset_us: int | None, cache_bytes: int) -> LogArchiveReader:
    return LogArchiveReader(path, onset_us, cache_bytes=cache_bytes)
