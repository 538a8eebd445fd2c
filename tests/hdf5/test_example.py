"""The HDF5 example runs as a script and proves its point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_example_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "hdf5_sink_example.py"), str(tmp_path / "x.h5")],
        capture_output=True, text=True, timeout=50, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "every row arrived, in order" in done.stdout
    assert "reader sees" in done.stdout
    assert "'camera1/time'" in done.stdout
