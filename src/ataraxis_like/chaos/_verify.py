"""Counting on disk: every acknowledged entry and row exactly once, per (process, epoch) stream.

A stream's acknowledgement count ``n`` says that sequence numbers ``0 .. n-1`` were accepted, so
each must be on disk once; numbers at or above ``n`` may be there too (accepted, but their
process died before counting them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..logs.format import read_batch
from ._report import Tally

SEQUENCE_BITS = 40
_MASK = (1 << SEQUENCE_BITS) - 1


def count_streams(streams: np.ndarray, sequences: np.ndarray, acked: np.ndarray) -> Tally:
    """Tally items given as (flat stream index into ``acked``, sequence number) pairs."""
    acked = np.asarray(acked, dtype=np.int64).ravel()
    tally = Tally(acknowledged=int(acked.sum()), on_disk=int(streams.size))
    keys = (streams.astype(np.int64) << SEQUENCE_BITS) | sequences.astype(np.int64)
    unique, copies = np.unique(keys, return_counts=True)
    tally.duplicates = int((copies - 1).sum())
    stream, sequence = unique >> SEQUENCE_BITS, unique & _MASK
    known = (stream >= 0) & (stream < acked.size)
    within = np.zeros(unique.size, dtype=bool)
    within[known] = sequence[known] < acked[stream[known]]
    present = np.bincount(stream[within], minlength=acked.size)
    tally.lost = int((acked - present).sum())
    tally.unacknowledged_extra = int((~within).sum())
    return tally


def verify_logs(directory: Path, acked: np.ndarray) -> Tally:
    """Entries in the logger's batch files; a timestamp carries (epoch << 40 | sequence).

    Copies of one entry written twice (same session and entry id) are one entry.
    """
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for path in sorted(Path(directory).glob("batch_*.npy")):
        batch = read_batch(path)
        for row in batch.index:
            seen[(batch.session, int(row["entry_id"]))] = (
                int(row["source_id"]), int(row["timestamp"]),
            )  # fmt: skip
    pairs = np.array(list(seen.values()), dtype=np.int64).reshape(-1, 2)
    epochs = acked.shape[1]
    streams = pairs[:, 0] * epochs + (pairs[:, 1] >> SEQUENCE_BITS)
    return count_streams(streams, pairs[:, 1] & _MASK, acked)


def verify_rows(rows: np.ndarray, acked: np.ndarray) -> Tally:
    """Sink rows ``(client, epoch, sequence)`` against ``acked[client, epoch]``."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    epochs = acked.shape[1]
    return count_streams(rows[:, 0] * epochs + rows[:, 1], rows[:, 2], acked)
