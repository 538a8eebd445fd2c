"""A demo producer process: paced LogPackages, live state in a shared array, put latencies.

Payloads are derived from (producer, index), so the demo can check every entry read back from
the archives byte for byte without keeping a copy.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import numpy as np

from .logs import LogPackage
from .recorder import Recorder
from .shm import SharedMemoryArray

STATE_COLUMNS = ("entries", "bytes", "last_timestamp_us", "done")
_STAMP = struct.Struct("<HQ")


def payload_for(producer: int, index: int, size: int) -> bytes:
    """The exact bytes producer ``producer`` sends as entry ``index``."""
    stamp = _STAMP.pack(producer, index)
    return (stamp * (size // len(stamp) + 1))[:size]


def _second_stats(stats: Recorder, second: int, latencies: np.ndarray) -> None:
    stats.push(
        second=second,
        entries=int(latencies.size),
        put_mean_us=float(latencies.mean() * 1e6),
        put_max_us=float(latencies.max() * 1e6),
    )


def produce(
    logger: Any,
    state: SharedMemoryArray,
    producer: int,
    count: int,
    rate: float,
    size: int,
    start: Any,
    results: Any,
    sink: Any,
) -> None:
    """Send ``count`` entries at ``rate`` per second; stream per-second statistics to the
    HDF5 sink through its client; report all latencies when done."""
    state.connect()
    queue = logger.input_queue
    stats = Recorder(producer=producer, payload_bytes=size, target_rate=rate)
    stream = stats.stream_to(sink, f"producers/p{producer}")
    latencies = np.empty(count, dtype=np.float64)
    clock = time.perf_counter
    start.wait()  # a barrier: all producers and the parent start together
    began = clock()
    sent_bytes = 0
    second, second_start = 0, 0
    for index in range(count):
        due = began + index / rate
        while (ahead := due - clock()) > 0:
            if ahead > 0.002:
                time.sleep(ahead - 0.001)
        data = payload_for(producer, index, size)
        package = LogPackage(producer, logger.timestamp_us(), data)
        before = clock()
        queue.put(package)
        latencies[index] = clock() - before
        sent_bytes += size
        if index % 64 == 0 or index == count - 1:
            state[producer] = (index + 1, sent_bytes, package.acquisition_time, 0)
        if before - began >= second + 1:
            _second_stats(stats, second, latencies[second_start:index])
            second, second_start = int(before - began), index
    _second_stats(stats, second, latencies[second_start:count])
    stream.close()
    elapsed = clock() - began
    state[producer, 3] = 1
    results.put((producer, elapsed, latencies))
    state.disconnect()
