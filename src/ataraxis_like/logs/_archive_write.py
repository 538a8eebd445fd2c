"""Build one source's archive from batch files (and its previous archive), crash-safely.

Entries are put in order by ``_archive_merge`` (bounded memory at any entry count); payload bytes
are copied through small read windows (``_archive_sources``) straight into the archive's payload
member. The archive is
written under a hidden temporary name, fsynced, read back and checked against what was meant,
and only then renamed over the final name.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._files import FILE_MODE, open_new
from ._archive_checksums import ChecksumBuilder, choose_block_entries
from ._archive_layout import (
    ARCHIVE_VERSION,
    ZIP_ERRORS,
    ArchiveFormatError,
    ArchiveHeader,
    archive_name,
    open_member,
    open_payload_stream,
    read_archive_header,
    read_member,
)
from ._archive_merge import (
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
from ._archive_sources import WINDOW, PayloadSources, payload_chunks
from .format import BatchFormatError

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
    file_mode: int = FILE_MODE


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
    except (ArchiveFormatError, *ZIP_ERRORS) as error:
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
            checksums = _write(temporary, job, plan, paths, previous, progress)
            problem = _verify(temporary, job, plan, paths, previous, checksums)
            if problem is not None:
                temporary.unlink(missing_ok=True)
                return _kept(job, problem)
            os.replace(temporary, final)
            _fsync_directory(job.directory)
        except (ArchiveFormatError, *ZIP_ERRORS) as error:  # the previous archive, mid-read
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


def _offset_chunks(rows: Rows, checksums: ChecksumBuilder) -> Iterator[np.ndarray]:
    """The offsets member's bytes; the index checksums are computed on the way."""
    yield _as_bytes(np.zeros(1, dtype=np.uint64))
    for block, ends in _block_ends(rows):
        checksums.add_index(block["timestamp"], ends)
        yield _as_bytes(ends)
    checksums.finish_index()


def _write(
    temporary: Path, job: SourceJob, plan: Plan, paths: list[Path],
    old_archive: Path | None, progress: Progress | None,
) -> np.ndarray:  # fmt: skip
    """Write the archive's members in file order; returns the checksums it wrote."""
    method = zipfile.ZIP_DEFLATED if job.compress else zipfile.ZIP_STORED
    rows, count = plan.merged.rows, len(plan.merged.rows)
    block_entries = choose_block_entries(count, plan.merged.payload_bytes)
    checksums = ChecksumBuilder(count, block_entries)
    sessions = np.array(sorted(plan.sessions.items()), dtype=np.int64).reshape(-1, 2)
    small: dict[str, np.ndarray] = {
        "format_version": np.array(ARCHIVE_VERSION, dtype=np.uint32),
        "source_id": np.array(job.source_id, dtype=np.uint8),
        "onset_us": np.array(plan.onset_us, dtype=np.int64),
        "sessions": sessions,
        "block_entries": np.array(block_entries, dtype=np.uint32),
    }
    columns: list[tuple[str, tuple[int, ...], Iterator[np.ndarray]]] = [
        ("timestamps", (count,), (_as_bytes(b["timestamp"]) for b in rows.blocks())),
        ("offsets", (count + 1,), _offset_chunks(rows, checksums)),
        ("entry_keys", (count, 2),
         (_as_bytes(np.stack((b["session"], b["entry_id"]), axis=1)) for b in rows.blocks())),
    ]  # fmt: skip
    uint64 = np.dtype(np.uint64)
    sources = PayloadSources(paths, old_archive)
    try:
        with open_new(temporary, job.file_mode) as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
                for name, array in small.items():
                    _write_member(archive, name, array.dtype, array.shape, _pieces(array), method)
                for name, shape, chunks in columns:
                    _write_member(archive, name, uint64, shape, chunks, method)
                chunks = checksums.tap(payload_chunks(rows.blocks(), sources))
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
                sums = checksums.checksums
                _write_member(archive, "checksums", sums.dtype, sums.shape, _pieces(sums), method)
            raw.flush()
            os.fsync(raw.fileno())
    finally:
        sources.close()
    return checksums.checksums


def _pieces(data: np.ndarray) -> Iterator[np.ndarray]:
    flat = _as_bytes(data)
    for at in range(0, len(flat), WINDOW):
        yield flat[at : at + WINDOW]


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if len(first):
        yield first
    yield from rest


def _verify(
    temporary: Path, job: SourceJob, plan: Plan, paths: list[Path], old_archive: Path | None,
    checksums: np.ndarray,
) -> str | None:  # fmt: skip
    """Read the written archive back; None when it holds exactly the plan, else what differs."""
    rows = plan.merged.rows
    try:
        header = read_archive_header(temporary)
        with zipfile.ZipFile(temporary) as archive:
            handle, shape, dtype = open_member(archive, "payload")
            handle.close()
            written_checksums = read_member(archive, "checksums")
        if (
            not np.array_equal(written_checksums, checksums)
            or (header.format, header.source_id, header.onset_us, header.count)
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
    except (ArchiveFormatError, *ZIP_ERRORS) as error:
        return f"{temporary.name} failed verification ({error}); sources kept"
    return None


def _compare_payload(
    temporary: Path, rows: Rows, paths: list[Path], old_archive: Path | None
) -> str | None:
    sources = PayloadSources(paths, old_archive)
    try:
        with zipfile.ZipFile(temporary) as archive, open_payload_stream(archive) as stream:
            position = 0
            for chunk in payload_chunks(rows.blocks(), sources):
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
