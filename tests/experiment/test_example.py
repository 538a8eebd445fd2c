"""The experiment example runs as a user would run it, and what it prints is true."""

from __future__ import annotations

from pathlib import Path

import pytest

from ataraxis_like.experiment import ExperimentResults

from ..support.examples import run_example


@pytest.mark.timeout(120)
def test_experiment_example(tmp_path: Path) -> None:
    directory = tmp_path / "grid"
    result = run_example("experiment_example.py", str(directory))
    out = result.stdout
    assert "first run: {'completed': 8, 'failed': 1, 'skipped': 0}\n" in out
    assert "run again: {'completed': 0, 'failed': 0, 'skipped': 9}\n" in out
    assert "  run 8: rate=0.5 depth=3 failed ValueError: diverged\n" in out
    assert "best run: 6 with final_loss 0.0312\n" in out
    assert "its recorded losses: [0.5, 0.25, 0.125, 0.0625, 0.0312]\n" in out
    results = ExperimentResults.load(directory)
    assert results.counts() == {"completed": 8, "failed": 1}
    assert (directory / "logs" / "run_00008.log").read_text().count("diverged") >= 1
