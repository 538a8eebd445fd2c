"""``ataraxis-like compress DIR``, and what ``inspect`` shows of a log directory or archive.

Exit codes follow the main command line: 0 done, 1 a problem was found (a file left in place, a
source that could not be merged), 3 an error stopped the job (one line on stderr).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .._exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PROBLEM
from .._inspection import LOG_ARCHIVE, LOG_DIRECTORY, InspectError, Inspection
from ..errors import AtaraxisError
from ._archive_layout import discover_log_archives
from .archive import LogDirectoryError, SourceTimeline, compress_npy_logs, source_timelines
from .format import BATCH_PREFIX
from .reader import LogArchiveReader

LOG_FOLDER_SUFFIX = "_data_log"
"""A DataLogger writes into ``<output_directory>/<name>_data_log``."""


def log_folders(directory: Path) -> list[Path]:
    """The log folders ``directory`` stands for: itself when it holds batch files or archives
    (or is named like one), else the folders one level down that do (it is the directory that
    was passed to a DataLogger). LogDirectoryError naming what to pass when there are none."""
    if not directory.is_dir() or _holds_logs(directory):
        return [directory]
    found = sorted(
        child for child in directory.iterdir()
        if child.is_dir() and not child.name.startswith(".") and _holds_logs(child)
    )  # fmt: skip
    if found or directory.name.endswith(LOG_FOLDER_SUFFIX):
        return found or [directory]
    raise LogDirectoryError(
        f"{directory} holds no log files (batch_*.npy or <source>_log.npz), nor does any folder "
        f"in it; pass the folder a DataLogger writes: <output_directory>/<name>{LOG_FOLDER_SUFFIX}",
        directory=str(directory),
    )


def _holds_logs(directory: Path) -> bool:
    return directory.name.endswith(LOG_FOLDER_SUFFIX) or bool(
        discover_log_archives(directory) or next(directory.glob(f"{BATCH_PREFIX}*.npy"), None)
    )


def configure(compress: argparse.ArgumentParser) -> None:
    """Add the options and the handler of the ``compress`` subcommand (named in cli.py)."""
    compress.add_argument("directory", type=Path, help="the logger's <name>_data_log directory")
    compress.add_argument(
        "--remove-sources", action="store_true", help="delete batch files once archived"
    )
    compress.add_argument(
        "--no-compress", dest="compress", action="store_false", help="store without deflate"
    )
    compress.add_argument(
        "--verify-integrity", action="store_true", help="compare every archived byte first"
    )
    compress.add_argument("--workers", type=int, default=None, help="sources done in parallel")
    compress.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    compress.add_argument("--json", action="store_true", help="print a JSON summary")
    compress.set_defaults(handler=_compress)


def _fail(error: OSError) -> int:
    print(f"ataraxis-like: error: {error}", file=sys.stderr)
    return EXIT_ERROR


def _compress(arguments: argparse.Namespace) -> int:
    folders = log_folders(arguments.directory)
    summaries, problems = [], False
    for folder in folders:
        if folder != arguments.directory and not arguments.json:
            print(f"log folder {folder}:")
        try:
            result = compress_npy_logs(
                folder,
                remove_sources=arguments.remove_sources,
                verbose=not (arguments.quiet or arguments.json),
                compress=arguments.compress,
                verify_integrity=arguments.verify_integrity,
                max_workers=arguments.workers,
            )
        except AtaraxisError:
            raise  # the main command line prints it as one line and exits 3
        except OSError as error:
            return _fail(error)
        problems = problems or bool(result.problems)
        summaries.append({
            "directory": str(folder),
            "archives": {str(source): str(path) for source, path in result.items()},
            "added": {str(source): count for source, count in result.added.items()},
            "duplicates": result.duplicates,
            "removed": result.removed,
            "problems": result.problems,
            "seconds": round(result.seconds, 3),
        })  # fmt: skip
        if arguments.quiet:
            for name, why in result.problems.items():
                print(f"{name}: {why}", file=sys.stderr)
    if arguments.json:
        print(json.dumps(summaries[0] if folders == [arguments.directory] else summaries,
                         indent=2))  # fmt: skip
    return EXIT_PROBLEM if problems else EXIT_OK


def inspect_logs(path: Path, gaps: int) -> tuple[Inspection, list[SourceTimeline]]:
    """Sources, counts, span, rate and largest gaps of a log directory or one archive; for the
    directory that was passed to a DataLogger, of each log folder in it."""
    folders = log_folders(path)
    if folders == [path]:
        return _inspect_one(path, gaps)
    parts = [_inspect_one(folder, gaps) for folder in folders]
    lines = [f"{path}: {len(folders)} log folder(s)"]
    problems: dict[str, str] = {}
    for inspection, _timelines in parts:
        lines += inspection.lines
        problems.update({f"{inspection.path.name}/{name}": why
                         for name, why in inspection.problems.items()})  # fmt: skip
    data = {"log_folders": [{"path": str(part.path), **part.data} for part, _t in parts]}
    timelines = [timeline for _inspection, found in parts for timeline in found]
    return Inspection(LOG_DIRECTORY, path, data, lines, problems), timelines


def _inspect_one(path: Path, gaps: int) -> tuple[Inspection, list[SourceTimeline]]:
    try:
        if path.is_dir():
            timelines, problems = source_timelines(path)
        else:
            reader = LogArchiveReader(path)
            timelines = [
                SourceTimeline(reader.source_id, reader.onset_us, reader.timestamps, path, 0)
            ]
            problems = {}
    except AtaraxisError:
        raise
    except OSError as error:
        raise InspectError(f"{path}: {error.strerror or error}", path=str(path)) from None
    rows = [describe(timeline, gaps) for timeline in timelines]
    kind = LOG_DIRECTORY if path.is_dir() else LOG_ARCHIVE
    inspection = Inspection(kind, path, {"sources": rows}, _text(path, rows, problems), problems)
    return inspection, timelines


def describe(timeline: SourceTimeline, gaps: int) -> dict[str, Any]:
    """Counts, span, rate and largest gaps of one source, as plain JSON-ready values."""
    stamps = timeline.timestamps
    count = int(stamps.size)
    row: dict[str, Any] = {
        "source_id": timeline.source_id,
        "messages": count,
        "onset_us": timeline.onset_us,
        "archive": None if timeline.archive is None else timeline.archive.name,
        "batch_files": timeline.batch_files,
        "first_us": int(stamps[0]) if count else None,
        "last_us": int(stamps[-1]) if count else None,
        "first_utc": None,
        "span_s": 0.0,
        "rate_hz": None,
        "largest_gaps": [],
    }
    if not count:
        return row
    span = (int(stamps[-1]) - int(stamps[0])) / 1e6
    row["span_s"] = span
    row["rate_hz"] = (count - 1) / span if span > 0 else None
    if timeline.onset_us is not None:
        moment = datetime.datetime.fromtimestamp(
            (timeline.onset_us + int(stamps[0])) / 1e6, tz=datetime.UTC
        )
        row["first_utc"] = moment.isoformat()
    if count > 1 and gaps > 0:
        steps = np.diff(stamps)
        largest = np.argpartition(steps, -min(gaps, steps.size))[-min(gaps, steps.size) :]
        largest = largest[np.argsort(steps[largest])[::-1]]
        row["largest_gaps"] = [
            {"after_us": int(stamps[i]), "gap_us": int(steps[i])} for i in largest.tolist()
        ]
    return row


def _text(path: Path, rows: list[dict[str, Any]], problems: dict[str, str]) -> list[str]:
    lines = [f"{path}: {len(rows)} source(s)"]
    if rows:
        lines.append(
            f"{'source':>6} {'messages':>10} {'span (s)':>10} {'rate (Hz)':>11}  first (UTC)"
        )
    for row in rows:
        rate = "-" if row["rate_hz"] is None else f"{row['rate_hz']:,.1f}"
        lines.append(
            f"{row['source_id']:>6} {row['messages']:>10,} {row['span_s']:>10.3f} {rate:>11}  "
            f"{row['first_utc'] or 'onset unknown'}"
        )
        where = [row["archive"]] if row["archive"] else []
        if row["batch_files"]:
            where.append(f"{row['batch_files']} batch file(s)")
        gaps = ", ".join(
            f"{gap['gap_us'] / 1e3:,.3f} ms after {gap['after_us'] / 1e6:.3f} s"
            for gap in row["largest_gaps"]
        )
        lines.append(f"{'':>6} from {' + '.join(where)}; largest gaps: {gaps or 'none'}")
    if problems:
        lines.append(f"{len(problems)} problem(s):")
        lines.extend(f"  {name}: {why}" for name, why in problems.items())
    return lines
