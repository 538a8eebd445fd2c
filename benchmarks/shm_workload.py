"""SharedMemoryArray workload, run unchanged against our library and the reference library.

Usage: python shm_workload.py ours|reference. Prints one JSON object of figures. Both libraries
share the API used here (create_array, connect, ``a[i]``, ``a[i] = v``, ``array()``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any

import numpy as np

if sys.argv[1] == "ours":
    from ataraxis_like import SharedMemoryArray
else:
    from ataraxis_data_structures import SharedMemoryArray  # type: ignore[no-redef]

ELEMENT_OPS = 200_000
SLICE_WRITES = 1_000
INCREMENTS_PER_PROCESS = 50_000


def create(name: str, prototype: np.ndarray) -> Any:
    if sys.argv[1] == "ours":
        handle = SharedMemoryArray.create_array(name, prototype, exist_ok=True)
    else:
        handle = SharedMemoryArray.create_array(name, prototype, exists_ok=True)
    handle.connect()  # the reference library needs this even in the creator; ours ignores it
    return handle


def increment(handle: Any, count: int, start: Any) -> None:
    handle.connect()
    start.wait()
    for _ in range(count):
        with handle.array() as values:
            values[0] += 1
    handle.disconnect()


def main() -> None:
    tag = f"bench_{os.getpid()}"
    figures: dict[str, float] = {}

    elements = create(tag + "_e", np.zeros(64, dtype=np.float64))
    began = time.perf_counter()
    for _ in range(ELEMENT_OPS):
        elements[5]
    figures["element_read_ops"] = ELEMENT_OPS / (time.perf_counter() - began)
    began = time.perf_counter()
    for _ in range(ELEMENT_OPS):
        elements[5] = 1.5
    figures["element_write_ops"] = ELEMENT_OPS / (time.perf_counter() - began)
    elements.destroy()

    chunk = np.random.default_rng(0).random(2**17)  # 1 MiB of float64
    block = create(tag + "_s", np.zeros(2**17, dtype=np.float64))
    began = time.perf_counter()
    for _ in range(SLICE_WRITES):
        block[0 : chunk.size] = chunk
    figures["slice_write_gbps"] = SLICE_WRITES * chunk.nbytes / (time.perf_counter() - began) / 1e9
    block.destroy()

    context = mp.get_context("fork")  # the reference creates its lock in the default context
    counter = create(tag + "_c", np.zeros(1, dtype=np.int64))
    start = context.Event()
    children = [
        context.Process(target=increment, args=(counter, INCREMENTS_PER_PROCESS, start))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    time.sleep(2.0)  # let both children finish importing; only the counted loop is timed
    began = time.perf_counter()
    start.set()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - began
    counter.connect()
    total = int(counter[0])
    assert total == 2 * INCREMENTS_PER_PROCESS, f"lost increments: {total}"
    figures["two_process_increments"] = total / elapsed
    counter.destroy()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
