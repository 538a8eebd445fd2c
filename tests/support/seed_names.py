"""A machine-wide lock for tests that run other libraries' documented code as written.

That code uses fixed shared-memory names ('unique_buffer'); two test runs on one machine
(xdist workers, or several checkouts) would take each other's names. Such tests hold an
exclusive flock on the /dev/shm directory itself, the namespace those names live in: it needs
no file of its own (nothing is left behind) and the kernel drops it if the holder dies.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ataraxis_like.shm._segment import SHM_DIRECTORY


@contextmanager
def fixed_names(seconds: float = 60.0) -> Iterator[None]:
    """Hold the lock for the block (waiting up to ``seconds`` for another run's block)."""
    descriptor = os.open(SHM_DIRECTORY, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "another test run held the fixed names"
                time.sleep(0.01)
        yield
    finally:
        os.close(descriptor)  # releases the lock
