"""Damaged archives: a reader returns the archive's data exactly or raises ArchiveFormatError.

Byte flips anywhere in an archive (stored or deflated) and a file truncated while a reader has it
open must never give a wrong timestamp, length or payload, and never kill the process (SIGBUS).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.logs import LogArchiveReader, compress_npy_logs
from ataraxis_like.logs.reader import ArchiveFormatError

from . import Entry, write_batch

pytestmark = pytest.mark.timeout(120)
ONSET = 1_700_000_000_000_000
FLIPS = 500


def _entries(count: int, seed: int) -> list[Entry]:
    rng = np.random.default_rng(seed)
    sizes = rng.choice([0, 1, 7, 64, 300, 2000], size=count)
    return [
        Entry(0, index * 10 + int(rng.integers(0, 5)),
              rng.integers(0, 4, int(size), dtype=np.uint8).tobytes(), 1, index)
        for index, size in enumerate(sizes)
    ]  # fmt: skip


def _archive(directory: Path, compress: bool, count: int = 300) -> tuple[Path, list[Entry]]:
    entries = _entries(count, seed=7)
    write_batch(directory, entries, ONSET, 0)
    path = compress_npy_logs(directory, compress=compress, remove_sources=True)[0]
    return path, sorted(entries, key=lambda e: (e.timestamp, e.entry_id))


def _everything(path: Path) -> tuple[object, ...]:
    """All a reader tells about an archive, read every way it offers."""
    reader = LogArchiveReader(path)
    by_index = [
        (stamp, payload.tobytes()) for stamp, payload in map(reader.__getitem__, range(len(reader)))
    ]
    iterated = [(stamp, payload.tobytes()) for stamp, payload in reader.iter_messages()]
    half = len(reader) // 2
    halves = [(stamp, payload.tobytes()) for stamp, payload in reader.iter_messages(half)]
    facts = (reader.source_id, reader.onset_us, reader.sessions, reader.timestamps.tolist(),
             reader.offsets.tolist(), reader.payload_bytes, by_index, iterated, halves)  # fmt: skip
    reader.close()
    return facts


@pytest.mark.parametrize("compress", [False, True], ids=["stored", "deflated"])
def test_byte_flips_give_the_same_data_or_a_typed_error(tmp_path: Path, compress: bool) -> None:
    path, entries = _archive(tmp_path, compress)
    assert LogArchiveReader(path).compressed == compress
    expected = _everything(path)
    assert expected[6] == [(e.timestamp, e.payload) for e in entries]
    pristine = path.read_bytes()
    rng = np.random.default_rng(16)
    damaged = tmp_path / "damaged" / path.name
    damaged.parent.mkdir()
    outcomes = {"same": 0, "typed error": 0}
    wrong: list[int] = []
    for position in rng.integers(0, len(pristine), FLIPS).tolist():
        data = bytearray(pristine)
        data[position] ^= int(rng.integers(1, 256))
        damaged.write_bytes(data)
        try:
            found = _everything(damaged)
        except ArchiveFormatError:
            outcomes["typed error"] += 1
            continue
        if found == expected:
            outcomes["same"] += 1
        else:
            wrong.append(position)
    assert not wrong, f"{len(wrong)} of {FLIPS} flips read back wrong data (at bytes {wrong[:10]})"
    assert outcomes["typed error"] > 0


_TRUNCATE = textwrap.dedent(
    """
    import os, sys
    from ataraxis_like.logs import LogArchiveReader
    from ataraxis_like.logs.reader import ArchiveFormatError

    path, cut, touch_first = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    reader = LogArchiveReader(path)
    expected = {}
    views = []
    if touch_first:
        for index in range(len(reader)):
            stamp, payload = reader[index]
            views.append(payload)
            expected[index] = (stamp, payload.tobytes())
    os.truncate(path, cut)
    same = errors = 0
    indices = range(len(reader))
    for attempt in (lambda: [(s, p.tobytes()) for s, p in reader.iter_messages()],
                    lambda: [bytes(view) for view in views],
                    lambda: [(s, p.tobytes()) for s, p in map(reader.__getitem__, indices)],
                    lambda: reader.timestamps.tolist()):
        try:
            attempt()
            same += 1
        except ArchiveFormatError:
            errors += 1
    print(same, errors)
    """
)


@pytest.mark.parametrize("touch_first", [False, True], ids=["fresh", "touched"])
@pytest.mark.parametrize("compress", [False, True], ids=["stored", "deflated"])
def test_truncated_while_open_gives_a_typed_error_not_sigbus(
    tmp_path: Path, compress: bool, touch_first: bool
) -> None:
    """Run in a child: SIGBUS would kill the process that reads."""
    path, _ = _archive(tmp_path, compress, count=2000)
    size = path.stat().st_size
    for cut in (size // 3, size // 2, size - 100):
        copy = tmp_path / f"cut{cut}" / path.name
        copy.parent.mkdir()
        shutil.copy(path, copy)
        done = subprocess.run(
            [sys.executable, "-c", _TRUNCATE, str(copy), str(cut), "1" if touch_first else "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"cut at {cut}: exit {done.returncode}: {done.stderr[-2000:]}"
        same, errors = map(int, done.stdout.split())
        assert same + errors == 4


def test_truncated_archive_is_refused_on_open(tmp_path: Path) -> None:
    path, _ = _archive(tmp_path, compress=False)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ArchiveFormatError):
            _everything(path)
