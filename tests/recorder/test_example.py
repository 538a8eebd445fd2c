"""examples/recorder_example.py runs as a user would run it, and what it prints is true."""

from __future__ import annotations

import pytest

from ..support.examples import run_example

pytestmark = pytest.mark.timeout(60)


def test_recorder_example() -> None:
    result = run_example("recorder_example.py", timeout=55)
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "2002 records; the first: {'step': 0, 'loss': 1.0, 'training': True, 'model': 'small', "
        "'experiment': 1, 'seed': 42}",
        "large model: 1000 training records, first loss 0.5",
        "accuracy column: 2 values, 2000 missing",
        "seed broadcast to every record: True",
        "saved to HDF5 and loaded back: 2002 records, identical: True",
        "experiments (learning rate, number, had error): "
        "[(0.1, 1, False), (0.01, 2, False), (1.0, 3, True), (0.5, 3, False)]",
        "series under 'camera': ['camera/exposure_ms', 'camera/frames']",
        "from the file: (5, 4, 4) uint8, frame 3 sums to 888",
    ]
