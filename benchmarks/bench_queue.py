"""ShmQueue against multiprocessing.Queue and faster-fifo, measured in the same run.

python benchmarks/bench_queue.py [--repeats N]

faster-fifo is installed into benchmarks/.venvs/fasterfifo, never as our dependency.
"""

from __future__ import annotations

import argparse
import os
import sys

from _harness import BENCHMARKS, Row, median_runs, record, reference_python, table

CASES = [("64 B", 64, 200_000), ("4 KiB", 4096, 100_000), ("1 MiB", 1 << 20, 2_000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    load_before = os.getloadavg()[0]
    script = BENCHMARKS / "queue_workload.py"
    fifo_python = reference_python("fasterfifo", ["faster-fifo", "numpy"])
    mp_rows: list[Row] = []
    fifo_rows: list[Row] = []
    for label, size, count in CASES:
        for producers in (1, 2):
            arguments_for = [str(size), str(producers), str(count // producers)]
            ours = median_runs(sys.executable, script, ["shm", *arguments_for], arguments.repeats)
            mp_queue = median_runs(
                sys.executable, script, ["mp", *arguments_for], arguments.repeats
            )
            fifo = median_runs(fifo_python, script, ["fifo", *arguments_for], arguments.repeats)
            name = f"{label}, {producers} producer(s)"
            mp_goal = {"64 B": 3.0, "1 MiB": 5.0}.get(label) if producers == 1 else None
            mp_rows.append(Row(f"{name}, messages", ours["messages_per_s"],
                               mp_queue["messages_per_s"], "msg/s", goal=mp_goal))  # fmt: skip
            mp_rows.append(Row(f"{name}, throughput", ours["mb_per_s"], mp_queue["mb_per_s"],
                               "MB/s"))  # fmt: skip
            mp_rows.append(Row(f"{name}, put median", ours["put_median_us"],
                               mp_queue["put_median_us"], "us",
                               higher_is_better=False))  # fmt: skip
            mp_rows.append(Row(f"{name}, put p99", ours["put_p99_us"], mp_queue["put_p99_us"],
                               "us", higher_is_better=False))  # fmt: skip
            fifo_rows.append(Row(f"{name}, messages", ours["messages_per_s"],
                                 fifo["messages_per_s"], "msg/s", goal=1.0))  # fmt: skip
            fifo_rows.append(Row(f"{name}, put median", ours["put_median_us"],
                                 fifo["put_median_us"], "us", higher_is_better=False))  # fmt: skip
    body = (
        table(mp_rows, "multiprocessing.Queue")
        + "\n\n"
        + table(fifo_rows, "faster-fifo 1.5")
        + f"\n\nMedian of {arguments.repeats} runs each; producers in forked processes, one "
        "consumer, each queue's batch get where it has one (ShmQueue.get_many, faster-fifo "
        "get_many; multiprocessing.Queue has none). Payloads: bytes up to 4 KiB, uint8 arrays "
        "at 1 MiB. A multiprocessing.Queue put only hands the item to a feeder thread, hence "
        "its sub-microsecond put. Goal: put median <= 10 us at 64 B."
    )
    body += (
        f"\n\nLoad average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
        "the run (2 cores; other work shares the machine)."
    )
    print(body)
    record("ShmQueue (the bus)", body, "python benchmarks/bench_queue.py")


if __name__ == "__main__":
    main()
