"""HDF5 sink workload: one case against our sink or raw h5py, in a fresh process.

Usage: python hdf5_workload.py ours|raw CASE
CASE: append (one call per scalar row), extend (1,000-row batches), mib (1 MiB array rows),
clients (scalar rows from 2 client processes through the queue's writer; ours only).
Prints one JSON object: rows_per_s and mb_per_s, timed until everything is flushed to the file.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ataraxis_like.hdf5 import Hdf5Sink

IMPLEMENTATION, CASE = sys.argv[1], sys.argv[2]
COUNTS = {  # rows per run: each run lasts about a second or more at its own speed
    ("ours", "append"): 2_000_000, ("raw", "append"): 20_000,
    ("ours", "extend"): 20_000_000, ("raw", "extend"): 20_000_000,
    ("ours", "mib"): 1_000, ("raw", "mib"): 1_000,
    ("ours", "clients"): 200_000,
}  # fmt: skip
ROW_ELEMENTS = 1 << 17  # float64: 1 MiB


def raw(path: Path, count: int) -> float:
    """h5py as a user would write it: resize and write per call, one file, chunked datasets."""
    began = time.perf_counter()
    with h5py.File(path, "w", libver="latest") as handle:
        if CASE == "append":
            dataset = handle.create_dataset("x", (0,), maxshape=(None,), chunks=(32768,),
                                            dtype="f8")  # fmt: skip
            for row in range(count):
                dataset.resize((row + 1,))
                dataset[row] = float(row)
        elif CASE == "extend":
            dataset = handle.create_dataset("x", (0,), maxshape=(None,), chunks=(32768,),
                                            dtype="f8")  # fmt: skip
            batch = np.arange(1000, dtype=np.float64)
            for start in range(0, count, 1000):
                dataset.resize((start + 1000,))
                dataset[start:] = batch
        else:
            dataset = handle.create_dataset("x", (0, ROW_ELEMENTS), maxshape=(None, ROW_ELEMENTS),
                                            chunks=(1, ROW_ELEMENTS), dtype="f8")  # fmt: skip
            row_data = np.ones(ROW_ELEMENTS)
            for row in range(count):
                dataset.resize((row + 1, ROW_ELEMENTS))
                dataset[row] = row_data
    return time.perf_counter() - began


def ours(path: Path, count: int) -> float:
    began = time.perf_counter()
    with Hdf5Sink(path, "w") as sink:
        if CASE == "append":
            for row in range(count):
                sink.append("x", float(row))
        elif CASE == "extend":
            batch = np.arange(1000, dtype=np.float64)
            for _start in range(0, count, 1000):
                sink.extend("x", batch)
        else:
            row_data = np.ones(ROW_ELEMENTS)
            for _row in range(count):
                sink.append("x", row_data)
    return time.perf_counter() - began


def produce(client: Any, index: int, count: int, ready: Any, start: Any, done: Any) -> None:
    client.flush()  # attaches to the queue: only the transfer is timed
    ready.put(index)
    start.wait()
    key = "x"
    for row in range(count):
        client.append(key, float(row))
    client.flush()
    done.put(index)


def clients(path: Path, count: int) -> float:
    context = mp.get_context("fork")
    with Hdf5Sink(path, "w", sharing="queue") as sink:
        sink.append("x", 0.0)
        sink.flush()
        ready, start, done = context.Queue(), context.Event(), context.Queue()
        processes = [
            context.Process(
                target=produce, args=(sink.client(), index, count // 2, ready, start, done)
            )
            for index in range(2)
        ]
        for process in processes:
            process.start()
        for _ in processes:
            ready.get()
        began = time.perf_counter()
        start.set()
        for _ in processes:
            done.get()
        elapsed = time.perf_counter() - began
        for process in processes:
            process.join()
    return elapsed


def main() -> None:
    count = COUNTS[(IMPLEMENTATION, CASE)]
    with tempfile.TemporaryDirectory(dir=Path.home()) as directory:
        path = Path(directory) / "bench.h5"
        if CASE == "clients":
            elapsed = clients(path, count)
        else:
            elapsed = (ours if IMPLEMENTATION == "ours" else raw)(path, count)
        with h5py.File(path, "r") as handle:
            stored = len(handle["x"])
    assert stored >= count, f"only {stored} of {count} rows stored"
    row_bytes = ROW_ELEMENTS * 8 if CASE == "mib" else 8
    print(
        json.dumps({"rows_per_s": count / elapsed, "mb_per_s": count * row_bytes / elapsed / 1e6})
    )


if __name__ == "__main__":
    main()
