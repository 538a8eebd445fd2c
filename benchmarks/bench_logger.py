"""DataLogger against ataraxis-data-structures, end to end, measured in the same run.

python benchmarks/bench_logger.py [--repeats N]

Each library logs enough entries to run for a few seconds at its own speed; the figure is a rate,
and every run includes the logger's stop() with all entries on disk.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _harness import (
    BENCHMARKS,
    LimitRow,
    Row,
    interleaved_runs,
    limit_table,
    median_runs,
    record,
    reference_python,
    table,
)

REFERENCE = "ataraxis-data-structures"
CASES = [
    # label, payload bytes, our entries per producer, reference entries per producer
    ("64 B", 64, 200_000, 1_500),
    ("4 KiB", 4096, 100_000, 1_500),
    ("1 MiB", 1 << 20, 1_000, 200),
]


LIMIT_ENTRIES = 400_000


def limits_section(reference: Path, repeats: int) -> str:
    """Small entries end to end beside the bus's own rate and a LogPackage beside a tuple, each
    pair measured in the same run, in turns."""
    logger = BENCHMARKS / "logger_workload.py"
    bus = BENCHMARKS / "queue_workload.py"
    workloads: list[tuple[Path | str, Path, list[str]]] = []
    for producers in (1, 2):
        share = str(LIMIT_ENTRIES // producers)
        workloads += [
            (sys.executable, bus, ["shm", "64", str(producers), share]),
            (sys.executable, logger, ["ours", "64", str(producers), share, "durable", "int"]),
            (sys.executable, logger, ["ours", "64", str(producers), share, "durable", "numpy"]),
        ]
    workloads += [(sys.executable, logger, ["ours", "package"]),
                  (reference, logger, ["reference", "package"])]  # fmt: skip
    bus1, int1, numpy1, bus2, int2, numpy2, building, theirs = interleaved_runs(workloads, repeats)
    rate = "entries_per_s"
    runs = {(1, "int numbers"): (int1, bus1), (1, "numpy scalars"): (numpy1, bus1),
            (2, "int numbers"): (int2, bus2), (2, "numpy scalars"): (numpy2, bus2)}  # fmt: skip
    rows = [
        LimitRow(f"64 B, {producers} producer(s), put to durable batch file, {numbers}",
                 "entries/s", ours[rate], bus["messages_per_s"],
                 f"ShmQueue 64 B, {producers} producer(s) -> 1 consumer", goal=0.5)
        for (producers, numbers), (ours, bus) in runs.items()
    ]  # fmt: skip
    rows += [
        LimitRow("building a LogPackage of ints", "us", building["package_int_us"],
                 building["tuple_us"], "a tuple of the three values",
                 theirs["package_int_us"], higher_is_better=False),
        LimitRow("building a LogPackage of numpy scalars", "us", building["package_numpy_us"],
                 building["tuple_us"], "a tuple of the three values",
                 theirs["package_numpy_us"], higher_is_better=False),
    ]  # fmt: skip
    return (
        limit_table(rows, REFERENCE + " 4.0.0")
        + f"\n\nProducers: ours {int2[rate] / int1[rate]:.2f}x from 1 to 2 (int numbers), "
        f"the bus {bus2['messages_per_s'] / bus1['messages_per_s']:.2f}x (2 cores, shared with "
        "the consumer or logger process). End to end: from the first put until stop() returned "
        f"with every entry in a durable (fsynced) batch file, {LIMIT_ENTRIES:,} entries; the "
        "bus's figure is queue_workload.py's, the same producer loop with ShmQueue.put of 64 "
        "bytes and one consumer taking them with get_many. Numpy scalars: the producer builds "
        "np.uint64(index) per entry, as the reference library requires. LogPackage building: "
        "CPU time per object, median of 7 rounds of 100,000 in turns with the tuple. Median of "
        f"{repeats} runs each, all workloads of this table in turns."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    load_before = os.getloadavg()[0]
    script = BENCHMARKS / "logger_workload.py"
    reference = reference_python("reference", [REFERENCE])
    rows: list[Row] = []
    single_rate: dict[str, float] = {}
    for label, size, ours_count, reference_count in CASES:
        for producers in (1, 2):
            ours = median_runs(
                sys.executable, script,
                ["ours", str(size), str(producers), str(ours_count // producers)],
                arguments.repeats,
            )  # fmt: skip
            theirs = median_runs(
                reference, script,
                ["reference", str(size), str(producers), str(reference_count // producers)],
                arguments.repeats,
            )  # fmt: skip
            goal = {"64 B": 50.0, "4 KiB": 20.0, "1 MiB": 2.0}[label]
            metric, unit = ("entries_per_s", "entries/s")
            if label == "1 MiB":
                metric, unit = ("mb_per_s", "MB/s")
            rows.append(
                Row(f"{label}, {producers} producer(s), end to end", ours[metric],
                    theirs[metric], unit, goal=goal)
            )  # fmt: skip
            rows.append(
                Row(f"{label}, {producers} producer(s), put median", ours["put_median_us"],
                    theirs["put_median_us"], "us", higher_is_better=False)
            )  # fmt: skip
            rows.append(
                Row(f"{label}, {producers} producer(s), put p99", ours["put_p99_us"],
                    theirs["put_p99_us"], "us", higher_is_better=False)
            )  # fmt: skip
            if producers == 1:
                single_rate[label] = ours[metric]
            else:
                ratio = ours[metric] / single_rate[label]
                print(f"{label}: two producers vs one (ours): {ratio:.2f}x")
    body = limits_section(reference, arguments.repeats) + "\n\n" + table(rows, REFERENCE + " 4.0.0")
    body += (
        f"\n\nMedian of {arguments.repeats} runs each. Entries per run: ours "
        + ", ".join(f"{label} {ours}" for label, _s, ours, _r in CASES)
        + "; reference "
        + ", ".join(f"{label} {theirs}" for label, _s, _o, theirs in CASES)
        + ". Goals: put median <= 10 us at 64 B; two producers no slower than one."
    )
    body += (
        f"\n\nLoad average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
        "the run (2 cores; other work shares the machine)."
    )
    print(body)
    record("DataLogger", body, "python benchmarks/bench_logger.py")


if __name__ == "__main__":
    main()
