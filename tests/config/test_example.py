"""The example script runs, and what it prints is true."""

from __future__ import annotations

from ..support.examples import run_example


def test_example_runs_and_prints_the_round_trip_and_the_mistakes() -> None:
    result = run_example("config_example.py", timeout=60)
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
