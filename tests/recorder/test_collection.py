"""Experiment collections: numbering across failures, saving on exit, records across sessions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ataraxis_like.recorder import ExperimentCollection, Recorder, RecorderError

pytestmark = pytest.mark.timeout(60)

BOOKKEEPING = (
    "experiment_number",
    "error_number",
    "had_error",
    "experiment_start_time",
    "experiment_end_time",
    "experiment_duration",
)


def run(collection: ExperimentCollection, value: int, fail: bool = False) -> None:
    with collection.new_experiment(value=value) as recorder:
        recorder.child(phase="train").push(step=0, loss=0.5)
        if fail:
            raise ValueError(f"run {value} failed")


def interrupted_run(collection: ExperimentCollection) -> None:
    with collection.new_experiment(value=3) as recorder:
        recorder.push(step=1)
        raise KeyboardInterrupt


def numbers(collection: ExperimentCollection) -> list[tuple[int, int, int, bool]]:
    return [
        (r["value"], r["experiment_number"], r["error_number"], r["had_error"])
        for r in collection.records
    ]


def test_failed_runs_keep_the_number_until_one_succeeds(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "study.h5")
    run(collection, 1)
    for value in (2, 3):
        with pytest.raises(ValueError, match=f"run {value} failed"):
            run(collection, value, fail=True)
    run(collection, 4)
    run(collection, 5)
    assert numbers(collection) == [
        (1, 1, 0, False),
        (2, 2, 1, True),
        (3, 2, 2, True),
        (4, 2, 0, False),
        (5, 3, 0, False),
    ]
    assert len(collection) == 5


def test_bookkeeping_fields_and_times(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "study.h5")
    before = time.time()
    with collection.new_experiment({"lr": 0.1}, seed=3) as recorder:
        recorder.push(step=0)
        time.sleep(0.01)
    after = time.time()
    (record,) = collection.records
    assert set(BOOKKEEPING) <= set(record)
    assert record["lr"] == 0.1
    assert record["seed"] == 3
    start, end = record["experiment_start_time"], record["experiment_end_time"]
    assert before <= start < end <= after
    assert record["experiment_duration"] == pytest.approx(end - start)
    assert record["experiment_duration"] >= 0.01


def test_every_run_is_saved_even_when_it_fails(tmp_path: Path) -> None:
    path = tmp_path / "study.h5"
    first = ExperimentCollection(path)
    run(first, 1)
    with pytest.raises(ValueError, match="failed"):
        run(first, 2, fail=True)
    interrupted = ExperimentCollection(path)
    with pytest.raises(KeyboardInterrupt):
        interrupted_run(interrupted)
    later = ExperimentCollection(path)
    assert numbers(later) == [(1, 1, 0, False), (2, 2, 1, True), (3, 2, 2, True)]
    run(later, 4)
    assert [r["experiment_number"] for r in later.records] == [1, 2, 2, 2]
    assert [r["value"] for r in ExperimentCollection(path).records] == [1, 2, 3, 4]


def test_collection_fields_and_filters(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "study.h5")
    collection.root.set(study="ablation")
    for value in range(3):
        run(collection, value)
    again = ExperimentCollection(tmp_path / "study.h5")
    assert again.root.fields == {"study": "ablation"}
    chosen = again.records.where(experiment_number=2, phase="train")
    assert [(r["value"], r["study"]) for r in chosen] == [(1, "ablation")]
    assert len(again.runs) == 3
    assert all(isinstance(node, Recorder) for node in again.runs)


def test_one_experiment_at_a_time(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "study.h5")
    with collection.new_experiment(), pytest.raises(RecorderError, match="already running"):
        collection.new_experiment().__enter__()
    with collection.new_experiment() as recorder:
        recorder.push(x=1)
    assert len(collection) == 2


def push_rate(recorder: Recorder, attempt: int, count: int) -> float:
    """Pushes per second of this process's CPU time: other processes taking the cores (a loaded
    machine) do not count, where a wall-clock rate halved whenever they did."""
    push = recorder.child(attempt=attempt).push
    start = time.process_time()
    for step in range(count):
        push(step=step, loss=0.5)
    return count / max(time.process_time() - start, 1e-9)


def test_push_rate_does_not_depend_on_the_collection(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "study.h5")
    for value in range(5):
        with collection.new_experiment(value=value) as recorder:
            for step in range(20_000):
                recorder.push(step=step, loss=0.5)
    standalone_recorder = Recorder()
    with collection.new_experiment() as recorder:
        rates = [(push_rate(standalone_recorder, attempt, 50_000),
                  push_rate(recorder, attempt, 50_000)) for attempt in range(3)]  # fmt: skip
    standalone = max(alone for alone, _inside in rates)
    inside = max(inside for _alone, inside in rates)
    assert inside >= 0.5 * standalone, rates
