"""The hierarchical recorder against the record keeper (pip rigorous-recorder), in the same run.

python benchmarks/bench_recorder.py [--repeats N] [--records N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _harness import BENCHMARKS, Row, median_runs, record, reference_python, table

REFERENCE = "rigorous-recorder"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    arguments = parser.parse_args()
    script = BENCHMARKS / "recorder_workload.py"
    reference = reference_python("rigorous", [REFERENCE, "numpy"])
    count = str(arguments.records)
    runs = arguments.repeats
    ours = median_runs(sys.executable, script, ["ours", "main", count], runs)
    compat = median_runs(sys.executable, script, ["compat", "main", count], runs)
    theirs = median_runs(reference, script, ["reference", "main", count], runs)
    ours_collection = median_runs(sys.executable, script, ["ours", "collection", count], runs)
    theirs_collection = median_runs(reference, script, ["reference", "collection", count], runs)
    version = _version(reference)
    rows = [
        Row("push rate", ours["push_rate"], theirs["push_rate"], "records/s", goal=5.0),
        Row("memory held by the records", ours["held_mb"], theirs["held_mb"], "MB",
            goal=5.0, higher_is_better=False),
        Row("peak RSS growth while pushing", ours["peak_growth_mb"],
            theirs["peak_growth_mb"], "MB", higher_is_better=False),
        Row("filter by a parent field + mean", ours["filter_s"], theirs["filter_s"], "s",
            goal=20.0, higher_is_better=False),
        Row("save + load", ours["save_load_s"], theirs["save_load_s"], "s", goal=10.0,
            higher_is_better=False),
        Row("file size", ours["file_mb"], theirs["file_mb"], "MB", higher_is_better=False),
        Row("push rate inside an experiment collection", ours_collection["collection_rate"],
            theirs_collection["collection_rate"], "records/s"),
        Row("push rate, their API through ataraxis_like.compat", compat["push_rate"],
            theirs["push_rate"], "records/s"),
    ]  # fmt: skip
    inside = ours_collection["collection_rate"] / ours_collection["standalone_rate"]
    verdict = "met" if inside >= 0.8 else "MISSED"
    body = (
        table(rows, f"{REFERENCE} {version}")
        + f"\n\n{arguments.records:,} pushes of two numbers (`index`, `loss`) into the 20 leaves "
        "of a 3-level hierarchy (experiment -> 10 models -> training True/False). Ours uses the "
        "native API (`Recorder.child`, `push`, `where(model=...).column('loss').mean()`, "
        "`save`/`Recorder.load` through the HDF5 sink); theirs `RecordKeeper(...).set_parent`, "
        "`push`, a comprehension over `all_records`, `save_to`/`load_from` (pickle). Memory: "
        "resident set growth after `gc.collect()` in the process holding the records; peak: "
        "`ru_maxrss` growth. The compat row runs their exact code against our facade."
        f"\n\nInside an experiment collection our push rate is "
        f"{ours_collection['collection_rate']:,.0f} records/s, {inside:.0%} of the standalone "
        f"{ours_collection['standalone_rate']:,.0f} (goal >= 80%: {verdict}). Theirs falls from "
        f"{theirs_collection['standalone_rate']:,.0f} standalone to "
        f"{theirs_collection['collection_rate']:,.0f} records/s inside its collection (stopped "
        f"at the first leaf after 20 s: {theirs_collection['collection_pushed']:,.0f} records)."
        f"\n\nMedian of {runs} runs each."
    )
    print(body)
    record("Recorder", body, "python benchmarks/bench_recorder.py")


def _version(python: object) -> str:
    code = "import importlib.metadata as m; print(m.version('rigorous-recorder'))"
    completed = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "?"


if __name__ == "__main__":
    main()
