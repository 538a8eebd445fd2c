"""The logger process: drain the ring into batch files, releasing entries only once on disk.

Entries are taken in place (marked with this process's pid) and released after their batch file
has been renamed into place (and fsynced in durable mode). If this process dies first, the ring
delivers those entries again to the next logger process; a batch that was written but not yet
released is written twice, and the copies share entry ids that compression removes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import QueueClosedError, QueueEmptyError
from ..shm._ring import Ring
from ..shm._supervisor import EXIT_WRITE_FAILED
from .format import (
    BATCH_PREFIX,
    INDEX_DTYPE,
    TEMPORARY_SUFFIX,
    batch_name,
    batch_parts,
    write_atomically,
)
from .package import PACKAGE_META

_POLL_SECONDS = 0.005
"""An idle logger looks for entries this often instead of being woken by each put, so a put
never pays for a wake-up; entries wait at most this long longer, far below the flush interval."""
_TAKE_SLICE = 256
"""Entries taken per lock hold: a put waits for at most one such slice (about 0.1 ms), not for a
whole batch of up to 65,536 entries."""
KIND_LOG_PACKAGE = 16


@dataclass(frozen=True)
class LoggerSettings:
    """What the logger process needs to know; pickled to it at start."""

    queue_name: str
    queue_token: int
    directory: Path
    logger_name: str
    onset_us: int
    session: int
    durable: bool
    flush_interval: float
    batch_bytes: int
    batch_entries: int
    file_mode: int

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["directory"] = str(self.directory)
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> LoggerSettings:
        fields: dict[str, Any] = json.loads(text)
        fields["directory"] = Path(fields["directory"])
        return cls(**fields)


def _next_sequence(directory: Path, session: int) -> int:
    """Continue numbering after the session's existing batches (a restarted logger)."""
    prefix = batch_name(session, 0)[: -len("0000000000.npy")]
    numbers = [
        int(path.name[len(prefix) : -4])
        for path in directory.glob(f"{prefix}*.npy")
        if path.name[len(prefix) : -4].isdigit()
    ]
    now = time.time()
    for leftover in directory.glob(f".{BATCH_PREFIX}*{TEMPORARY_SUFFIX}"):
        # A predecessor died mid-write. Another session's file may belong to a logger that
        # outlived its owner and is still draining, so those go only once they are stale.
        try:
            if leftover.name.startswith(f".{prefix}") or now - leftover.stat().st_mtime > 30:
                leftover.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
    return max(numbers, default=-1) + 1


_VIEW_BYTES = 64 * 1024
"""Batches whose entries average at least this much are written from views into the ring;
smaller payloads are first gathered into one array (one system call instead of thousands)."""


def _write(settings: LoggerSettings, sequence: int, rows: np.ndarray, ring: Ring) -> None:
    """Write the taken records ``rows`` describe as batch file ``sequence``.

    Only log packages are written; a record of another kind (something put into the logger's
    queue by name, not through its LogQueue) is not an entry and is released unwritten.
    """
    entries = (rows["kind"] == KIND_LOG_PACKAGE) & (rows["meta_length"] == PACKAGE_META.size)
    if not entries.all():
        rows = rows[entries]
        if not len(rows):
            return
    index = np.zeros(len(rows), dtype=INDEX_DTYPE)
    metas = rows["meta"]
    index["source_id"] = metas[:, 0]
    index["timestamp"] = np.ascontiguousarray(metas[:, 1:9]).view("<u8").reshape(-1)
    index["entry_id"] = rows["position"]
    index["length"] = rows["length"]
    payload_bytes = int(index["length"].sum(dtype=np.uint64))
    if len(rows) and payload_bytes >= _VIEW_BYTES * len(rows):
        payloads: list[Any] = ring.payload_views(rows)
    else:
        payloads = [ring.gather(rows)]
    parts = batch_parts(settings.onset_us, settings.session, sequence, index, payloads)
    write_atomically(settings.directory, batch_name(settings.session, sequence), parts,
                     settings.durable, settings.file_mode)  # fmt: skip


def run_logger(settings: LoggerSettings) -> None:
    """Body of the logger process. Exits 0 after draining a closed queue."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the owner, who stops us cleanly
    sequence = _next_sequence(settings.directory, settings.session)  # before mapping the ring:
    ring = Ring.attach(settings.queue_name, settings.queue_token)  # a mapped ring means ready
    ring.rescue_abandoned()
    pending: list[np.ndarray] = []  # rows of taken records, in the order taken
    pending_count = pending_bytes = 0
    first_at = 0.0
    closed = False
    while not (closed and not pending):
        wait = settings.flush_interval
        if pending:
            wait = max(0.0, first_at + settings.flush_interval - time.monotonic())
        rows = None
        if not closed:
            try:
                rows = ring.take_rows(  # in short lock holds
                    min(settings.batch_entries - pending_count, _TAKE_SLICE),
                    timeout=wait,
                    max_bytes=settings.batch_bytes - pending_bytes,
                    poll=_POLL_SECONDS,
                )
            except QueueEmptyError:
                pass
            except QueueClosedError:
                closed = True
        if rows is not None:
            if not pending:
                first_at = time.monotonic()
            pending.append(rows)
            pending_count += len(rows)
            pending_bytes += int(rows["length"].sum(dtype=np.uint64))
        full = pending_count >= settings.batch_entries or pending_bytes >= settings.batch_bytes
        due = pending and (closed or full or time.monotonic() - first_at >= settings.flush_interval)
        if not due:
            continue
        taken = pending[0] if len(pending) == 1 else np.concatenate(pending)
        try:
            _write(settings, sequence, taken, ring)
        except OSError as error:
            path = settings.directory / batch_name(settings.session, sequence)
            ring.give_back(taken["position"].tolist())
            ring.mark_failed(
                f"logger {settings.logger_name!r} cannot write {path}: {error.strerror or error} "
                f"(errno {error.errno}); its entries stay queued: fix the cause and call start()"
            )
            sys.exit(EXIT_WRITE_FAILED)
        ring.release_rows(taken)
        sequence += 1
        pending, pending_count, pending_bytes = [], 0, 0
    os._exit(0)  # skip interpreter teardown: everything that matters is on disk
