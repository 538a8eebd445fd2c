"""Read log archives: this library's packed layout and the reference library's one-member-per-entry.

A packed archive (docs/formats.md) keeps all timestamps in one array, all payload bytes in another
and the entry boundaries in a third, so opening costs a few reads and one entry costs two array
lookups. Uncompressed archives are memory-mapped; compressed ones are decompressed once, on the
first random access, or streamed by ``iter_messages``.
"""

from __future__ import annotations

import itertools
import mmap
import operator
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive_layout import (
    ARCHIVE_VERSION,
    REFERENCE_MEMBER,
    ArchiveFormatError,
    ArchiveHeader,
    archive_layout,
    archive_name,
    discover_log_archives,
    member_name,
    open_member,
    open_payload_stream,
    packed_fields,
    read_archive_header,
    read_member,
    read_npy_header,
    stored_array,
)

__all__ = [  # the archive helpers that lived here before _archive_layout, kept importable
    "ArchiveFormatError",
    "ArchiveHeader",
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

Message = tuple[int, np.ndarray]


def _message_slices(
    payload: np.ndarray, base: int, timestamps: np.ndarray, offsets: np.ndarray
) -> Iterator[Message]:
    """``(timestamp, payload view)`` pairs, made in C by zip/map: about 0.3 us each."""
    starts = (offsets[:-1] - np.uint64(base)).tolist()
    ends = (offsets[1:] - np.uint64(base)).tolist()
    return zip(timestamps.tolist(), map(payload.__getitem__, map(slice, starts, ends)), strict=True)


class LogArchiveReader:
    """One source's log archive: timestamps without touching payloads, and fast entry access.

    Entries are ``(timestamp_us, payload)`` tuples: an ``int`` of microseconds since ``onset_us``
    and a read-only ``uint8`` array viewing the archive (copy it to keep it past ``close``).
    Also reads the reference library's archives (one ``.npy`` member per entry); their onset is
    the payload of the entry stamped 0, when there is one, and that entry is not a message.
    A reader pickles as its path, so it can be sent to worker processes with ``get_batches``.
    """

    def __init__(self, path: Path | str, onset_us: int | None = None) -> None:
        self._path = Path(path)
        self._onset_override = onset_us
        self._payload: np.ndarray | None = None
        self._offsets = np.zeros(1, dtype=np.uint64)
        self._members: list[str] = []
        self._compressed = False
        self._reference_archive: zipfile.ZipFile | None = None
        self.format = ""
        self.source_id = -1
        self.onset_us: int | None = None
        self.sessions: dict[int, int] = {}
        try:
            archive = zipfile.ZipFile(self._path)
        except FileNotFoundError:
            raise ArchiveFormatError(
                f"log archive {self._path} does not exist; pass the path of a <id>_log.npz file",
                path=str(self._path),
            ) from None
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise self._not_an_archive(f"not a zip file ({error})") from None
        with archive:
            names = set(archive.namelist())
            layout = archive_layout(names)
            try:
                if layout == "packed":
                    self.format = "packed"
                    self._open_packed(archive)
                elif layout == "reference":
                    self.format = "reference"
                    self._open_reference(archive, sorted(names))
                else:
                    raise self._not_an_archive(
                        f"its members ({', '.join(sorted(names)[:4]) or 'none'}) are neither "
                        "this library's layout nor one .npy per entry"
                    )
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as error:
                if isinstance(error, ArchiveFormatError):
                    raise
                raise self._not_an_archive(f"corrupt ({error})") from None
        if onset_us is not None:
            self.onset_us = int(onset_us)

    def _not_an_archive(self, why: str) -> ArchiveFormatError:
        return ArchiveFormatError(
            f"{self._path.name} is not a readable log archive: {why}; pass a <id>_log.npz "
            "written by compress_npy_logs or by the reference library",
            path=str(self._path),
        )

    # ------------------------------------------------------------------ opening
    def _open_packed(self, archive: zipfile.ZipFile) -> None:
        self.source_id, self.onset_us, self.sessions = packed_fields(
            archive,
            lambda version: self._not_an_archive(
                f"its format version is {version}, this library reads {ARCHIVE_VERSION}: "
                "upgrade ataraxis-like"
            ),
        )
        stored = {
            name: archive.getinfo(member_name(name)).compress_type == zipfile.ZIP_STORED
            for name in ("timestamps", "offsets", "payload")
        }
        arrays: dict[str, np.ndarray] = {}
        if any(stored.values()):
            with open(self._path, "rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                for name in (name for name, is_stored in stored.items() if is_stored):
                    arrays[name] = stored_array(archive, member_name(name), mapped, handle)
        timestamps = arrays.get("timestamps")
        timestamps = read_member(archive, "timestamps") if timestamps is None else timestamps
        offsets = arrays.get("offsets")
        offsets = read_member(archive, "offsets") if offsets is None else offsets
        self._payload = arrays.get("payload")
        self._compressed = self._payload is None
        if (
            timestamps.dtype != np.uint64
            or offsets.dtype != np.uint64
            or offsets.shape != (timestamps.size + 1,)
            or int(offsets[0]) != 0
        ):
            raise self._not_an_archive("its timestamps and offsets do not match")
        if self._payload is not None:
            payload_size = self._payload.size
        else:
            payload_info = archive.getinfo(member_name("payload"))
            payload_size = payload_info.file_size - self._payload_header_size(archive)
        if int(offsets[-1]) != payload_size:
            raise self._not_an_archive(
                f"its offsets end at {int(offsets[-1])} but the payload has {payload_size} bytes"
            )
        self._timestamps = timestamps
        self._offsets = offsets

    @staticmethod
    def _payload_header_size(archive: zipfile.ZipFile) -> int:
        with archive.open(member_name("payload")) as handle:
            read_npy_header(handle)
            return handle.tell()

    def _open_reference(self, archive: zipfile.ZipFile, names: list[str]) -> None:
        parsed = [REFERENCE_MEMBER.match(name) for name in names]
        sources = {int(match.group(1)) for match in parsed if match}
        if len(sources) != 1:
            raise self._not_an_archive(f"it mixes sources {sorted(sources)}")
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

    @staticmethod
    def _reference_entry(archive: zipfile.ZipFile, name: str) -> np.ndarray:
        with archive.open(name) as handle:
            data = np.lib.format.read_array(handle, allow_pickle=False)
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
        return int(self._timestamps.size)

    @property
    def timestamps(self) -> np.ndarray:
        """Microseconds since ``onset_us`` of every entry, ascending (uint64, read-only)."""
        view = self._timestamps.view()
        view.flags.writeable = False
        return view

    @property
    def offsets(self) -> np.ndarray:
        """Entry ``i``'s payload is bytes ``offsets[i]:offsets[i + 1]`` of the payload member
        (packed archives; uint64, one more than the entries, read-only)."""
        view = self._offsets.view()
        view.flags.writeable = False
        return view

    @property
    def payload_bytes(self) -> int:
        """Total payload size of all entries (known without decoding for packed archives)."""
        if self.format == "packed":
            return int(self._offsets[-1])
        return sum(int(self[i][1].size) for i in range(len(self)))

    @property
    def compressed(self) -> bool:
        return self._compressed

    def absolute_times_us(self) -> np.ndarray:
        """UTC microseconds since the epoch of every entry: ``onset_us + timestamps``."""
        if self.onset_us is None:
            raise ArchiveFormatError(
                f"{self._path.name} records no onset (a reference archive without an onset "
                "entry); pass it: LogArchiveReader(path, onset_us=...)",
                path=str(self._path),
            )
        return self._timestamps + np.uint64(self.onset_us)

    def __len__(self) -> int:
        return int(self._timestamps.size)

    def __repr__(self) -> str:
        return (
            f"LogArchiveReader({str(self._path)!r}, source_id={self.source_id}, "
            f"messages={len(self)}, format={self.format!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return LogArchiveReader, (self._path, self._onset_override)

    # ------------------------------------------------------------------- access
    def _loaded_payload(self) -> np.ndarray:
        """The packed payload in memory: mapped, or decompressed once (costs its full size)."""
        if self._payload is None:
            with zipfile.ZipFile(self._path) as archive:
                payload = read_member(archive, "payload")
            payload.flags.writeable = False
            self._payload = payload
        return self._payload

    def __getitem__(self, index: int | slice) -> Any:
        """``reader[i]`` is one ``(timestamp_us, payload)``; ``reader[a:b:c]`` a list of them."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return list(self.iter_messages(start, max(start, stop)))
            return [self[i] for i in range(start, stop, step)]
        index = operator.index(index)
        count = self._timestamps.size
        if not -count <= index < count:
            raise IndexError(f"message index {index} is out of range for {count} messages")
        if index < 0:
            index += count
        if self._members:
            return int(self._timestamps[index]), self._reference_payload(index)
        payload = self._payload if self._payload is not None else self._loaded_payload()
        return int(self._timestamps[index]), payload[
            int(self._offsets[index]) : int(self._offsets[index + 1])
        ]

    def _reference_payload(self, index: int) -> np.ndarray:
        if self._reference_archive is None:
            self._reference_archive = zipfile.ZipFile(self._path)
        return self._reference_entry(self._reference_archive, self._members[index])

    def __iter__(self) -> Iterator[Message]:
        return self.iter_messages()

    def iter_messages(self, start: int = 0, stop: int | None = None) -> Iterator[Message]:
        """Yield ``(timestamp_us, payload)`` for entries ``start`` to ``stop`` in time order.

        Compressed archives are streamed: memory stays bounded whatever the archive's size.
        """
        stop = len(self) if stop is None else min(stop, len(self))
        start = max(0, start)
        if start >= stop:
            return
        if self._members:
            for index in range(start, stop):
                yield self[index]
            return
        if self._payload is None:
            yield from self._iter_stream(start, stop)
            return
        for first in range(start, stop, _ITERATION_CHUNK):
            last = min(stop, first + _ITERATION_CHUNK)
            yield from _message_slices(
                self._payload, 0, self._timestamps[first:last], self._offsets[first : last + 1]
            )

    def _iter_stream(self, start: int, stop: int) -> Iterator[Message]:
        offsets = self._offsets
        with zipfile.ZipFile(self._path) as archive, open_payload_stream(archive) as stream:
            _skip(stream, int(offsets[start]))
            first = start
            while first < stop:
                limit = int(offsets[first]) + _STREAM_BYTES
                last = int(np.searchsorted(offsets, limit, side="right")) - 1
                last = min(stop, first + _ITERATION_CHUNK, max(first + 1, last))
                size = int(offsets[last]) - int(offsets[first])
                data = np.frombuffer(_read_exactly(stream, size), dtype=np.uint8)
                yield from _message_slices(
                    data, int(offsets[first]), self._timestamps[first:last],
                    offsets[first : last + 1],
                )  # fmt: skip
                first = last

    def read_all_messages(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """All entries at once: a uint64 timestamp array and a list of payload arrays."""
        payloads = [payload for _timestamp, payload in self.iter_messages()]
        return self._timestamps.copy(), payloads

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
            weights = self._offsets + np.arange(total + 1, dtype=np.uint64) * np.uint64(64)
        else:
            weights = np.arange(total + 1, dtype=np.uint64)
        targets = np.linspace(0, float(weights[-1]), count + 1)[1:-1]
        cuts = np.searchsorted(weights, targets, side="left").tolist()
        bounds = sorted({0, total, *(min(max(cut, 0), total) for cut in cuts)})
        return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]

    def close(self) -> None:
        """Close open file handles and drop a decompressed payload. The memory map of an
        uncompressed archive is released once this reader and every payload view are gone."""
        if self._reference_archive is not None:
            self._reference_archive.close()
            self._reference_archive = None
        if self._compressed:
            self._payload = None

    def __enter__(self) -> LogArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
