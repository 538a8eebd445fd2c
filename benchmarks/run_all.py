"""Run every benchmark, then print one table of all figures beside their references.

python benchmarks/run_all.py [--repeats N] [--only shm,queue,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _harness import BENCHMARKS, ROWS, machine


def _figure(value: float) -> str:
    if value == float("inf"):
        return "never"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated names, e.g. shm,queue")
    parser.add_argument("--list", action="store_true", help="print the benchmarks' names")
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
    started = time.time()
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        command = [sys.executable, str(script)]
        if "--repeats" in script.read_text():
            command += ["--repeats", str(arguments.repeats)]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script.name)
    print(f"\nAll benchmarks on {machine()}\n")
    print("| benchmark | figure | ours | reference | ratio | goal |")
    print("|---|---|---:|---:|---:|---|")
    for path in sorted(ROWS.glob("*.json")):
        if path.stat().st_mtime < started:
            continue
        block = json.loads(path.read_text())
        for row in block["rows"]:
            goal = f">= {row['goal']:g}x {row['verdict']}" if row["goal"] is not None else ""
            print(
                f"| {block['section']} | {row['metric']} ({row['unit']}) | {_figure(row['ours'])} "
                f"| {_figure(row['reference'])} ({row['reference_name']}) | {row['ratio']:.2f}x "
                f"| {goal} |"
            )
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
