"""Process bodies for the HDF5 sink tests (importable under spawn)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np


def append_rows(client: Any, index: int, count: int, start: Any) -> None:
    """Append ``count`` rows to a shared key and to this worker's own key, half one at a time
    and half in batches; every value says who sent it and in which order."""
    start.wait()
    base = index * 1_000_000
    half = count // 2
    for row in range(half):
        client.append("shared", base + row)
        client.append(f"own/{index}", row)
    for first in range(half, count, 500):
        rows = np.arange(first, min(first + 500, count), dtype=np.int64)
        client.extend("shared", base + rows)
        client.extend(f"own/{index}", rows)
    client.flush()


def append_forever(client: Any, key: str, started: Any) -> None:
    """Append 0, 1, 2, ... to ``key`` until killed."""
    row = 0
    while True:
        client.append(key, row)
        row += 1
        if row == 1000:
            started.set()


def try_bad_rows(client: Any, out: Any) -> None:
    """Send good rows, then rows that must be refused in this process; report the errors."""
    client.extend("frames", np.zeros((4, 3), dtype=np.float32))
    errors = []
    for bad in (np.zeros(4, dtype=np.float32), np.zeros(3, dtype=np.float64), "text"):
        try:
            client.append("frames", bad)
            errors.append(None)
        except ValueError as error:
            errors.append(f"{type(error).__name__}: {error}")
    client.set_attrs("frames", units="px")
    client.write("calibration", np.eye(2))
    client.append("names", "héllo")
    client.flush()
    out.put(errors)


def lock_mode_writer(path: str, index: int, count: int, start: Any) -> None:
    from ataraxis_like.hdf5 import Hdf5Sink

    start.wait()
    with Hdf5Sink(path, sharing="lock", buffer_bytes=4096) as sink:
        for row in range(count):
            sink.append("shared", index * 1_000_000 + row)
            sink.append(f"own/{index}", row)


def hold_locked(path: str, mode: str, holding: Any, release: Any) -> None:
    """Hold ``locked_file(path, mode)`` until ``release`` is set (or forever, to be killed)."""
    from ataraxis_like.hdf5 import locked_file

    with locked_file(path, mode, libver="latest") as handle:
        if mode != "r":
            handle.require_dataset("x", shape=(3,), dtype="i8")
            handle.swmr_mode = True
        holding.set()
        release.wait(60)


def poll_reader(path: str, key: str, ready: Any, idle: Any, out: Any) -> None:
    """Read ``key`` live: counts never shrink and values are 0..n-1. After ``idle`` (the writer
    stopped at n = idle's count) report how long the last rows took to become visible."""
    from ataraxis_like.hdf5 import open_sink

    while not Path(path).exists():
        time.sleep(0.001)
    seen, checks = 0, 0
    with open_sink(path) as reader:
        ready.set()
        waited_since = None
        while True:
            if key in reader:
                data = reader[key][:]
                if len(data) < seen or not np.array_equal(data, np.arange(len(data))):
                    out.put(("bad", seen, len(data)))
                    return
                seen = len(data)
                checks += 1
            if idle.value and waited_since is None:
                waited_since = time.monotonic()
            if waited_since is not None and seen >= idle.value:
                out.put(("ok", seen, checks, time.monotonic() - waited_since))
                return
            time.sleep(0.002)


def local_writer_until_killed(path: str) -> None:
    """Append in a local sink, flush at known counts and say so on stdout; wait to be killed."""
    from ataraxis_like.hdf5 import Hdf5Sink

    sink = Hdf5Sink(path, "a", flush_interval=60)
    row = 0
    for _batch in range(3):
        for _ in range(20_000):
            sink.append("rows", row)
            sink.append("frames", np.full(8, row % 30_000, dtype=np.int16))
            row += 1
        sink.flush()
        print(f"flushed {row}", flush=True)
    for _ in range(5_000):
        sink.append("rows", row)
        row += 1
    print("waiting", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)


def append_and_report(client: Any, key: str, out: Any) -> None:
    """Append one row to ``key`` and flush; put the error (or None) on ``out``."""
    try:
        client.append(key, 1.0)
        client.flush()
        out.put(None)
    except Exception as error:
        out.put(error)


def open_sink_and_report(path: str, out: Any) -> None:
    """Try to open a second sink on ``path``; put the error (or None) on ``out``."""
    from ataraxis_like.hdf5 import Hdf5Sink

    try:
        Hdf5Sink(path, "a", lock_timeout=0.2).close()
        out.put(None)
    except Exception as error:
        out.put(error)
