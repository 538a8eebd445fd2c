"""Every example runs as a user would run it, and what it prints is true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.timeout(120)


def run(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_shared_array_example() -> None:
    out = run("shared_array_example.py")
    assert "4 processes x 5000 locked increments = 20000\n" in out
    assert "an unrelated process attached by name and saw: (2,) int64 20000\n" in out
    assert "after killing a lock holder: read -1, told it died: True\n" in out


def test_queue_example() -> None:
    out = run("queue_example.py")
    assert "received 100 frames of 480x640 uint8 in order, then" in out
    assert "zero-copy view: 1000000 float64 values, sum 499999500000\n" in out
    assert "'bytes_used': 0" in out


def test_every_example_has_a_test() -> None:
    tested = {"shared_array_example.py", "queue_example.py", "config_example.py"}
    tested |= {"hdf5_sink_example.py"}  # tested in tests/hdf5
    present = {path.name for path in EXAMPLES.glob("*.py")}
    assert present <= tested, f"examples without a test: {sorted(present - tested)}"
