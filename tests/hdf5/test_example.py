"""The HDF5 example runs as a script and proves its point."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.examples import run_example


@pytest.mark.timeout(60)
def test_example_runs(tmp_path: Path) -> None:
    done = run_example("hdf5_sink_example.py", str(tmp_path / "x.h5"), timeout=50)
    assert "every row arrived, in order" in done.stdout
    assert "reader sees" in done.stdout
    assert "'camera1/time'" in done.stdout
