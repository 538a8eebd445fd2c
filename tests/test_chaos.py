"""The chaos run: kills under load, zero loss, and checkers that do catch loss and duplicates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.chaos import run_chaos, verify_logs, verify_rows
from ataraxis_like.hdf5 import open_sink
from ataraxis_like.logs.format import BATCH_HEADER, read_batch
from ataraxis_like.shm import list_segments
from ataraxis_like.shm._census import reclaim_stale

pytestmark = pytest.mark.timeout(180)


def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    report = run_chaos(seconds=4, producers=2, seed=1, output=tmp_path, clients=2)
    assert report.passed, report
    assert all(count > 0 for count in report.kills.values()), report.kills
    assert report.entries.acknowledged > 1000
    assert report.rows.acknowledged > 1000
    assert report.entries.on_disk >= report.entries.acknowledged
    assert report.rows.on_disk >= report.rows.acknowledged

    # The checkers catch what a broken pipeline would do: drop or repeat rows and entries.
    with open_sink(tmp_path / "chaos_rows.h5") as reader:
        rows = reader.load("chaos/rows")
    acked = np.zeros((2, 4096), dtype=np.int64)
    np.maximum.at(acked, (rows[:, 0], rows[:, 1]), rows[:, 2] + 1)
    assert verify_rows(rows, acked).lost == 0
    assert verify_rows(rows[1:], acked).lost == 1
    repeated = verify_rows(np.concatenate([rows, rows[:5]]), acked)
    assert (repeated.duplicates, repeated.lost) == (5, 0)
    assert verify_rows(rows, acked + 1).lost == acked.size  # one more acknowledged per stream

    directory = tmp_path / "chaos_data_log"
    batches = sorted(directory.glob("batch_*.npy"))
    acked = np.zeros((2, 4096), dtype=np.int64)
    for path in batches:
        for row in read_batch(path).index:
            stream = (int(row["source_id"]), int(row["timestamp"]) >> 40)
            acked[stream] = max(acked[stream], (int(row["timestamp"]) & ((1 << 40) - 1)) + 1)
    assert verify_logs(directory, acked).lost == 0
    copy = tmp_path / "tampered"
    shutil.copytree(directory, copy)
    (copy / batches[0].name).unlink()
    assert verify_logs(copy, acked).lost > 0

    body = bytearray(np.load(batches[0], allow_pickle=False).tobytes())
    magic, version, count, onset, session, sequence, pad = BATCH_HEADER.unpack_from(body)
    BATCH_HEADER.pack_into(body, 0, magic, version, count, onset, session ^ 1, sequence, pad)
    np.save(directory / "batch_ffffffffffffffff_0000000000.npy", np.frombuffer(body, np.uint8))
    duplicated = verify_logs(directory, acked)
    assert (duplicated.duplicates, duplicated.lost) == (count, 0)


def test_chaos_command_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ataraxis_like", "chaos", "--seconds", "2", "--json",
         "--producers", "2", "--clients", "1", "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["entries"]["lost"] == summary["rows"]["lost"] == 0
    assert summary["rows"]["acknowledged"] > 0


def test_deadlock_fails_loudly_with_exit_1(tmp_path: Path) -> None:
    """A deadline shorter than the run is what a hang looks like: stacks, a message, exit 1;
    no process of the run survives it (none holds our pipes), and the next library call
    reclaims its segments."""
    command = [sys.executable, "-m", "ataraxis_like", "chaos", "--seconds", "30", "--deadline",
               "1", "--producers", "1", "--clients", "1", "--output", str(tmp_path)]  # fmt: skip
    label = f"chaos-deadlock-{os.getpid()}"
    environment = dict(os.environ, ATARAXIS_LIKE_SHM_LABEL=label)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environment) as run:  # fmt: skip
        _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert f"did not finish by its deadline; its data is kept in {tmp_path}" in stderr
    assert "_kill_loop" in stderr  # where the main thread was
    reclaim_stale(force=True)  # what any library call of ours does first
    assert list_segments(label=label) == []


def test_passing_run_without_output_removes_its_data() -> None:
    report = run_chaos(seconds=1, producers=1, seed=2, clients=1)
    assert report.passed, report
    directory = report.output.split(" (removed")[0]
    assert report.output.endswith("(removed: the run passed; pass --output to keep it)")
    assert not Path(directory).exists()
