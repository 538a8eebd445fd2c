"""A writer SIGKILLed mid-run: reopen with every flushed row, without h5clear."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import Hdf5Sink, RecoveryError, open_sink, recover
from ataraxis_like.hdf5.recover import lookup3, status_flags

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def _killed_local_writer(path: Path) -> int:
    """Run a local sink that flushed 60,000 rows and buffered 5,000 more; SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-c",
         f"from tests.hdf5.workers import local_writer_until_killed as run; run({str(path)!r})"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    flushed = 0
    for line in process.stdout:
        if line.startswith("flushed"):
            flushed = int(line.split()[1])
        if line.startswith("waiting"):
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert status_flags(path) != 0, "the killed writer should leave its flags set"
    return flushed


def _check_rows(path: Path, flushed: int, extra: int = 0) -> None:
    with open_sink(path) as reader:
        assert np.array_equal(reader.load("rows"), np.arange(flushed + extra))
        frames = reader.load("frames")
        assert frames.shape == (flushed, 8)
        assert np.array_equal(frames[:, 0], np.arange(flushed) % 30_000)


def test_plain_h5py_refuses_the_file_of_a_killed_writer(h5_path: Path) -> None:
    _killed_local_writer(h5_path)
    with pytest.raises(OSError, match="h5clear"):
        h5py.File(h5_path, "r")
    with pytest.raises(OSError, match="h5clear"):
        h5py.File(h5_path, "r+", locking=False)


def test_the_next_sink_reopens_with_every_flushed_row(h5_path: Path) -> None:
    flushed = _killed_local_writer(h5_path)
    assert flushed == 60_000
    with Hdf5Sink(h5_path, "a") as sink:
        sink.append("rows", flushed)
    assert status_flags(h5_path) == 0
    _check_rows(h5_path, flushed, extra=1)


def test_recover_function_and_command(h5_path: Path) -> None:
    flushed = _killed_local_writer(h5_path)
    report = recover(h5_path)
    assert report.recovered
    assert report.datasets["rows"] == (flushed,)
    _check_rows(h5_path, flushed)
    with h5py.File(h5_path, "r") as handle:
        assert len(handle["rows"]) == flushed
    assert not recover(h5_path).recovered


def test_recover_command_line(h5_path: Path) -> None:
    flushed = _killed_local_writer(h5_path)
    command = [sys.executable, "-m", "ataraxis_like", "recover", str(h5_path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "recovered" in done.stdout
    _check_rows(h5_path, flushed)
    missing = subprocess.run([*command[:-1], str(h5_path) + ".nope"], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert missing.returncode == 3
    assert missing.stderr.count("\n") == 1
    h5_path.with_name("plain.txt").write_text("not hdf5")
    text = subprocess.run([*command[:-1], str(h5_path.with_name("plain.txt"))],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert text.returncode == 3
    assert "not an HDF5 file" in text.stderr


def test_a_live_writer_is_never_recovered(h5_path: Path) -> None:
    """A foreign SWMR writer (not using our lock) still has the file open: refuse."""
    script = (
        "import h5py, sys\n"
        f"f = h5py.File({str(h5_path)!r}, 'w', libver='latest')\n"
        "f.create_dataset('x', data=[1, 2])\n"
        "f.swmr_mode = True\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "open"
        with pytest.raises(RecoveryError, match=f"pid \\[{process.pid}\\]"):
            recover(h5_path)
    finally:
        process.kill()
        process.wait(10)
    assert recover(h5_path).recovered


def test_lookup3_matches_the_checksum_hdf5_writes(h5_path: Path) -> None:
    with h5py.File(h5_path, "w", libver="latest") as handle:
        handle.create_dataset("x", data=np.arange(3))
    head = h5_path.read_bytes()[:48]
    assert lookup3(head[:44]) == struct.unpack_from("<I", head, 44)[0]
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago", 0) == 0x17770551


@pytest.mark.parametrize("first_batch", [True, False])
def test_a_batch_cut_short_is_undone_by_the_writers_successor(
    h5_path: Path, first_batch: bool
) -> None:
    """A queue-mode writer killed after its batch's rows were flushed and before the commit:
    the successor (same session) cuts them back, since the ring gives it those records again.
    The first batch of a session was not undone (chaos on 3.13: 8,466 rows written twice)."""
    from ataraxis_like.hdf5._store import Store
    from ataraxis_like.hdf5._writer import start_journal

    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("x", 1.0)
    session = 0x5E55_1011
    store = Store(h5_path, "a")
    journal = start_journal(store, session)
    if not first_batch:
        journal.begin({1: 1}, {"x": (1, 2)})
        store.append_block("x", np.array([2.0]))
        store.flush()
        journal.commit({1: 1})
    old = store.dataset("x").shape[0]
    journal.begin({1: 3}, {"x": (old, old + 2)})
    store.append_block("x", np.array([3.0, 4.0]))
    store.flush()
    store.close()  # the state a SIGKILL here leaves: rows flushed, no commit
    successor = Store(h5_path, "a")
    try:
        journal = start_journal(successor, session)
        assert successor.dataset("x").shape[0] == old
        assert journal.applied == ({} if first_batch else {1: 1})
    finally:
        successor.close()
    with open_sink(h5_path) as reader:
        assert reader.load("x").tolist() == ([1.0] if first_batch else [1.0, 2.0])
