"""Functions run in child processes by the shm tests (importable under spawn)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from ataraxis_like import SharedMemoryArray


def write_value(handle: SharedMemoryArray, index: int, value: int) -> None:
    handle.connect()
    handle.write_data(index, value)
    handle.disconnect()


def increment(handle: SharedMemoryArray, count: int, start: Any) -> None:
    handle.connect()
    start.wait()
    for _ in range(count):
        with handle.array() as values:
            values[0] += 1
    handle.disconnect()


def hold_lock_forever(handle: SharedMemoryArray, holding: Any) -> None:
    """Take the lock, start a half-done update, tell the parent, and wait to be killed."""
    handle.connect()
    with handle.array() as values:
        values[0] = -1
        holding.set()
        while True:
            time.sleep(10)


def wait_for_lock(handle: SharedMemoryArray, ready: Any, results: Any) -> None:
    """Block on the lock (held by someone else) and report how long after the kill it came."""
    import warnings

    handle.connect()
    ready.set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with handle.array() as values:
            values[1] = 99
    acquired = time.monotonic()
    results.put((acquired, handle.holder_died, [str(w.category.__name__) for w in caught]))
    handle.disconnect()


def create_and_die(name: str, created: Any) -> None:
    SharedMemoryArray.create_array(name, [1, 2, 3])
    created.set()
    os.kill(os.getpid(), signal.SIGKILL)
