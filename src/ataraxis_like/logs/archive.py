"""compress_npy_logs: turn a logger's batch files into one archive per source, safely.

Each source's archive is written under a temporary name, checked and renamed into place; batch
files are deleted (with ``remove_sources``) only once every source they hold is in a verified
archive. A kill at any moment loses nothing and a rerun finishes the job: leftovers are removed,
entries already archived are recognised by their (session, entry id) key, and new entries are
merged into the existing archive. Files that are not batches or archives are reported, never
touched. Layouts: docs/formats.md.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from .._exit_codes import progress_stream
from .._files import FILE_MODE, check_file_mode
from ..errors import AtaraxisError
from ._archive_layout import (
    ARCHIVE_TEMPORARY,
    REFERENCE_MEMBER,
    ArchiveHeader,
    discover_log_archives,
)
from ._archive_merge import BatchRef, Spill, scan_batch
from ._archive_write import (
    SourceJob,
    SourceOutcome,
    build_archive,
    open_previous,
    plan_source,
)
from .format import BATCH_PREFIX, BatchFormatError
from .reader import LogArchiveReader

LOCK_NAME = ".compress.lock"


class LogDirectoryError(AtaraxisError, FileNotFoundError):
    """The log directory to compress or inspect does not exist."""


class CompressionBusyError(AtaraxisError, BlockingIOError):
    """Another compression is running in the same directory."""


class LogCompressionError(AtaraxisError, OSError):
    """Some sources could not be archived (for example a full disk); their batch files remain."""


class CompressionResult(dict[int, Path]):
    """``{source_id: archive path}`` for every archive in the directory after the run, plus:

    ``problems`` (file name or "source N" -> why it was left alone), ``added`` (source -> new
    entries this run), ``duplicates`` (batch copies of an entry dropped), ``removed`` (batch files
    deleted), ``payload_bytes`` (payload held by the archives written this run), ``seconds``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.problems: dict[str, str] = {}
        self.added: dict[int, int] = {}
        self.duplicates = 0
        self.removed: list[str] = []
        self.payload_bytes = 0
        self.seconds = 0.0


@dataclass(frozen=True)
class BatchSummary:
    """A valid batch file: its header's session and onset, and payload bytes per source."""

    ref: BatchRef
    sources: dict[int, int]


@dataclass
class DirectoryScan:
    """What a log directory holds: valid batch files and their sources, archives, problems."""

    batches: dict[Path, BatchSummary] = field(default_factory=dict)
    archives: dict[int, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def sources(self) -> dict[int, list[BatchRef]]:
        """Batch files per source, in name order (session, then sequence)."""
        found: dict[int, list[BatchRef]] = {}
        for summary in self.batches.values():
            for source in summary.sources:
                found.setdefault(source, []).append(summary.ref)
        return dict(sorted(found.items()))


def _require_directory(directory: Path) -> None:
    if not directory.is_dir():
        raise LogDirectoryError(
            f"log directory {directory} does not exist or is not a directory; pass the "
            "logger's output directory (<output_directory>/<name>_data_log)",
            directory=str(directory),
        )


def scan_directory(directory: Path | str) -> DirectoryScan:
    """Classify every visible file in ``directory``; reads only batch headers and indexes."""
    directory = Path(directory)
    _require_directory(directory)
    scan = DirectoryScan(archives=discover_log_archives(directory))
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.startswith(".") or path in scan.archives.values() or not path.is_file():
            continue
        if name.startswith(BATCH_PREFIX) and name.endswith(".npy"):
            try:
                batch = scan_batch(path)
            except BatchFormatError as error:
                scan.problems[name] = str(error).removeprefix(f"{name}: ")
                continue
            index = batch.index
            sizes = np.bincount(index["source_id"], weights=index["length"], minlength=256)
            present = np.unique(index["source_id"]).tolist()
            scan.batches[path] = BatchSummary(
                BatchRef(path, batch.session, batch.onset_us),
                {source: int(sizes[source]) for source in present},
            )
        elif REFERENCE_MEMBER.match(name):
            scan.problems[name] = "a reference-library entry file, not a batch; left in place"
        else:
            scan.problems[name] = "neither a logger batch file nor a log archive; left in place"
    return scan


def compress_npy_logs(
    log_directory: Path | str,
    remove_sources: bool = False,
    memory_mapping: bool = False,
    verbose: bool = False,
    compress: bool = True,
    verify_integrity: bool = False,
    max_workers: int | None = None,
    *,
    file_mode: int = FILE_MODE,
) -> CompressionResult:
    """Build or update ``<source_id>_log.npz`` for every source in ``log_directory``.

    ``compress`` deflates the archive (a payload that does not shrink is stored as is);
    ``verify_integrity`` compares every archived byte with its source before anything is
    deleted; ``remove_sources`` deletes batch files whose sources are all archived. Sources are
    processed by up to ``max_workers`` threads (default: one per source, at most one per CPU).
    ``memory_mapping`` is accepted for compatibility with the reference library and unused:
    sources are always read through small windows, so memory stays bounded. New archives and
    the lock file get ``file_mode`` (owner-only by default, docs/files.md). ``verbose`` prints a
    summary, and a progress line while stderr is a terminal.
    Raises LogCompressionError after the run when a source could not be written.
    """
    del memory_mapping
    check_file_mode(file_mode)
    directory = Path(log_directory)
    _require_directory(directory)
    lock = FileLock(str(directory / LOCK_NAME), mode=file_mode)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CompressionBusyError(
            f"another compression is running in {directory}; wait for it to finish",
            directory=str(directory),
        ) from None
    try:
        return _compress(directory, remove_sources, verbose, compress, verify_integrity,
                         max_workers, file_mode)  # fmt: skip
    finally:
        lock.release()


def assemble_log_archives(
    log_directory: Path | str,
    max_workers: int | None = None,
    *,
    remove_sources: bool = True,
    memory_mapping: bool = True,
    verbose: bool = False,
    verify_integrity: bool = False,
) -> CompressionResult:
    """``compress_npy_logs`` under its ataraxis-data-structures 4.x name, order and defaults
    (batch files are removed once archived, unless ``remove_sources=False``)."""
    return compress_npy_logs(
        log_directory,
        remove_sources=remove_sources,
        memory_mapping=memory_mapping,
        verbose=verbose,
        verify_integrity=verify_integrity,
        max_workers=max_workers,
    )


def _compress(
    directory: Path, remove_sources: bool, verbose: bool, compress: bool,
    verify_integrity: bool, max_workers: int | None, file_mode: int,
) -> CompressionResult:  # fmt: skip
    started = time.monotonic()
    for leftover in directory.iterdir():
        if ARCHIVE_TEMPORARY.match(leftover.name):
            leftover.unlink(missing_ok=True)  # an earlier run was killed while writing it
    scan = scan_directory(directory)
    sources = scan.sources()
    jobs = [
        SourceJob(directory, source, tuple(refs), compress, verify_integrity, file_mode)
        for source, refs in sources.items()
    ]
    weight = {source: sum(scan.batches[ref.path].sources[source] for ref in refs)
              for source, refs in sources.items()}  # fmt: skip
    jobs.sort(key=lambda job: -weight[job.source_id])
    workers = min(len(jobs), os.cpu_count() or 1) if max_workers is None else max_workers
    progress = _Progress(sum(weight.values()), verbose and progress_stream() is not None)
    outcomes: list[SourceOutcome] = []
    failures: dict[int, BaseException] = {}
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                _run(job, progress, outcomes, failures)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for job in jobs:
                    pool.submit(_run, job, progress, outcomes, failures)
    finally:
        progress.close()
    result = CompressionResult()
    result.problems.update(scan.problems)
    archived = set()
    for outcome in sorted(outcomes, key=lambda outcome: outcome.source_id):
        if outcome.problem is not None:
            result.problems[f"source {outcome.source_id}"] = outcome.problem
            continue
        archived.add(outcome.source_id)
        result.added[outcome.source_id] = outcome.added
        result.duplicates += outcome.duplicates
        result.payload_bytes += outcome.payload_bytes
    if remove_sources:
        for path, batch in scan.batches.items():
            if archived.issuperset(batch.sources):
                path.unlink(missing_ok=True)
                result.removed.append(path.name)
    result.update(discover_log_archives(directory))
    result.seconds = time.monotonic() - started
    if verbose:
        print(summary(result))
    if failures:
        source, error = next(iter(sorted(failures.items())))
        raise LogCompressionError(
            f"could not archive source(s) {sorted(failures)} in {directory} (source {source}: "
            f"{error}); their batch files are kept: fix the cause and run again",
            directory=str(directory),
            sources=sorted(failures),
        ) from error
    return result


def _run(
    job: SourceJob, progress: _Progress, outcomes: list[SourceOutcome],
    failures: dict[int, BaseException],
) -> None:  # fmt: skip
    try:
        outcomes.append(build_archive(job, progress.update))
    except Exception as error:  # recorded and raised once every other source is done
        failures[job.source_id] = error


def summary(result: CompressionResult) -> str:
    """A few human lines: what was archived, what was removed, and every problem."""
    lines = [
        f"{len(result.added)} source(s) archived in {result.seconds:.2f} s: "
        f"{sum(result.added.values()):,} new entries, {result.duplicates} duplicate copies "
        f"dropped, {result.payload_bytes / 1e6:,.1f} MB of payload in the archives written, "
        f"{len(result.removed)} batch file(s) removed"
    ]
    for source, path in result.items():
        lines.append(f"  source {source}: {path.name} (+{result.added.get(source, 0):,})")
    if result.problems:
        lines.append(f"{len(result.problems)} problem(s), left in place:")
        lines.extend(f"  {name}: {why}" for name, why in result.problems.items())
    return "\n".join(lines)


class _Progress:
    """Payload bytes archived so far: tqdm when installed, else a plain line on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._enabled = enabled
        self._total = max(total, 1)
        self._done = 0
        self._shown = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm
                self._bar = tqdm(total=total, unit="B", unit_scale=True, desc="compressing logs")
            except ImportError:
                self._bar = None

    def update(self, count: int) -> None:
        if not self._enabled:
            return
        with self._lock:
            self._done += count
            if self._bar is not None:
                self._bar.update(count)
            elif time.monotonic() - self._shown > 0.25:
                self._shown = time.monotonic()
                self._line()

    def _line(self) -> None:
        percent = 100 * self._done / self._total
        sys.stderr.write(f"\rcompressing logs: {percent:5.1f}% of {self._total / 1e6:,.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            self._line()
            sys.stderr.write("\n")


@dataclass(frozen=True)
class SourceTimeline:
    """One source's entries as a compression would leave them: archive and batches together."""

    source_id: int
    onset_us: int | None
    timestamps: np.ndarray  # microseconds since onset_us, ascending
    archive: Path | None
    batch_files: int


def source_timelines(directory: Path | str) -> tuple[list[SourceTimeline], dict[str, str]]:
    """Every source's timestamps as compression would leave them (payloads are not read), and
    the directory's problems. Sorting scratch space, if a source needs any, is a temporary file."""
    directory = Path(directory)
    scan = scan_directory(directory)
    problems = dict(scan.problems)
    by_source = scan.sources()
    timelines: list[SourceTimeline] = []
    with tempfile.TemporaryDirectory() as scratch:
        for source in sorted(set(by_source) | set(scan.archives)):
            path = scan.archives.get(source)
            refs = by_source.get(source, [])
            header: ArchiveHeader | None = None
            if path is not None:
                header, problem = open_previous(path)
                if problem is not None:
                    problems[path.name] = problem
                    if header is not None and header.format == "reference":
                        reader = LogArchiveReader(path)
                        timelines.append(SourceTimeline(source, reader.onset_us,
                                                        reader.timestamps, path, 0))  # fmt: skip
                    continue
            job = SourceJob(directory, source, tuple(refs), False, False)
            spill = Spill(Path(scratch) / "rows")
            try:
                plan = plan_source(job, header, path or Path(), spill)
                if isinstance(plan, str):
                    problems[f"source {source}"] = plan
                    continue
                stamps = [block["timestamp"] for block in plan.merged.rows.blocks()]
            finally:
                spill.close()
            timestamps = np.concatenate(stamps) if stamps else np.empty(0, dtype=np.uint64)
            timelines.append(SourceTimeline(source, plan.onset_us, timestamps, path, len(refs)))
    return timelines, problems
