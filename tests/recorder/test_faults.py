"""Faults: workers SIGKILLed mid-stream and mid-save, bad input, vanished directories, misuse."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ataraxis_like.hdf5 import Hdf5Sink, SinkWriteError
from ataraxis_like.recorder import (
    ExperimentCollection,
    Recorder,
    RecorderError,
    RecorderFormatError,
    RecordValueError,
    SeriesKeyError,
    load,
)

from .fault_workers import (
    FLUSHED_AT,
    NODES,
    RUNS,
    experiment_until_killed,
    run_experiments,
    save_same_key,
    save_until_killed,
    step_values,
    stream_until_killed,
    tree,
)
from .test_persist import assert_same_tree
from .workers import build

pytestmark = pytest.mark.timeout(90)


def wait_for(condition: Any, what: str, seconds: float = 30.0) -> None:
    """Poll a deterministic condition (a counter the worker sets), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_streaming_worker_killed_mid_stream(tmp_path: Path, method: str) -> None:
    path = tmp_path / "streamed.h5"
    context = multiprocessing.get_context(method)
    count = 6_000
    with Hdf5Sink(path, "w", sharing="queue") as sink:
        flushed, pushed = context.Event(), context.RawValue("q", 0)
        victim = context.Process(
            target=stream_until_killed, args=(sink.client(), "workers/victim", flushed, pushed)
        )
        victim.start()
        others = [
            context.Process(target=build, args=(rank, count, sink.client())) for rank in range(2)
        ]
        for worker in others:
            worker.start()
        assert flushed.wait(30)
        wait_for(lambda: pushed.value >= FLUSHED_AT + 3 * 4096, "the victim to push past flush")
        kill(victim)
        for worker in others:
            worker.join(timeout=60)
            assert worker.exitcode == 0
    for rank in range(2):
        assert_same_tree(build(rank, count), load(path, key=f"workers/w{rank}"))
    back = load(path, key="workers/victim")
    assert back.fields == {"worker": "victim"}
    records = back.children[0].records
    assert len(records) >= FLUSHED_AT
    for step, record in enumerate(records):
        assert dict(record) == {**step_values(step), "phase": "train", "worker": "victim"}


def saved_first(path: Path) -> Recorder:
    first = Recorder(run="first")
    first.child(kind="a").push(x=1.5, note="kept")
    first.save(path, key="first")
    return first


@pytest.mark.parametrize("hang_at", [0, 3, NODES - 1])
def test_save_killed_midway_leaves_earlier_keys_and_no_partial_tree(
    tmp_path: Path, hang_at: int
) -> None:
    path = tmp_path / "tree.h5"
    first = saved_first(path)
    context = multiprocessing.get_context("spawn")
    reached = context.Event()
    saver = context.Process(target=save_until_killed, args=(path, hang_at, reached, True))
    saver.start()
    assert reached.wait(30)
    kill(saver)
    assert_same_tree(first, load(path, key="first"))
    what = "no saved recorder" if hang_at == 0 else "an incomplete recorder"
    with pytest.raises(RecorderFormatError, match=f"holds {what} at 'second'"):
        load(path, key="second")
    if hang_at:
        with pytest.raises(RecorderError, match="an incomplete save at 'second'"):
            tree(None).save(path, key="second")
    tree(None).save(path, key="third")
    assert_same_tree(tree(None), load(path, key="third"))


def test_save_killed_while_writing_is_all_or_nothing(tmp_path: Path) -> None:
    """Kill as soon as a node of a large tree was flushed: inside the HDF5 writes that follow."""
    path = tmp_path / "tree.h5"
    first = saved_first(path)
    context = multiprocessing.get_context("fork")
    for hang_at in range(NODES):
        reached = context.Event()
        saver = context.Process(target=save_until_killed, args=(path, hang_at, reached, False))
        saver.start()
        assert reached.wait(30)
        os.kill(saver.pid, signal.SIGKILL)
        saver.join(timeout=30)
        assert_same_tree(first, load(path, key="first"))
        try:
            back = load(path, key="second")
        except RecorderFormatError as error:
            message = str(error)
        else:  # the save finished before the kill landed
            assert_same_tree(tree(None, size=20_000), back)
            return
        assert "'second'" in message
        Recorder(overwrite=hang_at).save(path, key="first", overwrite=True)
        first = load(path, key="first")


def numbers(collection: ExperimentCollection) -> list[tuple[Any, ...]]:
    return [
        (r["value"], r["experiment_number"], r["error_number"], r["had_error"], dict(r)["step"])
        for r in collection.records
    ]


def quick_run(collection: ExperimentCollection, value: int, fail: bool = False) -> None:
    try:
        with collection.new_experiment(value=value) as recorder:
            recorder.child(phase="train").push(step=value)
            if fail:
                raise ValueError("failed")
    except ValueError:
        pass


@pytest.mark.parametrize("fail", [False, True])
def test_collection_killed_while_saving_a_run(tmp_path: Path, fail: bool) -> None:
    path = tmp_path / "study.h5"
    collection = ExperimentCollection(path)
    quick_run(collection, 1)
    quick_run(collection, 2, fail=True)
    context = multiprocessing.get_context("spawn")
    reached = context.Event()
    runner = context.Process(target=experiment_until_killed, args=(path, reached, fail))
    runner.start()
    assert reached.wait(30)
    kill(runner)
    reopened = ExperimentCollection(path)
    assert len(reopened) == 2
    assert numbers(reopened) == [(1, 1, 0, False, 1), (2, 2, 1, True, 2)]
    quick_run(reopened, 3, fail=True)
    quick_run(reopened, 4)
    quick_run(reopened, 5)
    expected = [(1, 1, 0, False, 1), (2, 2, 1, True, 2), (3, 2, 2, True, 3), (4, 2, 0, False, 4)]
    assert numbers(reopened) == [*expected, (5, 3, 0, False, 5)]
    again = ExperimentCollection(path)
    assert numbers(again) == [*expected, (5, 3, 0, False, 5)]
    assert [len(run.children[0].children[0]) for run in again.runs] == [1] * 5


def test_two_collections_on_one_path(tmp_path: Path) -> None:
    path = tmp_path / "study.h5"
    first, second = ExperimentCollection(path), ExperimentCollection(path)
    quick_run(first, 1)
    quick_run(second, 2)
    quick_run(first, 3, fail=True)
    quick_run(second, 4)
    expected = [(1, 1, 0, False, 1), (2, 2, 0, False, 2), (3, 3, 1, True, 3), (4, 3, 0, False, 4)]
    assert numbers(ExperimentCollection(path)) == expected


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_two_processes_save_the_same_key_into_one_file(tmp_path: Path, method: str) -> None:
    path = tmp_path / "tree.h5"
    first = saved_first(path)
    context = multiprocessing.get_context(method)
    barrier, results = context.Barrier(2), context.Queue()
    savers = [
        context.Process(target=save_same_key, args=(path, rank, barrier, results))
        for rank in range(2)
    ]
    for saver in savers:
        saver.start()
    outcomes = dict(results.get(timeout=60) for _ in savers)
    for saver in savers:
        saver.join(timeout=30)
    (winner,) = [rank for rank, outcome in outcomes.items() if outcome == "saved"]
    loser = outcomes[1 - winner]
    assert loser.startswith("RecorderError: tree.h5 already holds a recorder at 'same'")
    assert load(path, key="same").fields == {"run": "second", "rank": winner}
    assert_same_tree(first, load(path, key="first"))


def test_two_processes_run_experiments_of_one_collection(tmp_path: Path) -> None:
    path = tmp_path / "study.h5"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    runners = [
        context.Process(target=run_experiments, args=(path, rank, barrier)) for rank in range(2)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
        assert runner.exitcode == 0
    collection = ExperimentCollection(path)
    assert len(collection) == 2 * RUNS
    values = sorted(r["value"] for r in collection.records)
    assert values == sorted(rank * 100 + run for rank in range(2) for run in range(RUNS))
    assert [r["experiment_number"] for r in collection.records] == list(range(1, 2 * RUNS + 1))


def test_save_into_a_vanished_or_read_only_directory(tmp_path: Path) -> None:
    root = tree(None)
    with pytest.raises(SinkWriteError, match="gone"):
        root.save(tmp_path / "gone" / "tree.h5")
    root.save(tmp_path / "tree.h5")
    assert_same_tree(root, load(tmp_path / "tree.h5"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only directory is writable")
        with pytest.raises(OSError, match="locked"):
            root.save(locked / "tree.h5")
    finally:
        locked.chmod(0o700)


def test_bad_values_are_named_and_lose_nothing(tmp_path: Path) -> None:
    root = Recorder(run=1)
    root.push(step=1, loss=0.5)
    root.push(step=2, callback=print)
    with pytest.raises(RecordValueError, match="builtin_function_or_method"):
        root.save(tmp_path / "tree.h5")
    assert [r["step"] for r in root.records] == [1, 2]
    with pytest.raises(SeriesKeyError, match="a//b"):
        root.save(tmp_path / "tree.h5", key="a//b")
