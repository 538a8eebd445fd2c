"""One source's entries in archive order, in bounded memory, whatever the entry count.

An entry is a 40-byte row: its rebased timestamp, (session, entry_id) key and where its payload
lies. Rows are sorted by (timestamp, session, entry_id, origin) in runs of at most
``ROWS_IN_MEMORY``; beyond one run, runs go to a hidden scratch file and are merged block by
block. Copies of an entry share timestamp, session and entry id, so after sorting they are
adjacent and one pass keeps the first: the previous archive's copy (origin -1) when there is one.
Batch files are read here only as far as their header and index (``scan_batch``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive_layout import ArchiveFormatError, open_member
from .format import BATCH_HEADER, BATCH_MAGIC, BATCH_VERSION, INDEX_DTYPE, BatchFormatError

ROW = np.dtype(
    [("timestamp", "<u8"), ("session", "<u8"), ("entry_id", "<u8"), ("start", "<u8"),
     ("length", "<u4"), ("origin", "<i4")]
)  # fmt: skip
ROWS_IN_MEMORY = 1 << 19  # 20 MB of rows; sorting a run needs about 2.5 times that
BLOCK = 1 << 15
OLD = -1  # origin of rows from the previous archive; batch files are numbered from 0


@dataclass(frozen=True)
class BatchInfo:
    """A batch file's header and index, read without its payload."""

    path: Path
    onset_us: int
    session: int
    sequence: int
    payload_at: int  # file offset of the first payload byte
    index: np.ndarray


def scan_batch(path: Path) -> BatchInfo:
    """Read and validate a batch file's header and index (the checks of ``read_batch``)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = reader(handle)
            body_at = handle.tell()
            size = os.fstat(handle.fileno()).st_size - body_at
            if dtype != np.uint8 or len(shape) != 1 or fortran:
                raise BatchFormatError(f"{path.name}: not a logger batch (dtype {dtype})")
            if shape[0] != size:
                raise BatchFormatError(
                    f"{path.name}: truncated ({size} of {shape[0]} bytes present)"
                )
            header = handle.read(BATCH_HEADER.size)
            if len(header) < BATCH_HEADER.size:
                raise BatchFormatError(f"{path.name}: not a logger batch (too short)")
            magic, batch_version, count, onset, session, sequence, _ = BATCH_HEADER.unpack(header)
            if magic != BATCH_MAGIC or batch_version != BATCH_VERSION:
                raise BatchFormatError(f"{path.name}: not a logger batch (magic {magic!r})")
            index_end = BATCH_HEADER.size + count * INDEX_DTYPE.itemsize
            if index_end > size:
                raise BatchFormatError(f"{path.name}: truncated index ({count} entries)")
            index = np.frombuffer(handle.read(index_end - BATCH_HEADER.size), dtype=INDEX_DTYPE)
    except (ValueError, OSError, EOFError) as error:
        if isinstance(error, BatchFormatError):
            raise
        raise BatchFormatError(f"{path.name}: not a readable .npy file ({error})") from None
    if int(index["length"].sum(dtype=np.uint64)) != size - index_end:
        raise BatchFormatError(f"{path.name}: payload size does not match its index")
    return BatchInfo(path, onset, session, sequence, body_at + index_end, index)


@dataclass(frozen=True)
class BatchRef:
    """A batch file with the session and onset its header declared when it was scanned."""

    path: Path
    session: int
    onset_us: int


def sort_rows(rows: np.ndarray) -> np.ndarray:
    order = np.lexsort((rows["origin"], rows["entry_id"], rows["session"], rows["timestamp"]))
    return rows[order]


class Spill:
    """A hidden scratch file of rows, created on first use and deleted by ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._rows = 0

    def append(self, rows: np.ndarray) -> Rows:
        if self._descriptor is None:
            self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        view = np.ascontiguousarray(rows).view(np.uint8).data
        at = self._rows * ROW.itemsize
        while view:
            written = os.pwrite(self._descriptor, view, at)
            view, at = view[written:], at + written
        region = Rows(spill=self, start=self._rows, count=len(rows))
        self._rows += len(rows)
        return region

    def read(self, start: int, count: int) -> np.ndarray:
        assert self._descriptor is not None, "read from a spill that holds nothing"
        data = os.pread(self._descriptor, count * ROW.itemsize, start * ROW.itemsize)
        return np.frombuffer(data, dtype=ROW)

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
            self.path.unlink(missing_ok=True)


@dataclass
class Rows:
    """Sorted rows held in memory or in a region of a spill file, read back in blocks."""

    array: np.ndarray | None = None
    spill: Spill | None = None
    start: int = 0
    count: int = 0

    def __len__(self) -> int:
        return self.count if self.array is None else len(self.array)

    def blocks(self, size: int = BLOCK) -> Iterator[np.ndarray]:
        if self.array is not None:
            for at in range(0, len(self.array), size):
                yield self.array[at : at + size]
            return
        assert self.spill is not None, "rows without storage"
        for at in range(self.start, self.start + self.count, size):
            yield self.spill.read(at, min(size, self.start + self.count - at))


def _select(ref: BatchRef, number: int, source_id: int, onset_us: int) -> np.ndarray:
    """The source's rows of batch file ``number``, timestamps rebased to ``onset_us``."""
    path, shift = ref.path, ref.onset_us - onset_us
    try:
        batch = scan_batch(path)
    except BatchFormatError as error:
        raise BatchFormatError(f"{error} (the file changed during compression)") from None
    if (batch.session, batch.onset_us) != (ref.session, ref.onset_us):
        raise BatchFormatError(f"{path.name}: changed during compression")
    index = batch.index
    lengths = index["length"].astype(np.uint64)
    starts = np.cumsum(lengths) - lengths + np.uint64(batch.payload_at)
    mask = index["source_id"] == source_id
    rows = np.empty(int(np.count_nonzero(mask)), dtype=ROW)
    stamps = index["timestamp"][mask]
    if rows.size and int(stamps.max()) + shift >= 2**64:
        raise BatchFormatError(
            f"{path.name}: timestamps overflow 64 bits once rebased to the earliest onset"
        )
    rows["timestamp"] = stamps + np.uint64(shift)
    rows["session"] = batch.session
    rows["entry_id"] = index["entry_id"][mask]
    rows["start"] = starts[mask]
    rows["length"] = index["length"][mask]
    rows["origin"] = number
    return rows


def collect_runs(
    source_id: int, batches: Sequence[BatchRef], onset_us: int, spill: Spill
) -> list[Rows]:
    """The source's rows from every batch file, as sorted runs (one in memory when they fit)."""
    runs: list[Rows] = []
    pending: list[np.ndarray] = []
    pending_rows = 0
    for number, ref in enumerate(batches):
        rows = _select(ref, number, source_id, onset_us)
        pending.append(rows)
        pending_rows += len(rows)
        if pending_rows >= ROWS_IN_MEMORY:
            run = np.concatenate(pending)
            pending, pending_rows = [], 0
            runs.append(spill.append(sort_rows(run)))
            del run
    if pending or not runs:
        rows = sort_rows(np.concatenate(pending) if pending else np.empty(0, dtype=ROW))
        runs.append(spill.append(rows) if runs else Rows(array=rows))
    return runs


def _member(archive: zipfile.ZipFile, name: str, dtype: str, shape: tuple[int, ...]) -> IO[bytes]:
    handle, found_shape, found_dtype = open_member(archive, name)
    if found_dtype != np.dtype(dtype) or found_shape != shape:
        handle.close()
        raise ArchiveFormatError(f"member {name} is {found_dtype} {found_shape}, not {shape}")
    return handle


def _exactly(handle: IO[bytes], count: int, dtype: str) -> np.ndarray:
    data = handle.read(count * np.dtype(dtype).itemsize)
    if len(data) != count * np.dtype(dtype).itemsize:
        raise ArchiveFormatError("an archive member ends before its header says")
    return np.frombuffer(data, dtype=dtype)


def archive_columns(path: Path, count: int, size: int = BLOCK) -> Iterator[tuple[np.ndarray, ...]]:
    """``(timestamps, offsets[i+1] values, keys)`` of an archive's entries, block by block."""
    with zipfile.ZipFile(path) as archive:
        stamps = _member(archive, "timestamps", "<u8", (count,))
        offsets = _member(archive, "offsets", "<u8", (count + 1,))
        keys = _member(archive, "entry_keys", "<u8", (count, 2))
        with stamps, offsets, keys:
            if int(_exactly(offsets, 1, "<u8")[0]) != 0:
                raise ArchiveFormatError("offsets do not start at 0")
            for at in range(0, count, size):
                rows = min(size, count - at)
                yield (_exactly(stamps, rows, "<u8"), _exactly(offsets, rows, "<u8"),
                       _exactly(keys, 2 * rows, "<u8").reshape(rows, 2))  # fmt: skip


def old_blocks(path: Path, count: int, shift: int) -> Iterator[np.ndarray]:
    """The previous archive's rows, rebased by ``shift``; its payload is read front to back."""
    previous_end = 0
    last: tuple[int, int, int] | None = None
    for stamps, ends, keys in archive_columns(path, count):
        rows = np.empty(len(stamps), dtype=ROW)
        rows["timestamp"] = stamps + np.uint64(shift)
        rows["session"], rows["entry_id"] = keys[:, 0], keys[:, 1]
        rows["start"][0] = previous_end
        rows["start"][1:] = ends[:-1]
        rows["length"] = ends - rows["start"]
        rows["origin"] = OLD
        previous_end = int(ends[-1])
        if not _ascending(rows, last):
            raise ArchiveFormatError(f"{path.name} is not in (timestamp, session, entry) order")
        last = (int(rows["timestamp"][-1]), int(rows["session"][-1]), int(rows["entry_id"][-1]))
        yield rows


def _ascending(rows: np.ndarray, last: tuple[int, int, int] | None) -> bool:
    keys = [rows[name] for name in ("timestamp", "session", "entry_id")]
    if last is not None:
        keys = [np.concatenate(([value], key)) for value, key in zip(last, keys, strict=True)]
    ahead = np.zeros(len(keys[0]) - 1, dtype=bool)
    tied = np.ones(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        ahead |= tied & (key[1:] > key[:-1])
        tied &= key[1:] == key[:-1]
    return bool(np.all(ahead))


def _count_upto(block: np.ndarray, bound: tuple[int, int, int, int]) -> int:
    """How many leading rows of a sorted block sort at or before ``bound``."""
    stamps = block["timestamp"]
    low = int(np.searchsorted(stamps, np.uint64(bound[0]), side="left"))
    high = int(np.searchsorted(stamps, np.uint64(bound[0]), side="right"))
    if high == low:
        return low
    tie = block[low:high]
    session, entry, origin = tie["session"], tie["entry_id"], tie["origin"]
    upto = (session < bound[1]) | (
        (session == bound[1]) & ((entry < bound[2]) | ((entry == bound[2]) & (origin <= bound[3])))
    )
    return low + int(np.count_nonzero(upto))


def _key(row: Any) -> tuple[int, int, int, int]:
    return (int(row["timestamp"]), int(row["session"]), int(row["entry_id"]), int(row["origin"]))


def merge(streams: list[Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
    """Merge sorted block streams into one sorted block stream, a block of each at a time."""
    heads: list[tuple[np.ndarray, Iterator[np.ndarray]]] = []
    for stream in streams:
        block = next(stream, None)
        if block is not None and len(block):
            heads.append((block, stream))
    if len(heads) == 1:
        yield heads[0][0]
        yield from heads[0][1]
        return
    while heads:
        bound = min(_key(block[-1]) for block, _stream in heads)
        taken: list[np.ndarray] = []
        kept: list[tuple[np.ndarray, Iterator[np.ndarray]]] = []
        for block, stream in heads:
            count = _count_upto(block, bound)
            taken.append(block[:count])
            rest: np.ndarray | None = block[count:]
            while rest is not None and not len(rest):
                rest = next(stream, None)
            if rest is not None:
                kept.append((rest, stream))
        heads = kept
        yield sort_rows(np.concatenate(taken))


@dataclass
class Merged:
    """The archive's rows, unique and in order, with what the merge found on the way."""

    rows: Rows
    added: int  # rows from batch files
    duplicates: int  # batch copies of an entry another batch file also holds
    payload_bytes: int


def unique(blocks: Iterator[np.ndarray], spill: Spill) -> Merged:
    """Keep the first row of each (session, entry_id); store the rest of the stream."""
    kept: list[np.ndarray] = []
    kept_rows = 0
    spilled: Rows | None = None
    last: tuple[int, int, int] | None = None  # session, entry_id, origin of the group's first row
    added = duplicates = payload = 0
    for block in blocks:
        session, entry, origin = block["session"], block["entry_id"], block["origin"]
        repeat = np.empty(len(block), dtype=bool)
        repeat[0] = last is not None and (int(session[0]), int(entry[0])) == last[:2]
        repeat[1:] = (session[1:] == session[:-1]) & (entry[1:] == entry[:-1])
        firsts = np.flatnonzero(~repeat)
        group_origin = np.concatenate(([OLD if last is None else last[2]], origin[firsts]))
        group = np.cumsum(~repeat)  # 0: the group continuing from the previous block
        dropped = group_origin[group[repeat]]
        duplicates += int(np.count_nonzero(dropped != OLD))
        block = block[~repeat]
        if firsts.size:
            index = int(firsts[-1])
            last = (int(session[index]), int(entry[index]), int(origin[index]))
        added += int(np.count_nonzero(block["origin"] != OLD))
        payload += int(block["length"].sum(dtype=np.uint64))
        if spilled is None and kept_rows + len(block) <= ROWS_IN_MEMORY:
            kept.append(block)
            kept_rows += len(block)
            continue
        if spilled is None:
            spilled = spill.append(np.concatenate([*kept, block]))
            kept = []
        else:
            spilled.count += len(spill.append(block))
    rows = spilled or Rows(array=np.concatenate(kept) if kept else np.empty(0, dtype=ROW))
    return Merged(rows, added, duplicates, payload)
