"""HDF5 sink against raw h5py, and the file locks against h5pySWMR's design, in the same run.

python benchmarks/bench_hdf5.py [--repeats N] [--locks-only] [--h5pyswmr-python PYTHON]

Each sink figure is the median of N runs of benchmarks/hdf5_workload.py, every run in a fresh
process, timed until all rows are flushed to the file (the sink's close() included). The lock
figures come from benchmarks/hdf5_lock_workload.py against a redis-server this script starts on
a free loopback port (skipped, with a note, when redis-server is not installed). h5pySWMR is
not on PyPI, so its design is measured as a re-implementation of its algorithm; give
``--h5pyswmr-python`` an interpreter that can import the h5pySWMR package to measure the package
itself beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from _harness import BENCHMARKS, Row, median_runs, record, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--locks-only", action="store_true", help="only the lock figures")
    parser.add_argument("--h5pyswmr-python", help="an interpreter that imports h5pySWMR")
    arguments = parser.parse_args()
    if not arguments.locks_only:
        sink(arguments)
    locks(arguments.repeats, arguments.h5pyswmr_python)


def sink(arguments: argparse.Namespace) -> None:
    script = BENCHMARKS / "hdf5_workload.py"
    load_before = os.getloadavg()[0]

    def run(implementation: str, case: str) -> dict[str, float]:
        return median_runs(sys.executable, script, [implementation, case], arguments.repeats)

    append_ours, append_raw = run("ours", "append"), run("raw", "append")
    extend_ours, extend_raw = run("ours", "extend"), run("raw", "extend")
    mib_ours, mib_raw = run("ours", "mib"), run("raw", "mib")
    clients = run("ours", "clients")
    rows = [
        Row("one append per scalar row", append_ours["rows_per_s"], append_raw["rows_per_s"],
            "rows/s", goal=100.0),
        Row("extend, 1,000-row batches", extend_ours["rows_per_s"], extend_raw["rows_per_s"],
            "rows/s", goal=0.5),
        Row("1 MiB array rows", mib_ours["mb_per_s"], mib_raw["mb_per_s"], "MB/s", goal=0.7),
        Row("scalar rows from 2 client processes (raw: one process, one row per call)",
            clients["rows_per_s"], append_raw["rows_per_s"], "rows/s"),
    ]  # fmt: skip
    goal = 200_000
    verdict = "met" if clients["rows_per_s"] >= goal else "MISSED"
    body = table(rows, "raw h5py")
    body += (
        f"\n\nTwo client processes together: {clients['rows_per_s']:,.0f} rows/s against the "
        f"goal of {goal:,} rows/s ({verdict}); raw h5py cannot take rows from other processes at "
        "all, so its single-process one-row-per-call rate is shown for scale.\n\n"
        f"Median of {arguments.repeats} runs each, every run in a fresh process, timed until the "
        "rows are in the file (our close() included). Raw h5py resizes and writes a chunked "
        "dataset per call (chunks of 32,768 rows; one row per chunk for 1 MiB rows). The sink "
        "buffers rows per key and writes blocks; clients put one record per row into the "
        "shared-memory ring and the writer process commits them with its journal."
    )
    body += (
        f"\n\nLoad average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the "
        "run: other processes shared the 2 cores, which costs the 3-process client figure most."
    )
    print(body)
    record("HDF5 sink", body, "python benchmarks/bench_hdf5.py")


@contextmanager
def redis_server() -> Iterator[int | None]:
    """A throwaway redis-server on a free loopback port (None when none is installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", directory], stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield port
        finally:
            server.terminate()
            server.wait(30)


def locks(repeats: int, h5pyswmr_python: str | None) -> None:
    """Writer wait under 4 readers, lock round trip and one-row appends, with each lock."""
    script = BENCHMARKS / "hdf5_lock_workload.py"
    load_before = os.getloadavg()[0]
    with redis_server() as port:

        def run(case: str, lock: str, python: str = sys.executable) -> dict[str, float]:
            return median_runs(python, script, [case, lock, str(port or 0)], repeats)

        before, after = run("wait", "main"), run("wait", "flock")
        trip_flock, appends_flock = run("roundtrip", "flock"), run("appends", "flock")
        raw_open, raw_kept = run("appends", "none"), run("appends", "kept")
        sink_flock = run("sink", "flock")
        rows = [
            Row("writer wait with 4 readers, flock: median (vs before: main's flock)",
                after["median_ms"], before["median_ms"], "ms", higher_is_better=False),
            Row("writer wait with 4 readers, flock: p99 (vs before: main's flock)",
                after["p99_ms"], before["p99_ms"], "ms", higher_is_better=False),
            Row("one-row appends via compat.h5pyswmr, flock (vs raw h5py, open per call, "
                "no lock)", appends_flock["rows_per_s"], raw_open["rows_per_s"], "rows/s"),
            Row("one-row appends, raw h5py open per call (vs raw h5py, file kept open)",
                raw_open["rows_per_s"], raw_kept["rows_per_s"], "rows/s"),
            Row("one-row appends from 2 processes via lock-mode Hdf5Sink, flock (vs raw h5py, "
                "file kept open, one process)", sink_flock["rows_per_s"], raw_kept["rows_per_s"],
                "rows/s"),
        ]  # fmt: skip
        notes = [
            f"Before: {before['timeouts']:.0f} of {before['tries']:.0f} writer tries timed out "
            f"at 2 s (counted as 2 s); after: {after['timeouts']:.0f}. flock round trip "
            f"{trip_flock['us']:.1f} us."
        ]
        if port is not None:
            redis_wait, model_wait = run("wait", "redis"), run("wait", "h5pyswmr")
            trip_redis, trip_model = run("roundtrip", "redis"), run("roundtrip", "h5pyswmr")
            appends_redis, appends_model = run("appends", "redis"), run("appends", "h5pyswmr")
            sink_redis = run("sink", "redis")
            rows += [
                Row("writer wait with 4 readers, Redis: median (vs h5pySWMR design)",
                    redis_wait["median_ms"], model_wait["median_ms"], "ms",
                    higher_is_better=False),
                Row("writer wait with 4 readers, Redis: p99 (vs h5pySWMR design)",
                    redis_wait["p99_ms"], model_wait["p99_ms"], "ms", higher_is_better=False),
                Row("write lock round trip, Redis (vs h5pySWMR design)", trip_redis["us"],
                    trip_model["us"], "us", higher_is_better=False),
                Row("one-row appends via compat.h5pyswmr, Redis (vs h5pySWMR design)",
                    appends_redis["rows_per_s"], appends_model["rows_per_s"], "rows/s"),
                Row("one-row appends from 2 processes via lock-mode Hdf5Sink, Redis (vs "
                    "h5pySWMR design)", sink_redis["rows_per_s"], appends_model["rows_per_s"],
                    "rows/s"),
            ]  # fmt: skip
            notes.append(
                f"Redis writer tries timed out: {redis_wait['timeouts']:.0f} (ours), "
                f"{model_wait['timeouts']:.0f} (h5pySWMR design)."
            )
            if h5pyswmr_python:
                real = {case: run(case, "h5pyswmr-real", h5pyswmr_python)
                        for case in ("wait", "roundtrip", "appends")}  # fmt: skip
                rows += [
                    Row("h5pySWMR package: writer wait median (vs its re-implementation)",
                        real["wait"]["median_ms"], model_wait["median_ms"], "ms",
                        higher_is_better=False),
                    Row("h5pySWMR package: write lock round trip (vs its re-implementation)",
                        real["roundtrip"]["us"], trip_model["us"], "us",
                        higher_is_better=False),
                    Row("h5pySWMR package: one-row appends (vs its re-implementation)",
                        real["appends"]["rows_per_s"], appends_model["rows_per_s"], "rows/s"),
                ]  # fmt: skip
                notes.append(
                    "The h5pySWMR package rows ran under another interpreter where the package "
                    "is installed (--h5pyswmr-python)."
                )
        else:
            notes.append("redis-server is not installed: the Redis rows were skipped.")
    body = table(rows, "reference (named in the row)")
    body += (
        "\n\n"
        + " ".join(notes)
        + (
            " Four reader processes take the shared lock, hold it 5 ms and take it again at once; "
            "a writer asks 20 times, 50 ms apart, for up to 2 s each. Appends: 300 rows, each a "
            "resize and a write, each of those a locked open-write-close of the file (h5pySWMR's "
            "way). Lock-mode sinks: 2 processes append 200,000 rows each, one call per row, "
            "buffered and written in locked batches (every 0.25 s or 1 MiB). h5pySWMR is not on "
            "PyPI, so 'h5pySWMR design' is its algorithm (locking.py: "
            "the second readers-writers problem over SETNX locks polled every millisecond) "
            "re-implemented in benchmarks/hdf5_lock_workload.py, not the package itself. "
            f"Median of {repeats} runs each. Load average (1 min) {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after."
        )
    )
    print(body)
    command = "python benchmarks/bench_hdf5.py --locks-only"
    record("HDF5 locks", body, command + (" --h5pyswmr-python PYTHON" if h5pyswmr_python else ""))


if __name__ == "__main__":
    main()
