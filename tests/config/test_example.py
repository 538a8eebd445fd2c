"""The example script runs, and what it prints is true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config_example.py"


def test_example_runs_and_prints_the_round_trip_and_the_mistakes() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "# Frames per second.\n  fps: 30\n" in out
    assert "animal: 'yes'\n" in out
    assert "lick_thresholds: [0.25, 0.5]\n" in out
    assert "loaded with overrides: fps=60, output=/data/today\n" in out
    assert "animal is still the string 'yes'\n" in out
    assert ": 3 problems\n" in out
    assert "  camera.fps (line 6): expected int, got '30' (str); write 30 without quotes\n" in out
    assert "  camera.trigger (line 8): expected Trigger, one of 'internal', 'external', " in out
    assert "  exposure_ms (line 10): expected a field of Session" in out
    assert "did you mean 'camera.exposure_ms' (indent it under 'camera')?" in out
