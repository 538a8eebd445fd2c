"""The processes a chaos run kills: log producers and HDF5 sink clients (fork targets).

Each counts what was accepted in ``acked[index, epoch]`` only after the put or append returned,
so the count never runs ahead of what the logger or the sink accepted.
"""

from __future__ import annotations

import ctypes
import os
import signal
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import LockOwnerDiedWarning
from ..hdf5 import Hdf5Client
from ..logs import LogPackage
from ..shm import SharedMemoryArray
from ._verify import SEQUENCE_BITS

ROWS_KEY = "chaos/rows"
_FLUSH_EVERY = 4096
_PR_SET_PDEATHSIG = 1


def run_worker(parent: int, target: Callable[..., None], *arguments: Any) -> None:
    """Run ``target`` in a fork child that the kernel kills when the run's process dies: a
    worker never outlives a run that was killed or gave up on a deadlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    target(*arguments)


def produce(queue: Any, acked: SharedMemoryArray, producer: int, epoch: int, seed: int) -> None:
    """Put entries of mixed sizes forever; a timestamp carries (epoch << 40 | sequence)."""
    warnings.simplefilter("ignore", LockOwnerDiedWarning)  # a killed sibling held the lock
    acked.connect()
    rng = np.random.default_rng(seed)
    base = epoch << SEQUENCE_BITS
    sequence = 0
    while True:
        size = int(rng.choice([0, 16, 64, 1024, 65536]))
        payload = np.full(size, (producer + sequence) % 256, dtype=np.uint8)
        queue.put(LogPackage(producer, base | sequence, payload))
        acked[producer, epoch] = sequence + 1
        sequence += 1


def append_rows(
    client: Hdf5Client, acked: SharedMemoryArray, index: int, epoch: int, seed: int
) -> None:
    """Append ``(client, epoch, sequence)`` rows forever, one at a time or in blocks, and
    flush now and then (which waits for the writer, also across its restarts)."""
    warnings.simplefilter("ignore", LockOwnerDiedWarning)
    acked.connect()
    rng = np.random.default_rng(seed)
    sequence = flushed = 0
    while True:
        count = int(rng.choice([1, 1, 1, 8, 256]))
        rows = np.empty((count, 3), dtype=np.int64)
        rows[:, 0], rows[:, 1] = index, epoch
        rows[:, 2] = np.arange(sequence, sequence + count)
        if count == 1:
            client.append(ROWS_KEY, rows[0])
        else:
            client.extend(ROWS_KEY, rows)
        sequence += count
        acked[index, epoch] = sequence
        if sequence - flushed >= _FLUSH_EVERY:
            client.flush()
            flushed = sequence
