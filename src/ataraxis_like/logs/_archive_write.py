"""Build one source's archive from batch files (and its previous archive), crash-safely.

Only index tables are held in memory (about 50 bytes per entry of the source); payload bytes
are copied through small read windows straight into the archive's payload member, so memory
stays bounded however large the log is. The archive is written under a hidden temporary name,
fsynced, read back and checked, and only then renamed over the final name.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .format import BATCH_HEADER, BATCH_MAGIC, BATCH_VERSION, INDEX_DTYPE, BatchFormatError
from .reader import (
    ARCHIVE_VERSION,
    ArchiveFormatError,
    LogArchiveReader,
    archive_name,
    open_payload_stream,
    read_member,
)

WINDOW = 4 << 20  # bytes read at once from a batch file for small entries
LARGE = 1 << 20  # entries (runs) at least this long are streamed, not buffered
_OPEN_FILES = 64
_WINDOWS = 8
_ALIGN_EXTRA_ID = 0xD935  # the zipalign padding field: readers skip unknown extra fields
_OLD = -1  # origin of entries that come from the previous archive
Progress = Callable[[int], None]


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
class SourceJob:
    """What to archive for one source: the batch files that hold its entries."""

    directory: Path
    source_id: int
    batches: tuple[Path, ...]
    compress: bool
    verify_integrity: bool


@dataclass(frozen=True)
class SourceOutcome:
    """What became of one source. ``problem`` set means nothing changed and sources stay."""

    source_id: int
    archive: Path | None
    added: int = 0
    total: int = 0
    duplicates: int = 0
    payload_bytes: int = 0
    problem: str | None = None


@dataclass
class _Plan:
    """The archive to write: per-entry arrays in final order and where each payload comes from."""

    onset_us: int
    sessions: dict[int, int]
    timestamps: np.ndarray
    lengths: np.ndarray
    keys: np.ndarray
    origins: np.ndarray  # batch file number, or _OLD
    starts: np.ndarray  # file offset in the batch, or offset in the old archive's payload
    added: int
    duplicates: int


def build_archive(job: SourceJob, progress: Progress | None = None) -> SourceOutcome:
    """Write (or merge into) ``<source_id>_log.npz`` for one source; see the module docstring."""
    final = job.directory / archive_name(job.source_id)
    temporary = job.directory / f".{final.name}.tmp"
    old: LogArchiveReader | None = None
    if final.exists():
        try:
            old = LogArchiveReader(final)
        except ArchiveFormatError as error:
            return _kept(job, f"{error}")
        if old.format != "packed":
            return _kept(
                job,
                f"{final.name} was written by the reference library and cannot take new entries; "
                "move it aside (LogArchiveReader still reads it) and run again",
            )
    try:
        batches = [scan_batch(path) for path in job.batches]
    except BatchFormatError as error:
        return _kept(job, f"{error} (the file changed during compression)")
    plan = plan_source(job, batches, old, final)
    if isinstance(plan, str):
        return _kept(job, plan)
    if plan.added == 0 and old is not None:
        return SourceOutcome(job.source_id, final, 0, len(old), plan.duplicates, 0)
    try:
        _write(temporary, job, plan, batches, final if old is not None else None, progress)
        problem = _verify(temporary, job, plan, batches, final if old is not None else None)
        if problem is not None:
            temporary.unlink(missing_ok=True)
            return _kept(job, problem)
        os.replace(temporary, final)
        _fsync_directory(job.directory)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    payload = int(plan.lengths.sum(dtype=np.uint64))
    return SourceOutcome(
        job.source_id, final, plan.added, len(plan.timestamps), plan.duplicates, payload
    )


def _kept(job: SourceJob, why: str) -> SourceOutcome:
    return SourceOutcome(job.source_id, None, problem=why)


def plan_source(
    job: SourceJob, batches: list[BatchInfo], old: LogArchiveReader | None, final: Path
) -> _Plan | str:
    """Select the source's entries, drop copies, rebase timestamps and order everything."""
    columns: list[list[np.ndarray]] = [[], [], [], [], [], []]
    sessions: dict[int, int] = {} if old is None else dict(old.sessions)
    for number, batch in enumerate(batches):
        index = batch.index
        lengths = index["length"].astype(np.uint64)
        starts = np.cumsum(lengths) - lengths + np.uint64(batch.payload_at)
        mask = index["source_id"] == job.source_id
        count = int(np.count_nonzero(mask))
        sessions.setdefault(batch.session, batch.onset_us)
        for column, values in zip(columns, (
            index["timestamp"][mask], np.full(count, batch.session, np.uint64),
            index["entry_id"][mask], lengths[mask], np.full(count, number, np.int64),
            starts[mask],
        ), strict=True):  # fmt: skip
            column.append(values)
    stamps, session_ids, entry_ids, lengths, origins, starts = (
        np.concatenate(column) for column in columns
    )
    onset = min([*sessions.values(), *([] if old is None else [old.onset_us or 0])])
    shifts = np.array([batch.onset_us - onset for batch in batches], dtype=np.uint64)
    if stamps.size and int(stamps.max()) + int(shifts[origins].max()) >= 2**64:
        return "timestamps overflow 64 bits once rebased to the earliest session's onset"
    stamps = stamps + shifts[origins]
    old_count = 0 if old is None else len(old)
    if old is not None:
        with zipfile.ZipFile(final) as archive:
            old_keys = read_member(archive, "entry_keys").astype(np.uint64).reshape(-1, 2)
        old_shift = np.uint64((old.onset_us or 0) - onset)
        stamps = np.concatenate((old.timestamps + old_shift, stamps))
        session_ids = np.concatenate((old_keys[:, 0], session_ids))
        entry_ids = np.concatenate((old_keys[:, 1], entry_ids))
        lengths = np.concatenate((np.diff(old.offsets), lengths))
        origins = np.concatenate((np.full(old_count, _OLD, np.int64), origins))
        starts = np.concatenate((old.offsets[:-1], starts))
    keep = _first_copies(session_ids, entry_ids)
    copies = _first_copies(session_ids[old_count:], entry_ids[old_count:])
    duplicates = int(copies.size - np.count_nonzero(copies))
    new_order = np.flatnonzero(keep[old_count:]) + old_count
    new_order = new_order[
        np.lexsort((entry_ids[new_order], session_ids[new_order], stamps[new_order]))
    ]
    order = np.concatenate((np.arange(old_count), new_order))
    if old_count:
        order = order[np.argsort(stamps[order], kind="stable")]
    keys = np.stack((session_ids[order], entry_ids[order]), axis=1)
    return _Plan(
        onset, sessions, stamps[order], lengths[order], keys, origins[order], starts[order],
        int(new_order.size), duplicates,
    )  # fmt: skip


def _first_copies(sessions: np.ndarray, entry_ids: np.ndarray) -> np.ndarray:
    """True for the first occurrence of each (session, entry_id); later copies are False."""
    order = np.lexsort((np.arange(sessions.size), entry_ids, sessions))
    repeated = np.zeros(sessions.size, dtype=bool)
    repeated[1:] = (sessions[order][1:] == sessions[order][:-1]) & (
        entry_ids[order][1:] == entry_ids[order][:-1]
    )
    keep = np.ones(sessions.size, dtype=bool)
    keep[order[repeated]] = False
    return keep


class _Sources:
    """Serves payload bytes from batch files (pread through a few cached windows) and from the
    previous archive's payload, which is only ever read front to back."""

    def __init__(self, batches: list[BatchInfo], old_archive: Path | None) -> None:
        self._paths = [batch.path for batch in batches]
        self._files: OrderedDict[int, int] = OrderedDict()
        self._windows: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._old_zip = zipfile.ZipFile(old_archive) if old_archive is not None else None
        self._old: IO[bytes] | None = None
        self._old_position = 0
        if self._old_zip is not None:
            self._old = open_payload_stream(self._old_zip)

    def _descriptor(self, origin: int) -> int:
        descriptor = self._files.get(origin)
        if descriptor is None:
            descriptor = os.open(self._paths[origin], os.O_RDONLY)
            self._files[origin] = descriptor
            if len(self._files) > _OPEN_FILES:
                os.close(self._files.popitem(last=False)[1])
        else:
            self._files.move_to_end(origin)
        return descriptor

    def _pread(self, origin: int, size: int, start: int, needed: int) -> bytes:
        data = os.pread(self._descriptor(origin), size, start)
        if len(data) < needed:
            raise BatchFormatError(f"{self._paths[origin].name}: shrank during compression")
        return data

    def _old_read(self, start: int, length: int) -> bytes:
        assert self._old is not None, "no previous archive to read from"
        assert start == self._old_position, "previous archive read out of order"
        data = self._old.read(length)
        if len(data) != length:
            raise ArchiveFormatError("the previous archive's payload ends early")
        self._old_position += length
        return data

    def small(self, origin: int, start: int, length: int) -> memoryview | bytes:
        if origin == _OLD:
            return self._old_read(start, length)
        window = self._windows.get(origin)
        if window is None or start < window[0] or start + length > window[0] + len(window[1]):
            window = (start, self._pread(origin, max(WINDOW, length), start, length))
            self._windows[origin] = window
            if len(self._windows) > _WINDOWS:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(origin)
        at = start - window[0]
        return memoryview(window[1])[at : at + length]

    def large(self, origin: int, start: int, length: int) -> Iterator[bytes]:
        while length > 0:
            size = min(length, WINDOW)
            if origin == _OLD:
                yield self._old_read(start, size)
            else:
                yield self._pread(origin, size, start, size)
            start += size
            length -= size

    def close(self) -> None:
        for descriptor in self._files.values():
            os.close(descriptor)
        self._files.clear()
        if self._old is not None:
            self._old.close()
        if self._old_zip is not None:
            self._old_zip.close()


def _payload_chunks(plan: _Plan, sources: _Sources) -> Iterator[Any]:
    """The payload bytes in archive order, as chunks; adjacent entries are copied as one run."""
    count = plan.lengths.size
    if count == 0:
        return
    starts_run = np.ones(count, dtype=bool)
    starts_run[1:] = (plan.origins[1:] != plan.origins[:-1]) | (
        plan.starts[1:] != plan.starts[:-1] + plan.lengths[:-1]
    )
    firsts = np.flatnonzero(starts_run)
    run_lengths = np.add.reduceat(plan.lengths, firsts)
    pending = bytearray()
    for at in range(0, firsts.size, 65536):
        chunk = firsts[at : at + 65536]
        for origin, start, length in zip(
            plan.origins[chunk].tolist(), plan.starts[chunk].tolist(),
            run_lengths[at : at + 65536].tolist(), strict=True,
        ):  # fmt: skip
            if length >= LARGE:
                if pending:
                    yield pending
                    pending = bytearray()
                yield from sources.large(origin, start, length)
            else:
                pending += sources.small(origin, start, length)
                if len(pending) >= WINDOW:
                    yield pending
                    pending = bytearray()
    if pending:
        yield pending


def _member_info(archive: zipfile.ZipFile, name: str, method: int) -> zipfile.ZipInfo:
    """A member whose data (after a 64-byte-multiple npy header) starts 64-byte aligned."""
    info = zipfile.ZipInfo(f"{name}.npy")
    info.compress_type = method
    info.external_attr = 0o644 << 16
    data_at = archive.start_dir + 30 + len(info.filename.encode()) + 20 + 6  # zip64 + our field
    padding = (-data_at) % 64
    info.extra = struct.pack("<HHH", _ALIGN_EXTRA_ID, 2 + padding, 64) + bytes(padding)
    setattr(info, "_compresslevel", 1)  # noqa: B010 (zipfile reads this private field)
    return info


def _write_member(
    archive: zipfile.ZipFile, name: str, dtype: np.dtype[Any], shape: tuple[int, ...],
    chunks: Iterator[Any], method: int, progress: Progress | None = None,
) -> int:  # fmt: skip
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": shape}  # fmt: skip
    written = 0
    with archive.open(_member_info(archive, name, method), "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        for chunk in chunks:
            member.write(chunk)
            written += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return written


def _incompressible(first: Any) -> bool:
    """Deflating a 256 KiB sample saved under 5%: storing the payload is as good and far faster."""
    sample = bytes(memoryview(first)[: 256 << 10])
    return len(sample) >= 4096 and len(zlib.compress(sample, 1)) > 0.95 * len(sample)


def _write(
    temporary: Path, job: SourceJob, plan: _Plan, batches: list[BatchInfo],
    old_archive: Path | None, progress: Progress | None,
) -> None:  # fmt: skip
    method = zipfile.ZIP_DEFLATED if job.compress else zipfile.ZIP_STORED
    offsets = np.zeros(plan.lengths.size + 1, dtype=np.uint64)
    np.cumsum(plan.lengths, out=offsets[1:])
    sessions = np.array(sorted(plan.sessions.items()), dtype=np.int64).reshape(-1, 2)
    small: dict[str, np.ndarray] = {
        "format_version": np.array(ARCHIVE_VERSION, dtype=np.uint32),
        "source_id": np.array(job.source_id, dtype=np.uint8),
        "onset_us": np.array(plan.onset_us, dtype=np.int64),
        "sessions": sessions,
        "timestamps": plan.timestamps.astype(np.uint64),
        "offsets": offsets,
        "entry_keys": plan.keys.astype(np.uint64),
    }
    sources = _Sources(batches, old_archive)
    try:
        with open(temporary, "wb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
                for name, array in small.items():
                    data = _pieces(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
                    _write_member(archive, name, array.dtype, array.shape, data, method)
                chunks = _payload_chunks(plan, sources)
                first = next(chunks, b"")
                payload_method = method
                if job.compress and _incompressible(first):
                    payload_method = zipfile.ZIP_STORED
                written = _write_member(
                    archive, "payload", np.dtype(np.uint8), (int(offsets[-1]),),
                    _prepend(first, chunks), payload_method, progress,
                )  # fmt: skip
                if written != int(offsets[-1]):
                    raise BatchFormatError(f"payload came out {written} bytes, not {offsets[-1]}")
            raw.flush()
            os.fsync(raw.fileno())
    finally:
        sources.close()


def _pieces(data: np.ndarray) -> Iterator[memoryview]:
    view = data.data
    for at in range(0, len(view), WINDOW):
        yield view[at : at + WINDOW]


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if len(first):
        yield first
    yield from rest


def _verify(
    temporary: Path, job: SourceJob, plan: _Plan, batches: list[BatchInfo],
    old_archive: Path | None,
) -> str | None:  # fmt: skip
    """Read the written archive back; None when it holds exactly the plan, else what differs."""
    try:
        written = LogArchiveReader(temporary)
        with zipfile.ZipFile(temporary) as archive:
            keys = read_member(archive, "entry_keys")
        if (
            written.source_id != job.source_id
            or written.onset_us != plan.onset_us
            or not np.array_equal(written.timestamps, plan.timestamps)
            or not np.array_equal(np.diff(written.offsets), plan.lengths)
            or not np.array_equal(keys, plan.keys)
        ):
            return f"{temporary.name} did not read back as written; sources kept"
        if job.verify_integrity:
            return _compare_payload(temporary, plan, batches, old_archive)
    except (ArchiveFormatError, zipfile.BadZipFile) as error:
        return f"{temporary.name} failed verification ({error}); sources kept"
    return None


def _compare_payload(
    temporary: Path, plan: _Plan, batches: list[BatchInfo], old_archive: Path | None
) -> str | None:
    sources = _Sources(batches, old_archive)
    try:
        with zipfile.ZipFile(temporary) as archive, open_payload_stream(archive) as stream:
            position = 0
            for chunk in _payload_chunks(plan, sources):
                if stream.read(len(chunk)) != chunk:
                    return f"payload differs from the sources near byte {position}; sources kept"
                position += len(chunk)
            if stream.read(1):
                return "payload is longer than its sources; sources kept"
    finally:
        sources.close()
    return None


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
