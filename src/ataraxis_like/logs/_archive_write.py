"""Build one source's archive from batch files (and its previous archive), crash-safely.

Entries are put in order by ``_archive_merge`` (bounded memory at any entry count); payload bytes
are copied through small read windows straight into the archive's payload member. The archive is
written under a hidden temporary name, fsynced, read back and checked against what was meant,
and only then renamed over the final name.
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

from ._archive_layout import (
    ARCHIVE_VERSION,
    ArchiveFormatError,
    ArchiveHeader,
    archive_name,
    open_member,
    open_payload_stream,
    read_archive_header,
)
from ._archive_merge import (
    OLD,
    BatchRef,
    Merged,
    Rows,
    Spill,
    archive_columns,
    collect_runs,
    merge,
    old_blocks,
    unique,
)
from .format import BatchFormatError

WINDOW = 4 << 20  # bytes read at once from a batch file for small entries
LARGE = 1 << 20  # entries (runs) at least this long are streamed, not buffered
_OPEN_FILES = 64
_WINDOWS = 8
_ALIGN_EXTRA_ID = 0xD935  # the zipalign padding field: readers skip unknown extra fields
Progress = Callable[[int], None]


@dataclass(frozen=True)
class SourceJob:
    """What to archive for one source: the batch files that hold its entries."""

    directory: Path
    source_id: int
    batches: tuple[BatchRef, ...]
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


@dataclass(frozen=True)
class Plan:
    """The archive to write: its onset, sessions and rows in order."""

    onset_us: int
    sessions: dict[int, int]
    merged: Merged


def open_previous(final: Path) -> tuple[ArchiveHeader | None, str | None]:
    """The source's existing archive, or why new entries cannot be merged into it (a reference
    library's archive comes with its header as well as the reason)."""
    if not final.exists():
        return None, None
    try:
        header = read_archive_header(final)
    except ArchiveFormatError as error:
        return None, f"{error}; it is left as is, and so are the batch files"
    if header.format != "packed":
        return header, (
            f"{final.name} was written by the reference library and cannot take new entries; "
            "move it aside (LogArchiveReader still reads it) and run again"
        )
    return header, None


def plan_source(job: SourceJob, old: ArchiveHeader | None, final: Path, spill: Spill) -> Plan | str:
    """Sort and deduplicate the source's entries (with the previous archive's), or say why not."""
    sessions = {} if old is None else dict(old.sessions)
    for ref in job.batches:
        sessions.setdefault(ref.session, ref.onset_us)
    onsets = [*sessions.values(), *([] if old is None or old.onset_us is None else [old.onset_us])]
    onset = min(onsets)
    try:
        runs = collect_runs(job.source_id, job.batches, onset, spill)
        streams = [run.blocks() for run in runs]
        if old is not None:
            streams.append(old_blocks(final, old.count, (old.onset_us or 0) - onset))
        merged = unique(merge(streams), spill)
    except (ArchiveFormatError, zipfile.BadZipFile) as error:
        return _previous_problem(final, error)
    except BatchFormatError as error:
        return str(error)
    return Plan(onset, sessions, merged)


def _previous_problem(final: Path, error: Exception) -> str:
    return f"{final.name}: {error}; it is left as is, and so are the batch files"


def build_archive(job: SourceJob, progress: Progress | None = None) -> SourceOutcome:
    """Write (or merge into) ``<source_id>_log.npz`` for one source; see the module docstring."""
    final = job.directory / archive_name(job.source_id)
    temporary = job.directory / f".{final.name}.tmp"
    old, problem = open_previous(final)
    if problem is not None:
        return _kept(job, problem)
    spill = Spill(job.directory / f".{final.name}.sort.tmp")
    try:
        plan = plan_source(job, old, final, spill)
        if isinstance(plan, str):
            return _kept(job, plan)
        merged = plan.merged
        if merged.added == 0 and old is not None:
            return SourceOutcome(job.source_id, final, 0, old.count, merged.duplicates, 0)
        previous = final if old is not None else None
        paths = [ref.path for ref in job.batches]
        try:
            _write(temporary, job, plan, paths, previous, progress)
            problem = _verify(temporary, job, plan, paths, previous)
            if problem is not None:
                temporary.unlink(missing_ok=True)
                return _kept(job, problem)
            os.replace(temporary, final)
            _fsync_directory(job.directory)
        except (ArchiveFormatError, zipfile.BadZipFile) as error:  # the previous archive, mid-read
            temporary.unlink(missing_ok=True)
            return _kept(job, _previous_problem(final, error))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    finally:
        spill.close()
    return SourceOutcome(
        job.source_id, final, merged.added, len(merged.rows), merged.duplicates,
        merged.payload_bytes,
    )  # fmt: skip


def _kept(job: SourceJob, why: str) -> SourceOutcome:
    return SourceOutcome(job.source_id, None, problem=why)


class _Sources:
    """Serves payload bytes from batch files (pread through a few cached windows) and from the
    previous archive's payload, which is only ever read front to back."""

    def __init__(self, paths: list[Path], old_archive: Path | None) -> None:
        self._paths = paths
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
        if origin == OLD:
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
            if origin == OLD:
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


def _payload_chunks(blocks: Iterator[np.ndarray], sources: _Sources) -> Iterator[Any]:
    """The payload bytes in archive order, as chunks; adjacent entries are copied as one run."""
    pending = bytearray()
    for block in blocks:
        origins, starts, lengths = block["origin"], block["start"], block["length"]
        starts_run = np.ones(len(block), dtype=bool)
        starts_run[1:] = (origins[1:] != origins[:-1]) | (starts[1:] != starts[:-1] + lengths[:-1])
        firsts = np.flatnonzero(starts_run)
        run_lengths = np.add.reduceat(lengths.astype(np.uint64), firsts)
        for origin, start, length in zip(
            origins[firsts].tolist(), starts[firsts].tolist(), run_lengths.tolist(), strict=True
        ):
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


def _as_bytes(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _block_ends(rows: Rows) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each block of rows with its entries' payload end offsets (offsets[i + 1]), in order."""
    end = np.uint64(0)
    for block in rows.blocks():
        ends = np.cumsum(block["length"], dtype=np.uint64) + end
        end = ends[-1]
        yield block, ends


def _offset_chunks(rows: Rows) -> Iterator[np.ndarray]:
    yield _as_bytes(np.zeros(1, dtype=np.uint64))
    for _block, ends in _block_ends(rows):
        yield _as_bytes(ends)


def _write(
    temporary: Path, job: SourceJob, plan: Plan, paths: list[Path],
    old_archive: Path | None, progress: Progress | None,
) -> None:  # fmt: skip
    method = zipfile.ZIP_DEFLATED if job.compress else zipfile.ZIP_STORED
    rows, count = plan.merged.rows, len(plan.merged.rows)
    sessions = np.array(sorted(plan.sessions.items()), dtype=np.int64).reshape(-1, 2)
    small: dict[str, np.ndarray] = {
        "format_version": np.array(ARCHIVE_VERSION, dtype=np.uint32),
        "source_id": np.array(job.source_id, dtype=np.uint8),
        "onset_us": np.array(plan.onset_us, dtype=np.int64),
        "sessions": sessions,
    }
    columns: list[tuple[str, tuple[int, ...], Iterator[np.ndarray]]] = [
        ("timestamps", (count,), (_as_bytes(b["timestamp"]) for b in rows.blocks())),
        ("offsets", (count + 1,), _offset_chunks(rows)),
        ("entry_keys", (count, 2),
         (_as_bytes(np.stack((b["session"], b["entry_id"]), axis=1)) for b in rows.blocks())),
    ]  # fmt: skip
    uint64 = np.dtype(np.uint64)
    sources = _Sources(paths, old_archive)
    try:
        with open(temporary, "wb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
                for name, array in small.items():
                    _write_member(archive, name, array.dtype, array.shape, _pieces(array), method)
                for name, shape, chunks in columns:
                    _write_member(archive, name, uint64, shape, chunks, method)
                chunks = _payload_chunks(rows.blocks(), sources)
                first = next(chunks, b"")
                payload_method = method
                if job.compress and _incompressible(first):
                    payload_method = zipfile.ZIP_STORED
                written = _write_member(
                    archive, "payload", np.dtype(np.uint8), (plan.merged.payload_bytes,),
                    _prepend(first, chunks), payload_method, progress,
                )  # fmt: skip
                if written != plan.merged.payload_bytes:
                    raise BatchFormatError(
                        f"payload came out {written} bytes, not {plan.merged.payload_bytes}"
                    )
            raw.flush()
            os.fsync(raw.fileno())
    finally:
        sources.close()


def _pieces(data: np.ndarray) -> Iterator[np.ndarray]:
    flat = _as_bytes(data)
    for at in range(0, len(flat), WINDOW):
        yield flat[at : at + WINDOW]


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if len(first):
        yield first
    yield from rest


def _verify(
    temporary: Path, job: SourceJob, plan: Plan, paths: list[Path], old_archive: Path | None
) -> str | None:
    """Read the written archive back; None when it holds exactly the plan, else what differs."""
    rows = plan.merged.rows
    try:
        header = read_archive_header(temporary)
        with zipfile.ZipFile(temporary) as archive:
            handle, shape, dtype = open_member(archive, "payload")
            handle.close()
        if (
            (header.format, header.source_id, header.onset_us, header.count)
            != ("packed", job.source_id, plan.onset_us, len(rows))
            or header.sessions != plan.sessions
            or (shape, dtype) != ((plan.merged.payload_bytes,), np.dtype(np.uint8))
        ):
            return f"{temporary.name} did not read back as written; sources kept"
        for (block, expected_ends), (stamps, ends, keys) in zip(
            _block_ends(rows), archive_columns(temporary, len(rows)), strict=True
        ):
            if not (
                np.array_equal(stamps, block["timestamp"])
                and np.array_equal(ends, expected_ends)
                and np.array_equal(keys[:, 0], block["session"])
                and np.array_equal(keys[:, 1], block["entry_id"])
            ):
                return f"{temporary.name} did not read back as written; sources kept"
        if job.verify_integrity:
            return _compare_payload(temporary, rows, paths, old_archive)
    except (ArchiveFormatError, zipfile.BadZipFile) as error:
        return f"{temporary.name} failed verification ({error}); sources kept"
    return None


def _compare_payload(
    temporary: Path, rows: Rows, paths: list[Path], old_archive: Path | None
) -> str | None:
    sources = _Sources(paths, old_archive)
    try:
        with zipfile.ZipFile(temporary) as archive, open_payload_stream(archive) as stream:
            position = 0
            for chunk in _payload_chunks(rows.blocks(), sources):
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
