"""Run every benchmark, then print one table of all figures beside their references.

python benchmarks/run_all.py [--repeats N] [--only shm,queue,...] [--record]

Exits 1 when a benchmark failed or a figure missed its goal. Nothing is written into the source
tree unless ``--record`` (then each benchmark updates its section of RESULTS.md); reference
environments live in a cache folder outside it (see _harness.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import BENCHMARKS, machine


def _figure(value: float) -> str:
    if value == float("inf"):
        return "never"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated names, e.g. shm,queue")
    parser.add_argument("--list", action="store_true", help="print the benchmarks' names")
    parser.add_argument("--record", action="store_true", help="update benchmarks/RESULTS.md")
    arguments = parser.parse_args()
    scripts = sorted(BENCHMARKS.glob("bench_*.py"))
    names = [script.stem.removeprefix("bench_") for script in scripts]
    if arguments.list:
        print("\n".join(names))
        return
    if arguments.only:
        wanted = arguments.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"no benchmark named {', '.join(unknown)}; choose from {', '.join(names)}")
        scripts = [script for script in scripts if script.stem.removeprefix("bench_") in wanted]
    rows = Path(tempfile.mkdtemp(prefix="ataraxis-like-bench-"))
    environment = dict(os.environ, ATARAXIS_LIKE_BENCH_ROWS=str(rows))
    if arguments.record:
        environment["ATARAXIS_LIKE_BENCH_RECORD"] = "1"
    progress = sys.stderr if sys.stderr.isatty() else None  # progress lines: a terminal only
    try:
        failed = []
        for script in scripts:
            if progress is not None:
                print(f"== {script.name}", file=progress, flush=True)
            command = [sys.executable, str(script)]
            if "--repeats" in script.read_text():
                command += ["--repeats", str(arguments.repeats)]
            if subprocess.run(command, check=False, env=environment).returncode != 0:
                failed.append(script.name)
        missed = _table(rows)
    finally:
        shutil.rmtree(rows, ignore_errors=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    if missed:
        print(f"\ngoals missed: {'; '.join(missed)}", file=sys.stderr)
    if failed or missed:
        sys.exit(1)


def _table(rows: Path) -> list[str]:
    """Print every benchmark's rows as one table; return the figures that missed their goal."""
    print(f"\nAll benchmarks on {machine()}\n")
    print("| benchmark | figure | ours | reference | ratio | goal |")
    print("|---|---|---:|---:|---:|---|")
    missed = []
    for path in sorted(rows.glob("*.json")):
        block = json.loads(path.read_text())
        for row in block["rows"]:
            goal = f">= {row['goal']:g}x {row['verdict']}" if row["goal"] is not None else ""
            print(
                f"| {block['section']} | {row['metric']} ({row['unit']}) | {_figure(row['ours'])} "
                f"| {_figure(row['reference'])} ({row['reference_name']}) | {row['ratio']:.2f}x "
                f"| {goal} |"
            )
            if row["verdict"] == "MISSED":
                missed.append(f"{block['section']}: {row['metric']} {row['ratio']:.2f}x "
                              f"(goal {row['goal']:g}x)")  # fmt: skip
    return missed


if __name__ == "__main__":
    main()
