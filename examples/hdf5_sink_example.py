"""HDF5 sink: one writer owns the file, any process appends, a reader watches live.

HDF5 allows one writer per file. With ``sharing="queue"`` the sink starts that writer as its own
process; producers in other processes append through ``sink.client()`` (a small picklable
handle), and a reader in yet another process opens the file with ``open_sink`` while rows arrive.

    python examples/hdf5_sink_example.py [PATH]
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ataraxis_like.hdf5 import Hdf5Sink, open_sink

ROWS_PER_PRODUCER = 20_000


def produce(client: Any, camera: int) -> None:
    """A producer process: one timestamp and one small frame summary per row."""
    for frame in range(ROWS_PER_PRODUCER):
        client.append(f"camera{camera}/time", time.time())
        client.append(f"camera{camera}/stats", np.array([frame, camera, frame % 7], np.int32))
    client.flush()  # returns once this producer's rows are in the file


def watch(path: str, stop: Any) -> None:
    """A reader process: the rows flushed so far, refreshed while the writer runs."""
    with open_sink(path) as reader:
        while not stop.is_set():
            reader.refresh()
            counts = {key: len(reader[key]) for key in sorted(reader.keys())}
            print(f"reader sees {counts}", flush=True)
            time.sleep(0.3)


def main(path: Path) -> int:
    context = mp.get_context("spawn")
    with Hdf5Sink(path, "w", sharing="queue") as sink:
        sink.set_attrs("/", experiment="example")
        sink.write("calibration", np.eye(3))
        stop = context.Event()
        reader = context.Process(target=watch, args=(str(path), stop))
        reader.start()
        producers = [context.Process(target=produce, args=(sink.client(), camera))
                     for camera in (1, 2)]  # fmt: skip
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join()
        stop.set()
        reader.join()
    with open_sink(path) as reader:
        stats = reader.load("camera1/stats")
        complete = all(len(reader[f"camera{c}/time"]) == ROWS_PER_PRODUCER for c in (1, 2))
        ordered = np.array_equal(stats[:, 0], np.arange(ROWS_PER_PRODUCER))
        print(f"final: {sorted(reader.keys())}, {len(stats)} rows per camera, "
              f"attrs {reader.attrs('/')}")  # fmt: skip
    print("every row arrived, in order" if complete and ordered else "ROWS MISSING")
    return 0 if complete and ordered else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as directory:
        sys.exit(main(Path(directory) / "example.h5"))
