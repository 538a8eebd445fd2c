"""Read back what a logger wrote, independently of the archive code."""

from __future__ import annotations

from pathlib import Path

from ataraxis_like.logs.format import read_batch


def collect_entries(directory: Path) -> tuple[dict[int, list[tuple[int, bytes]]], int]:
    """Entries per source sorted by timestamp, and how many duplicate copies were dropped.

    Copies share (session, entry_id) and must be byte-identical.
    """
    seen: dict[tuple[int, int], tuple[int, int, bytes]] = {}
    duplicates = 0
    for path in sorted(directory.glob("batch_*.npy")):
        batch = read_batch(path)
        offsets = batch.offsets
        for row, offset in zip(batch.index, offsets, strict=True):
            data = batch.payload[int(offset) : int(offset) + int(row["length"])].tobytes()
            key = (batch.session, int(row["entry_id"]))
            entry = (int(row["source_id"]), int(row["timestamp"]), data)
            if key in seen:
                assert seen[key] == entry, f"copies of entry {key} differ"
                duplicates += 1
            seen[key] = entry
    per_source: dict[int, list[tuple[int, bytes]]] = {}
    for source, timestamp, data in seen.values():
        per_source.setdefault(source, []).append((timestamp, data))
    for entries in per_source.values():
        entries.sort(key=lambda entry: entry[0])
    return per_source, duplicates
