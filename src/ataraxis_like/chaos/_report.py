"""What a chaos run did and what it found on disk, as text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Acknowledged work of one kind (log entries or sink rows) against what is on disk."""

    acknowledged: int = 0
    on_disk: int = 0
    lost: int = 0
    duplicates: int = 0
    unacknowledged_extra: int = 0  # written, but its process died before counting it

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.acknowledged > 0


@dataclass
class ChaosReport:
    """Kills, the tallies of entries and rows, stalls and errors of one run."""

    seconds: float
    kills: dict[str, int] = field(
        default_factory=lambda: {"producer": 0, "logger": 0, "client": 0, "writer": 0}
    )
    entries: Tally = field(default_factory=Tally)
    rows: Tally = field(default_factory=Tally)
    stalls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.entries.clean and self.rows.clean and not self.stalls and not self.errors


def _tally_lines(name: str, tally: Tally) -> list[str]:
    return [
        f"  {name} acknowledged {tally.acknowledged:>10,}",
        f"  {name} on disk      {tally.on_disk:>10,} ({tally.unacknowledged_extra:,} whose "
        "process died before counting them)",
        f"  {name} lost         {tally.lost:>10,}",
        f"  {name} duplicated   {tally.duplicates:>10,}",
    ]


def report_lines(report: ChaosReport) -> list[str]:
    verdict = "PASSED" if report.passed else "FAILED"
    kills = ", ".join(f"{kind} {count}" for kind, count in report.kills.items())
    lines = [f"chaos run {verdict} after {report.seconds:g} s", f"  processes killed  {kills}"]
    lines += _tally_lines("entries", report.entries) + _tally_lines("rows   ", report.rows)
    lines += [f"  stall: {stall}" for stall in report.stalls]
    lines += [f"  error: {error}" for error in report.errors]
    lines.append(f"  output            {report.output}")
    return lines


def report_json(report: ChaosReport) -> str:
    fields = {
        "seconds": report.seconds,
        "passed": report.passed,
        "kills": report.kills,
        "entries": report.entries.__dict__,
        "rows": report.rows.__dict__,
        "stalls": report.stalls,
        "errors": report.errors,
        "output": report.output,
    }
    return json.dumps(fields)
