"""Logger and archive tests. Helpers here build batch files and expected archive contents
directly from entry lists, without a logger process, so archive tests are fast and exact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ataraxis_like.logs.format import INDEX_DTYPE, batch_name, batch_parts, write_atomically


@dataclass(frozen=True)
class Entry:
    """One logged entry as the logger would write it."""

    source: int
    timestamp: int
    payload: bytes
    session: int
    entry_id: int


def write_batch(directory: Path, entries: Sequence[Entry], onset_us: int, sequence: int) -> Path:
    """Write ``entries`` (all of one session) as batch file number ``sequence``."""
    sessions = {entry.session for entry in entries}
    assert len(sessions) <= 1, "a batch file holds one session"
    session = sessions.pop() if sessions else 0
    index = np.zeros(len(entries), dtype=INDEX_DTYPE)
    index["source_id"] = [entry.source for entry in entries]
    index["timestamp"] = [entry.timestamp for entry in entries]
    index["entry_id"] = [entry.entry_id for entry in entries]
    index["length"] = [len(entry.payload) for entry in entries]
    payloads = [np.frombuffer(entry.payload, dtype=np.uint8) for entry in entries]
    parts = batch_parts(onset_us, session, sequence, index, payloads)
    return write_atomically(directory, batch_name(session, sequence), parts, durable=False)


def expected_archive(
    entries: Iterable[Entry], onsets: dict[int, int], source: int
) -> tuple[int, list[tuple[int, int, int, bytes]]]:
    """The onset and ``(timestamp, session, entry_id, payload)`` rows an archive of ``source``
    must hold: one copy per (session, entry_id), rebased to the earliest onset, time ordered
    (ties by session, then entry id)."""
    unique = {(entry.session, entry.entry_id): entry for entry in entries}
    chosen = [entry for entry in unique.values() if entry.source == source]
    onset = min(onsets[entry.session] for entry in chosen)
    rows = [
        (entry.timestamp + onsets[entry.session] - onset, entry.session, entry.entry_id,
         entry.payload)
        for entry in chosen
    ]  # fmt: skip
    rows.sort(key=lambda row: row[:3])
    return onset, rows


def archive_rows(path: Path) -> list[tuple[int, int, int, bytes]]:
    """``(timestamp, session, entry_id, payload)`` of every entry, read with plain numpy."""
    with np.load(path, allow_pickle=False) as archive:
        stamps = archive["timestamps"].tolist()
        offsets = archive["offsets"].tolist()
        keys = archive["entry_keys"].tolist()
        payload = archive["payload"].tobytes()
    return [
        (stamp, key[0], key[1], payload[offsets[i] : offsets[i + 1]])
        for i, (stamp, key) in enumerate(zip(stamps, keys, strict=True))
    ]


def random_entries(
    rng: np.random.Generator, count: int, sources: int, session: int, max_bytes: int,
    first_id: int = 0,
) -> list[Entry]:  # fmt: skip
    """``count`` entries of one session with random sources, times (with ties) and payloads."""
    entries = []
    for number in range(count):
        size = int(rng.integers(0, max_bytes + 1))
        entries.append(
            Entry(int(rng.integers(0, sources)), int(rng.integers(0, count * 3)),
                  rng.integers(0, 256, size, dtype=np.uint8).tobytes(), session,
                  first_id + number * 40)
        )  # fmt: skip
    return entries


def read_range(reader: object, start: int, stop: int) -> list[tuple[int, bytes]]:
    """Worker for get_batches tests: read one range in another process."""
    from ataraxis_like.logs import LogArchiveReader

    assert isinstance(reader, LogArchiveReader)
    return [(stamp, payload.tobytes()) for stamp, payload in reader.iter_messages(start, stop)]


_COMPRESS_IN_CHILD = """
import json, sys
from ataraxis_like.logs import compress_npy_logs

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
before = kib("VmRSS:")
result = compress_npy_logs(sys.argv[1], **json.loads(sys.argv[2]))
extra = (kib("VmHWM:") - before) / 1024
print(json.dumps({"extra_mb": extra, "added": result.added, "duplicates": result.duplicates}))
"""


def compress_in_child(directory: Path, **options: object) -> dict[str, Any]:
    """Compress in a fresh interpreter; how much its resident memory rose at the peak (MB), and
    the result's counts. ru_maxrss would not do: Linux carries it over from the parent."""
    done = subprocess.run(
        [sys.executable, "-c", _COMPRESS_IN_CHILD, str(directory), json.dumps(options)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))
