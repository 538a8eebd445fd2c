"""The chaos run: kills under load, zero loss, and a checker that does catch loss."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.chaos import ChaosReport, _verify, run_chaos
from ataraxis_like.logs.format import BATCH_HEADER, read_batch

pytestmark = pytest.mark.timeout(180)


def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    report = run_chaos(seconds=4, producers=3, seed=1, output=tmp_path)
    assert report.passed, report
    assert report.kills["producer"] > 0
    assert report.kills["logger"] > 0
    assert report.acknowledged > 1000
    assert report.on_disk >= report.acknowledged


def test_checker_catches_lost_and_duplicated_entries(tmp_path: Path) -> None:
    report = run_chaos(seconds=1.5, producers=2, seed=2, output=tmp_path)
    assert report.passed
    directory = tmp_path / "chaos_data_log"
    batches = sorted(directory.glob("batch_*.npy"))
    acked = np.zeros((2, 4096), dtype=np.int64)
    for path in batches:
        for row in read_batch(path).index:
            stream = (int(row["source_id"]), int(row["timestamp"]) >> 40)
            acked[stream] = max(acked[stream], (int(row["timestamp"]) & ((1 << 40) - 1)) + 1)

    copy = tmp_path / "tampered"
    shutil.copytree(directory, copy)
    (copy / batches[0].name).unlink()
    lost = ChaosReport(seconds=0)
    _verify(copy, acked, lost)
    assert lost.lost > 0

    body = bytearray(np.load(batches[0], allow_pickle=False).tobytes())
    magic, version, count, onset, session, sequence, pad = BATCH_HEADER.unpack_from(body)
    BATCH_HEADER.pack_into(body, 0, magic, version, count, onset, session ^ 1, sequence, pad)
    np.save(directory / "batch_ffffffffffffffff_0000000000.npy", np.frombuffer(body, np.uint8))
    duplicated = ChaosReport(seconds=0)
    _verify(directory, acked, duplicated)
    assert duplicated.duplicates == count
    assert duplicated.lost == 0


def test_chaos_command_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ataraxis_like", "chaos", "--seconds", "2", "--json",
         "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["lost"] == 0
