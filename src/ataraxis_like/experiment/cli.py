"""What ``ataraxis-like inspect`` shows of an experiment directory: one row per run, and counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._inspection import EXPERIMENT, Inspection, plain, short
from .results import ExperimentResults

_FIXED = ("index", "status", "duration_s", "error", "started", "attempts")


def inspect_experiment(path: Path) -> Inspection:
    """Runs (parameters, status, duration, error), counts per status, and the sessions."""
    results = ExperimentResults.load(path)
    runs = [plain(row) for row in results.runs]
    counts = results.counts()
    data = {
        "name": results.name,
        "comment": results.comment,
        "layout": results.layout,
        "counts": counts,
        "runs": runs,
        "defaults": plain(results.defaults),
        "sessions": [plain(session) for session in results.sessions],
    }
    lines = _text(path, results.name, runs, counts)
    for number, session in enumerate(data["sessions"]):
        lines.append(
            f"session {number}: {session.get('start_time', '?')} to "
            f"{session.get('end_time') or 'unfinished'} on {session.get('host', '?')}"
            + (f", git {str(session['git_commit'])[:12]}" if session.get("git_commit") else "")
            + (" (uncommitted changes)" if session.get("git_dirty") else "")
        )
    return Inspection(EXPERIMENT, path, data, lines)


def _last_line(error: str) -> str:
    """A traceback's last line: the exception and its message."""
    lines = error.strip().splitlines()
    return lines[-1] if lines else ""


def _text(path: Path, name: str, runs: list[dict[str, Any]], counts: dict[str, int]) -> list[str]:
    tally = ", ".join(f"{count} {status}" for status, count in counts.items()) or "no runs"
    lines = [f"{path}: experiment {name!r}, {len(runs)} run(s): {tally}"]
    if not runs:
        return lines
    parameters = list(dict.fromkeys(key for row in runs for key in row if key not in _FIXED))
    header = ["run", *parameters, "status", "seconds", "error"]
    table = [
        [str(row["index"]), *(short(row.get(key), 16) for key in parameters), row["status"],
         f"{row['duration_s']:.2f}", short(_last_line(row["error"]), 60)]
        for row in runs
    ]  # fmt: skip
    widths = [
        max(len(cells[column]) for cells in [header, *table]) for column in range(len(header))
    ]
    for cells in [header, *table]:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        lines.append("  ".join(padded).rstrip())
    return lines
