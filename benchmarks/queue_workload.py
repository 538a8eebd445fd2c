"""Queue workload: producers in child processes, one consumer in this process.

Usage: python queue_workload.py shm|mp|fifo PAYLOAD_BYTES PRODUCERS MESSAGES_PER_PRODUCER
``shm`` is our ShmQueue, ``mp`` multiprocessing.Queue, ``fifo`` faster-fifo (run under its own
virtual environment). Payloads are bytes up to 4 KiB and uint8 numpy arrays (frames) above.
Each consumer uses its queue's batch get when it has one. Prints one JSON object.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import sys
import time
from typing import Any

import numpy as np

KIND = sys.argv[1]
CAPACITY = 64 * 1024 * 1024


def make_queue() -> Any:
    if KIND == "shm":
        from ataraxis_like import ShmQueue

        return ShmQueue(capacity_bytes=CAPACITY)
    if KIND == "fifo":
        import faster_fifo

        return faster_fifo.Queue(max_size_bytes=CAPACITY)
    return mp.get_context("fork").Queue()


def make_payload(size: int) -> Any:
    if size <= 4096:
        return b"x" * size
    return np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)


def produce(queue: Any, size: int, count: int, start: Any, out: Any) -> None:
    payload = make_payload(size)
    latencies = []
    clock = time.perf_counter
    start.wait()
    for _ in range(count):
        began = clock()
        queue.put(payload, timeout=60)
        latencies.append(clock() - began)
    out.put(latencies)


def consume(queue: Any, total: int) -> None:
    received = 0
    if KIND == "shm":
        while received < total:
            received += len(queue.get_many(256, timeout=60))
    elif KIND == "fifo":
        while received < total:
            received += len(queue.get_many(max_messages_to_get=256, timeout=60))
    else:
        while received < total:
            queue.get(timeout=60)
            received += 1


def main() -> None:
    size, producers, count = (int(value) for value in sys.argv[2:5])
    context = mp.get_context("fork")
    queue = make_queue()
    start, out = context.Event(), context.Queue()
    processes = [
        context.Process(target=produce, args=(queue, size, count, start, out))
        for _ in range(producers)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # producers wait on the event; only the transfer is timed
    began = time.perf_counter()
    start.set()
    consume(queue, producers * count)
    elapsed = time.perf_counter() - began
    latencies = sorted(value for _ in processes for value in out.get())
    for process in processes:
        process.join()
    total = producers * count
    print(
        json.dumps(
            {
                "messages_per_s": total / elapsed,
                "mb_per_s": total * size / elapsed / 1e6,
                "put_median_us": statistics.median(latencies) * 1e6,
                "put_p99_us": latencies[int(0.99 * (len(latencies) - 1))] * 1e6,
            }
        )
    )
    if KIND == "shm":
        queue.close()


if __name__ == "__main__":
    main()
