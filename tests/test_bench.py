"""The benchmark runner writes nothing into the checkout unless asked, and fails on a missed
goal. The benchmarks themselves are run by ``ataraxis-like bench`` (too long for the suite)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """benchmarks/_harness.py with its results file moved into ``tmp_path``."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.delenv("ATARAXIS_LIKE_BENCH_RECORD", raising=False)
    monkeypatch.delenv("ATARAXIS_LIKE_BENCH_ROWS", raising=False)
    module = importlib.reload(importlib.import_module("_harness"))
    monkeypatch.setattr(module, "RESULTS", tmp_path / "RESULTS.md")
    yield module
    sys.modules.pop("_harness", None)
    sys.modules.pop("run_all", None)


def test_reference_environments_live_outside_the_checkout(harness: ModuleType) -> None:
    assert not harness.VENVS.is_relative_to(BENCHMARKS.parent)


def test_results_are_written_only_when_recording(
    harness: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = tmp_path / "rows"
    rows.mkdir()
    monkeypatch.setenv("ATARAXIS_LIKE_BENCH_ROWS", str(rows))
    body = harness.table([harness.Row("puts", 2.0, 1.0, "ops/s", goal=3.0)], "peer")
    harness.record("Queue", body, "python benchmarks/bench_queue.py")
    assert not harness.RESULTS.exists()
    (saved,) = rows.glob("*.json")
    assert json.loads(saved.read_text())["rows"][0]["verdict"] == "MISSED"
    monkeypatch.setattr(harness, "RECORDING", True)
    harness.record("Queue", body, "python benchmarks/bench_queue.py")
    assert "## Queue" in harness.RESULTS.read_text()


def test_a_missed_goal_is_named_and_fails_the_run(
    harness: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("ATARAXIS_LIKE_BENCH_ROWS", str(tmp_path))
    harness.table([harness.Row("puts", 2.0, 1.0, "ops/s", goal=3.0),
                   harness.Row("gets", 5.0, 1.0, "ops/s", goal=3.0)], "peer")  # fmt: skip
    harness.record("Queue", "", "")
    run_all = importlib.import_module("run_all")
    assert run_all._table(tmp_path) == ["Queue: puts 2.00x (goal 3x)"]
    assert "| Queue | gets (ops/s) | 5 | 1 (peer) | 5.00x | >= 3x met |" in (
        capsys.readouterr().out
    )
