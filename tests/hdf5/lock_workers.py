"""Worker processes for the lock tests (importable by spawned children)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def steady_reader(
    path: str, lock: str | None, hold: float, inside: Any, peak: Any, turns: Any, stop: Any
) -> None:
    """Read the file under the shared lock again and again (no pause between turns) until
    ``stop``; count turns and the most readers seen inside at once."""
    from ataraxis_like.hdf5 import locked_file

    while not stop.is_set():
        with locked_file(path, "r", lock=lock, timeout=60) as handle:
            with inside.get_lock():
                inside.value += 1
                peak.value = max(peak.value, inside.value)
            handle["x"][:]
            time.sleep(hold)
            with inside.get_lock():
                inside.value -= 1
        with turns.get_lock():
            turns.value += 1


def wait_for_write_lock(path: str, lock: str | None, waiting: Any) -> None:
    """Wait for the write lock (forever), to be killed while waiting."""
    from ataraxis_like.hdf5._locks import open_lock

    rwlock = open_lock(path, lock)
    waiting.set()
    rwlock.acquire(exclusive=True)
    time.sleep(3600)


def hold_lock(path: str, lock: str | None, exclusive: bool, holding: Any) -> None:
    """Take the lock and keep it until killed."""
    from ataraxis_like.hdf5._locks import open_lock

    rwlock = open_lock(path, lock)
    rwlock.acquire(exclusive=exclusive, timeout=60)
    holding.set()
    time.sleep(3600)


def paused_writer(path: str, lock: str, holding: Any, resume: Any, out: Any) -> None:
    """Hold ``locked_file(path, "a")``, wait (the test pauses us past the lease meanwhile),
    then write a row and leave the block: report what leaving raised."""
    from ataraxis_like.hdf5 import locked_file

    try:
        with locked_file(path, "a", lock=lock, timeout=60) as handle:
            holding.set()
            resume.wait(60)
            handle["x"].resize((len(handle["x"]) + 1,))
            handle["x"][-1] = -1
        out.put("no error")
    except Exception as error:
        out.put(f"{type(error).__name__}: {error}")


def batch_writer(path: str, lock: str, writer: int, batches: int, rows: int, ready: Any) -> None:
    """A lock-mode sink writing ``batches`` flushes of ``rows`` rows each: value =
    writer * 1e9 + running row number, so a reader can tell batches and writers apart."""
    from ataraxis_like.hdf5 import Hdf5Sink

    with Hdf5Sink(path, "a", sharing="lock", lock=lock, flush_interval=3600,
                  buffer_bytes=rows * 8 * 2, lock_timeout=60) as sink:  # fmt: skip
        ready.set()
        for batch in range(batches):
            sink.extend(
                "rows", writer * 1_000_000_000 + np.arange(batch * rows, (batch + 1) * rows)
            )
            sink.flush()
