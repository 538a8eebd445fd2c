"""What every benchmark shares: reference environments, workload runs, tables and RESULTS.md.

A workload is a script that prints one JSON object of figures. It runs under our interpreter
for our figures and under a reference library's own virtual environment for the reference's,
in the same benchmark run, so both see the same machine state.

Nothing is written into the source tree unless asked: the reference environments live in a
cache folder (``ATARAXIS_LIKE_BENCH_CACHE``, default ``~/.cache/ataraxis-like/bench``), the rows
for run_all.py's table in the folder it names (``ATARAXIS_LIKE_BENCH_ROWS``), and RESULTS.md is
updated only with ``ATARAXIS_LIKE_BENCH_RECORD=1`` (what ``run_all.py --record`` sets).
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
CACHE = Path(
    os.environ.get("ATARAXIS_LIKE_BENCH_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ataraxis-like" / "bench"
)
VENVS = CACHE / "venvs"
RESULTS = BENCHMARKS / "RESULTS.md"
RECORDING = os.environ.get("ATARAXIS_LIKE_BENCH_RECORD") == "1"


def reference_python(environment: str, packages: Sequence[str]) -> Path:
    """The interpreter of ``benchmarks/.venvs/<environment>``, made and filled when missing."""
    python = VENVS / environment / "bin" / "python"
    marker = VENVS / environment / ".installed"
    wanted = " ".join(sorted(packages))
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        VENVS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / environment)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", *packages], check=True
    )
    marker.write_text(wanted)
    return python


def run_workload(python: Path | str, script: Path, *arguments: str) -> dict[str, float]:
    """Run ``script`` under ``python`` and return the JSON object it printed last."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(BENCHMARKS)
    completed = subprocess.run(
        [str(python), str(script), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=3600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{script.name} {arguments} failed:\n{completed.stderr[-3000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def median_runs(
    python: Path | str, script: Path, arguments: Sequence[str], repeats: int
) -> dict[str, float]:
    """Median of each figure over ``repeats`` runs of the workload."""
    runs = [run_workload(python, script, *arguments) for _ in range(repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def interleaved_runs(
    workloads: Sequence[tuple[Path | str, Path, Sequence[str]]], repeats: int
) -> list[dict[str, float]]:
    """Median figures of each workload, run in turns (A B C A B C ...) so that a change in the
    machine's load during the run falls on all of them alike: for ratios against a limit."""
    runs: list[list[dict[str, float]]] = [[] for _ in workloads]
    for _ in range(repeats):
        for index, (python, script, arguments) in enumerate(workloads):
            runs[index].append(run_workload(python, script, *arguments))
    return [{key: statistics.median(run[key] for run in done) for key in done[0]} for done in runs]


@dataclass(frozen=True)
class LimitRow:
    """A figure beside the machine's limit for it, measured in the same run, and beside the
    reference library's figure. ``goal`` is the least ratio to the limit (ours / limit when
    higher is better, limit / ours otherwise)."""

    metric: str
    unit: str
    ours: float
    limit: float
    limit_name: str
    reference: float | None = None
    goal: float | None = None
    higher_is_better: bool = True

    def _ratio(self, other: float | None) -> float | None:
        if other is None:
            return None
        if self.higher_is_better:
            return self.ours / other if other else float("inf")
        return other / self.ours if self.ours else float("inf")

    @property
    def limit_ratio(self) -> float:
        ratio = self._ratio(self.limit)
        assert ratio is not None
        return ratio

    @property
    def reference_ratio(self) -> float | None:
        return self._ratio(self.reference)

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return "met" if self.limit_ratio >= self.goal else "MISSED"


def limit_table(rows: Sequence[LimitRow], reference_name: str) -> str:
    """A Markdown table: ours, the limit (what it is), ours/limit with its goal, the reference
    and ours against it (ratios read "higher is better for us"). Kept for ``record`` too."""
    for row in rows:
        _tabled.append(
            {"metric": f"{row.metric} vs the limit", "unit": row.unit, "ours": row.ours,
             "reference": row.limit, "reference_name": f"limit: {row.limit_name}",
             "ratio": row.limit_ratio, "goal": row.goal, "verdict": row.verdict}
        )  # fmt: skip
        if row.reference is not None:
            _tabled.append(
                {"metric": row.metric, "unit": row.unit, "ours": row.ours,
                 "reference": row.reference, "reference_name": reference_name,
                 "ratio": row.reference_ratio, "goal": None, "verdict": ""}
            )  # fmt: skip
    lines = [
        f"| figure | ours | limit, same run | ours vs limit | goal | {reference_name} "
        "| ours vs reference |",
        "|---|---:|---|---:|---|---:|---:|",
    ]
    for row in rows:
        goal = f">= {row.goal:g}x ({row.verdict})" if row.goal is not None else ""
        reference = "" if row.reference is None else _figure(row.reference)
        versus = "" if row.reference_ratio is None else f"{row.reference_ratio:.2f}x"
        lines.append(
            f"| {row.metric} ({row.unit}) | {_figure(row.ours)} | {_figure(row.limit)} "
            f"({row.limit_name}) | {row.limit_ratio:.2f}x | {goal} | {reference} | {versus} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Row:
    """One compared figure. ``higher_is_better`` decides how the ratio reads."""

    metric: str
    ours: float
    reference: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = True

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.ours / self.reference if self.reference else float("inf")
        return self.reference / self.ours if self.ours else float("inf")

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return "met" if self.ratio >= self.goal else "MISSED"


def _figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


_tabled: list[dict[str, object]] = []


def table(rows: Sequence[Row], reference_name: str) -> str:
    """A Markdown table: ours, the reference, the ratio (higher means we are better) and goal.

    The rows are also kept for ``record``, which saves them for ``run_all.py``'s combined table.
    """
    _tabled.extend(
        {"metric": row.metric, "unit": row.unit, "ours": row.ours, "reference": row.reference,
         "reference_name": reference_name, "ratio": row.ratio, "goal": row.goal,
         "verdict": row.verdict}
        for row in rows
    )  # fmt: skip
    lines = [
        f"| figure | ours | {reference_name} | ratio | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        goal = f">= {row.goal:g}x ({row.verdict})" if row.goal is not None else ""
        lines.append(
            f"| {row.metric} ({row.unit}) | {_figure(row.ours)} | {_figure(row.reference)} "
            f"| {row.ratio:.2f}x | {goal} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {time.strftime('%Y-%m-%d')}"
    )


def record(section: str, body: str, command: str) -> None:
    """Hand the rows to run_all.py (when it runs us) and, when recording, replace (or add)
    ``## section`` in RESULTS.md with ``body`` and how it was produced."""
    rows = os.environ.get("ATARAXIS_LIKE_BENCH_ROWS")
    if rows:
        slug = re.sub(r"[^a-z0-9]+", "_", section.lower()).strip("_")
        (Path(rows) / f"{slug}.json").write_text(json.dumps({"section": section, "rows": _tabled}))
    _tabled.clear()
    if not RECORDING:
        return
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"## {section}\n\nMachine: {machine()}. Command: `{command}`.\n\n{body}\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text.rstrip("\n") + "\n")
