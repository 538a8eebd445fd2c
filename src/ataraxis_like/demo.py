"""The ``ataraxis-like demo`` job: producers share live state and the totals are proven exact.

Producer processes increment their own slot and a shared total in one SharedMemoryArray under
its robust lock for a fixed time; at the end the shared total must equal the sum of the slots,
which it can only do if no update was lost to a race. Later stages of the pipeline join as the
library grows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

from .shm import SharedMemoryArray


def _produce(state: SharedMemoryArray, slot: int, seconds: float, start: Any) -> None:
    state.connect()
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            with state.array() as values:
                values[0] += 1
                values[slot] += 1
    state.disconnect()


def run_demo(arguments: argparse.Namespace) -> int:
    producers = arguments.producers
    if producers < 1:
        raise SystemExit("ataraxis-like: error: --producers must be at least 1")
    name = f"demo_{os.getpid()}"
    context = mp.get_context("spawn")
    with SharedMemoryArray.create_array(name, np.zeros(producers + 1, dtype=np.int64)) as state:
        start = context.Event()
        processes = [
            context.Process(target=_produce, args=(state, slot, arguments.seconds, start))
            for slot in range(1, producers + 1)
        ]
        for process in processes:
            process.start()
        if not arguments.json:
            print(f"{producers} producer processes updating shared array {name!r} ...")
        began = time.monotonic()
        start.set()
        for process in processes:
            process.join()
        elapsed = time.monotonic() - began
        values = state.read_data((0,), convert_output=True)
    total, per_producer = values[0], values[1:]
    lost = sum(per_producer) - total
    summary = {
        "producers": producers,
        "seconds": round(elapsed, 3),
        "locked_updates": total,
        "updates_per_second": round(total / elapsed),
        "per_producer": per_producer,
        "updates_lost": lost,
        "failed_producers": sum(1 for process in processes if process.exitcode != 0),
    }
    if arguments.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"  {key:<20} {value}")
    return 0 if lost == 0 and summary["failed_producers"] == 0 else 1
