"""SIGKILL a compression at chosen and random moments, then run it again: every entry must end
up archived exactly once, byte for byte, and no batch file may be lost before that."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.logs import LogArchiveReader, compress_npy_logs

from . import Entry, archive_rows, expected_archive, write_batch

pytestmark = pytest.mark.timeout(60)
ONSETS = {1: 1_700_000_000_000_000, 2: 1_700_000_000_900_000}
COMPRESS = (
    "import sys\n"
    "from ataraxis_like.logs import compress_npy_logs\n"
    "compress_npy_logs(sys.argv[1], remove_sources=True, compress=True, max_workers=1)\n"
)


def session_entries(session: int, count: int) -> list[Entry]:
    """Two sources, 64 KiB payloads that deflate slowly (about a second for the whole log)."""
    rng = np.random.default_rng(session)
    blocks = [rng.integers(0, 16, 65536, dtype=np.uint8).tobytes() for _ in range(8)]
    return [
        Entry(n % 2, n * 100, blocks[n % 8][: 65536 - n], session, 1000 + n * 8)
        for n in range(count)
    ]


def write_session(directory: Path, entries: list[Entry], per_batch: int = 40) -> None:
    session = entries[0].session
    for sequence, first in enumerate(range(0, len(entries), per_batch)):
        write_batch(directory, entries[first : first + per_batch], ONSETS[session], sequence)
    # a logger that died after writing a batch but before releasing it writes it again
    write_batch(directory, entries[:10], ONSETS[session], len(entries) // per_batch + 1)


def wait_for(condition: object, process: subprocess.Popen[bytes], seconds: float = 20) -> bool:
    """Poll until ``condition()``; False if the process finished first."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the compression never reached the kill point"
        time.sleep(0.001)
    return True


def temporaries(directory: Path) -> list[Path]:
    return list(directory.glob(".*_log.npz*.tmp"))


def archives(directory: Path) -> set[tuple[str, int]]:
    return {(path.name, path.stat().st_ino) for path in directory.glob("*_log.npz")}


def kill_and_rerun(directory: Path, point: str) -> tuple[bool, list[str]]:
    """Start a compression in a child, SIGKILL it at ``point``, then finish in this process.

    ``temporary``: once an archive is being written; ``renamed``: once one archive has been
    renamed into place (the other source is then being written); ``random-N``: after a delay
    drawn from seed N, anywhere from the interpreter's start to the end of the job.
    """
    before = archives(directory)
    process = subprocess.Popen([sys.executable, "-c", COMPRESS, str(directory)])
    if point == "temporary":
        killed = wait_for(lambda: temporaries(directory), process)
    elif point == "renamed":
        killed = wait_for(lambda: archives(directory) - before, process)
    else:
        time.sleep(random.Random(int(point.split("-")[1])).uniform(0.0, 1.5))
        killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = sorted(path.name for path in directory.iterdir())
    result = compress_npy_logs(directory, remove_sources=True)
    assert not result.problems
    return killed, left


def check(directory: Path, entries: list[Entry]) -> None:
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [
        "0_log.npz", "1_log.npz"
    ]  # fmt: skip
    for source in (0, 1):
        onset, rows = expected_archive(entries, ONSETS, source)
        assert archive_rows(directory / f"{source}_log.npz") == rows
        assert LogArchiveReader(directory / f"{source}_log.npz").onset_us == onset


@pytest.mark.parametrize("merge", [False, True], ids=["fresh", "merge"])
@pytest.mark.parametrize("point", ["temporary", "renamed", "random-1", "random-2"])
def test_kill_during_compression_then_rerun_loses_nothing(
    tmp_path: Path, point: str, merge: bool
) -> None:
    first = session_entries(1, 240)
    second = session_entries(2, 240) if merge else []
    write_session(tmp_path, first)
    if merge:
        compress_npy_logs(tmp_path, remove_sources=True)
        old_counts = {s: len(LogArchiveReader(tmp_path / f"{s}_log.npz")) for s in (0, 1)}
        write_session(tmp_path, second)
    killed, left = kill_and_rerun(tmp_path, point)
    if point in ("temporary", "renamed"):
        assert killed, "the child finished before it could be killed at that point"
    if point == "temporary":
        assert any(name.endswith("_log.npz.tmp") for name in left)
        assert any(name.startswith("batch_") for name in left)
        if merge:  # the previous archives were not touched by the killed run
            assert sorted(n for n in left if n.endswith("_log.npz")) == ["0_log.npz", "1_log.npz"]
    check(tmp_path, first + second)
    if merge:
        assert all(len(LogArchiveReader(tmp_path / f"{s}_log.npz")) > old_counts[s] for s in (0, 1))
    assert temporaries(tmp_path) == []
