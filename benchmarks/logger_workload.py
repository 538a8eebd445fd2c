"""DataLogger workload, run unchanged against our library and the reference library.

Usage: python logger_workload.py ours|reference PAYLOAD_BYTES PRODUCERS ENTRIES_PER_PRODUCER
[DURABLE [NUMBERS]]: DURABLE "durable" fsyncs every batch file (ours); NUMBERS "int" or "numpy".
Or: python logger_workload.py ours|reference package (the cost of building one LogPackage).
Prints one JSON object: end-to-end entries/s and MB/s (first put until stop() returns with
everything on disk) and the producers' put latency (median and p99, microseconds).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

IMPLEMENTATION = sys.argv[1]
if IMPLEMENTATION == "ours":
    from ataraxis_like.logs import DataLogger, LogPackage
else:
    from ataraxis_data_structures import DataLogger, LogPackage  # type: ignore[no-redef]


NUMBERS = sys.argv[6] if len(sys.argv) > 6 else "numpy"
"""How producers pass source ids and times: "numpy" scalars (the reference library needs them)
or plain Python "int"s (what our LogPackage takes as well)."""


def produce(queue: Any, source: int, payload_bytes: int, count: int, start: Any, out: Any) -> None:
    payload = np.random.default_rng(source).integers(0, 255, payload_bytes, dtype=np.uint8)
    latencies = []
    clock = time.perf_counter
    start.wait()
    if NUMBERS == "int":
        for index in range(count):
            package = LogPackage(source, index, payload)
            began = clock()
            queue.put(package)
            latencies.append(clock() - began)
    else:
        numpy_source = np.uint8(source)
        for index in range(count):
            package = LogPackage(numpy_source, np.uint64(index), payload)
            began = clock()
            queue.put(package)
            latencies.append(clock() - began)
    out.put(latencies)


def count_entries(directory: Path) -> int:
    if IMPLEMENTATION == "ours":
        from ataraxis_like.logs.format import read_batch

        return sum(len(read_batch(path).index) for path in directory.glob("batch_*.npy"))
    return sum(1 for _ in directory.glob("*.npy"))


def building() -> dict[str, float]:
    """Microseconds (CPU) to build one LogPackage, with Python ints and with numpy scalars, and
    to build a tuple of the same three values: median of rounds that take turns."""
    payload = np.zeros(64, dtype=np.uint8)
    source, time_value = np.uint8(1), np.uint64(12345)
    burst = 100_000

    def of_ints() -> None:
        for index in range(burst):
            LogPackage(1, index, payload)

    def of_numpy() -> None:
        for _ in range(burst):
            LogPackage(source, time_value, payload)

    def of_tuple() -> None:
        for index in range(burst):
            (1, index, payload)  # noqa: B018

    cases = {"package_int_us": of_ints, "package_numpy_us": of_numpy, "tuple_us": of_tuple}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(7):
        for name, loop in cases.items():
            began = time.process_time()
            loop()
            times[name].append((time.process_time() - began) / burst * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    if sys.argv[2] == "package":
        print(json.dumps(building()))
        return
    payload_bytes, producers, count = (int(value) for value in sys.argv[2:5])
    context = mp.get_context("fork")
    with tempfile.TemporaryDirectory(dir=Path.home()) as directory:
        if IMPLEMENTATION == "ours":
            durable = len(sys.argv) > 5 and sys.argv[5] == "durable"
            logger = DataLogger(Path(directory), "bench", durable=durable)
        else:
            logger = DataLogger(Path(directory), "bench")
        logger.start()
        start, out = context.Event(), context.Queue()
        processes = [
            context.Process(
                target=produce,
                args=(logger.input_queue, source, payload_bytes, count, start, out),
            )
            for source in range(producers)
        ]
        for process in processes:
            process.start()
        time.sleep(1.0)  # producers are ready and waiting; only the transfer is timed
        began = time.perf_counter()
        start.set()
        latencies = [value for _ in processes for value in out.get()]
        for process in processes:
            process.join()
        logger.stop()
        elapsed = time.perf_counter() - began
        written = count_entries(logger.output_directory)
        if IMPLEMENTATION == "ours":
            logger.close()
    total = producers * count
    assert written >= total, f"only {written} of {total} entries on disk"
    latencies.sort()
    print(
        json.dumps(
            {
                "entries_per_s": total / elapsed,
                "mb_per_s": total * payload_bytes / elapsed / 1e6,
                "put_median_us": statistics.median(latencies) * 1e6,
                "put_p99_us": latencies[int(0.99 * (len(latencies) - 1))] * 1e6,
            }
        )
    )


if __name__ == "__main__":
    main()
