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


def map_and_wait(name: str, mapped: Any, release: Any) -> None:
    """Attach ``name`` by name, say so, and keep it mapped until released."""
    handle = SharedMemoryArray.attach(name)
    mapped.set()
    release.wait(60)
    handle.disconnect()


def create_and_wait(name: str, created: Any, release: Any) -> None:
    """Create ``name``, say so, and stay alive (its creator) until released."""
    handle = SharedMemoryArray.create_array(name, [5, 6])
    created.set()
    release.wait(60)
    handle.destroy()


def destroy_from_here(handle: SharedMemoryArray, results: Any) -> None:
    """Connect, disconnect and try destroy() in a process that did not create the array."""
    handle.connect()
    handle.disconnect()
    try:
        handle.destroy()
        results.put("destroyed")
    except PermissionError as error:
        results.put(type(error).__name__)
