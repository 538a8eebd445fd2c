"""The record keeper's (rigorous-recorder) README code blocks, run against ataraxis_like.

Blocks 1-4 are plain dicts that show the data model the library replaces: each test runs the
block and checks that our keepers give exactly those records (without storing the parent data
per record). Blocks 5 and 6 are the library's own examples, run with the import changed; block
7 lists the six keys a collection adds, checked by name and type. Comments are ours.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ataraxis_like.compat.record_keeper import ExperimentCollection, RecordKeeper

pytestmark = pytest.mark.timeout(60)


def resolved(record: dict[str, Any]) -> dict[str, Any]:
    """A README dict with its "parent" chain folded in (the record's own values win)."""
    flat = {key: value for key, value in record.items() if key != "parent"}
    parent = record.get("parent")
    while parent is not None:
        for key, value in parent.items():
            if key != "parent":
                flat.setdefault(key, value)
        parent = parent.get("parent")
    return flat


def episode_under_experiment(*steps: int) -> tuple[RecordKeeper, RecordKeeper, RecordKeeper]:
    """Our keepers for experiment 1 / episode 1 with one (x, y) record per step."""
    root = RecordKeeper()
    experiment = RecordKeeper(experiment=1).set_parent(root)
    episode = RecordKeeper(episode=1).set_parent(experiment)
    for step in steps:
        episode.push(x=step, y=step)
    return root, experiment, episode


def test_block1_timestep_records() -> None:
    # --- README block 1 ----------------------------------------------------------------------
    record1 = {"x": 1, "y": 1}  # first timestep
    record2 = {"x": 2, "y": 2}  # second timestep
    record3 = {"x": 3, "y": 3}  # third timestep
    # --- end of block ------------------------------------------------------------------------
    keeper = RecordKeeper()
    for record in (record1, record2, record3):
        keeper.push(record)
    assert [dict(r) for r in keeper.records] == [record1, record2, record3]


def test_block2_duplicated_data_is_what_records_read_as_but_not_what_is_stored() -> None:
    # --- README block 2 ----------------------------------------------------------------------
    record1 = {"x": 1, "y": 1, "episode": 1, "experiment": 1}  # first timestep
    record2 = {"x": 2, "y": 2, "episode": 1, "experiment": 1}  # second timestep
    record3 = {"x": 3, "y": 3, "episode": 1, "experiment": 1}  # third timestep
    # --- end of block ------------------------------------------------------------------------
    _root, _experiment, episode = episode_under_experiment(1, 2, 3)
    assert [dict(r) for r in episode.records] == [record1, record2, record3]
    steps = range(10_000)
    _root, _experiment, hierarchical = episode_under_experiment(*steps)
    duplicated = RecordKeeper()
    for step in steps:
        duplicated.push(x=step, y=step, episode=1, experiment=1)
    hierarchical.flush()
    duplicated.flush()
    assert duplicated.nbytes == 2 * hierarchical.nbytes  # two columns stored, not four


def test_block3_parent_references_and_late_parent_data() -> None:
    # --- README block 3 ----------------------------------------------------------------------
    experiment_data = {"experiment": 1}
    episode_data = {"episode": 1, "parent": experiment_data}

    record1 = {"x": 1, "y": 1, "parent": episode_data}  # first timestep
    record2 = {"x": 2, "y": 2, "parent": episode_data}  # second timestep
    record3 = {"x": 3, "y": 3, "parent": episode_data}  # third timestep
    # --- end of block ------------------------------------------------------------------------
    _root, experiment, episode = episode_under_experiment(1, 2, 3)
    expected = [resolved(record) for record in (record1, record2, record3)]
    assert [dict(r) for r in episode.records] == expected
    experiment_data["seed"] = 7  # parent data added after the fact...
    experiment["seed"] = 7  # ...reaches every record already pushed, here too
    expected = [resolved(record) for record in (record1, record2, record3)]
    assert [dict(r) for r in episode.records] == expected


def test_block4_shared_keys_as_columns() -> None:
    # --- README block 4 ----------------------------------------------------------------------
    experiment_data = {"experiment": 1}
    episode_data = {"episode": 1, "parent": experiment_data}

    episode_keeper = {"parent": episode_data}  # timestep 0
    episode_keeper = {"x": [1], "y": [1], "parent": episode_data}  # first timestep (on demand)
    episode_keeper = {"x": [1, 2], "y": [1, 2], "parent": episode_data}  # second timestep
    episode_keeper = {"x": [1, 2, 3], "y": [1, 2, 3], "parent": episode_data}  # third timestep
    # --- end of block ------------------------------------------------------------------------
    _root, _experiment, episode = episode_under_experiment(1, 2, 3)
    columns = episode.own_records.to_columns()
    for key in ("x", "y"):
        assert columns[key].tolist() == episode_keeper[key]
    assert episode.lineage_fields() == resolved(episode_data)


def test_block5_recorder_hierarchy_saved_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # --- README block 5, only the import changed ---------------------------------------------
    from ataraxis_like.compat.record_keeper import Recorder

    recorder = Recorder()

    # parent data
    experiment_recorder = Recorder(experiment=1).set_parent(recorder)
    episode_recorder = Recorder(episode=1).set_parent(experiment_recorder)

    episode_recorder.push(x=1, y=1)  # timestep1
    episode_recorder.push(x=2, y=2)  # timestep2
    episode_recorder.push(x=3, y=3)  # timestep3

    recorder.save_to("where/ever/you_want.pickle")
    # --- end of block ------------------------------------------------------------------------
    assert [dict(r) for r in episode_recorder.records] == [
        {"x": step, "y": step, "episode": 1, "experiment": 1} for step in (1, 2, 3)
    ]
    saved = tmp_path / "where/ever/you_want.pickle"
    assert saved.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # HDF5 whatever the name says
    loaded = Recorder.load_from("where/ever/you_want.pickle")
    assert isinstance(loaded, Recorder)
    assert [dict(r) for r in loaded.all_records] == [dict(r) for r in recorder.all_records]
    assert isinstance(loaded.children[0].children[0], Recorder)
    assert dict(recorder.SubRecorder(phase="eval").push(z=0)[0]) == {"z": 0, "phase": "eval"}
    assert isinstance(RecordKeeper.load_from(saved), RecordKeeper)


def test_block6_how_do_i_use_this(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # --- as written in the README, only the import changed -----------------------------
    from random import random
    from statistics import mean as average

    from ataraxis_like.compat.record_keeper import ExperimentCollection, RecordKeeper

    collection = ExperimentCollection("data/my_study")  # <- this string is a filepath
    number_of_new_experiments = 1

    for _ in range(number_of_new_experiments):
        # at the end (even when an error is thrown), all data is saved to disk automatically
        # experiment number increments based on the last saved-to-disk experiment number
        # running again (after error) won't double-increment the experiment number
        with collection.new_experiment() as experiment_recorder:
            model1_recorder = RecordKeeper(model="model1").set_parent(experiment_recorder)
            model2_recorder = RecordKeeper(model="model2").set_parent(experiment_recorder)

            #
            # training
            #
            model1_train_recorder = RecordKeeper(training=True).set_parent(model1_recorder)
            model2_train_recorder = RecordKeeper(training=True).set_parent(model2_recorder)
            for each_index in range(100_000):
                # one approach
                model1_train_recorder.push(index=each_index, loss=random())

                # alternative approach (same outcome)
                model2_train_recorder.add(index=each_index)
                # - this way is very handy for adding data in one method (like a loss func)
                #   while calling .commit() in a different method (like update weights)
                model2_train_recorder.add({"loss": random()})
                model2_train_recorder.commit()

            #
            # testing
            #
            model1_test_recorder = RecordKeeper(testing=True).set_parent(model1_recorder)
            model2_test_recorder = RecordKeeper(testing=True).set_parent(model2_recorder)
            for each_index in range(500):
                # one method
                model1_test_recorder.push(
                    index=each_index,
                    accuracy=random(),
                )

                # alternative way (same outcome)
                model2_test_recorder.add(index=each_index, accuracy=random())
                model2_test_recorder.commit()

    #
    #
    # Analysis
    #
    #

    all_records = collection.records
    print("first record", all_records[0])  # behaves just like a regular dictionary

    # slice across both models (first 500 training records from both models)
    records_first_half_of_time = tuple(
        each for each in all_records if each["training"] and each["index"] < 500
    )
    # average loss across both models
    first_half_average_loss = average(tuple(each["loss"] for each in records_first_half_of_time))
    # average only for model 1
    model1_first_half_loss = average(
        tuple(each["loss"] for each in records_first_half_of_time if each["model"] == "model1")
    )
    # average only for model 2
    model2_first_half_loss = average(
        tuple(each["loss"] for each in records_first_half_of_time if each["model"] == "model2")
    )
    # --- end of the README code ----------------------------------------------------------
    assert len(all_records) == 201_000
    assert len(records_first_half_of_time) == 1000
    assert 0.4 < first_half_average_loss < 0.6
    assert 0.35 < model1_first_half_loss < 0.65
    assert 0.35 < model2_first_half_loss < 0.65
    first = all_records[0]
    assert first["experiment_number"] == 1
    assert first["had_error"] is False
    assert first["model"] == "model1"
    assert first["training"] is True
    assert first["index"] == 0
    assert first["testing"] is None
    assert (tmp_path / "data/my_study.collection/records.h5").exists()


def test_block7_the_six_keys_a_collection_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # README block 7 is a list of names with their types, not code: checked name by name.
    documented = {
        "experiment_number": int,
        "error_number": int,
        "had_error": bool,
        "experiment_start_time": float,
        "experiment_end_time": float,
        "experiment_duration": float,
    }
    collection = ExperimentCollection("study", quiet=True)
    before = time.time()
    with collection.new_experiment() as experiment:
        experiment.push(step=0)
    with pytest.raises(RuntimeError, match="boom"):
        failing_run(collection)
    after = time.time()
    records = ExperimentCollection("study").records
    for record, had_error in zip(records, (False, True), strict=True):
        for key, kind in documented.items():
            assert type(record[key]) is kind, key
        assert record["had_error"] is had_error
        assert before <= record["experiment_start_time"] <= record["experiment_end_time"] <= after
        assert record["experiment_duration"] == pytest.approx(
            record["experiment_end_time"] - record["experiment_start_time"]
        )
    assert [(r["experiment_number"], r["error_number"]) for r in records] == [(1, 0), (2, 1)]


def failing_run(collection: object) -> None:
    from ataraxis_like.compat.record_keeper import RecordKeeper

    with collection.new_experiment() as experiment:  # type: ignore[attr-defined]
        RecordKeeper(phase="x").set_parent(experiment).push(step=1)
        raise RuntimeError("boom")


def test_experiment_numbering_like_the_record_keeper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ataraxis_like.compat.record_keeper import ExperimentCollection

    monkeypatch.chdir(tmp_path)
    collection = ExperimentCollection("study", quiet=True)
    with collection.new_experiment({"lr": 0.1}) as experiment:
        experiment.push(step=0)
    with pytest.raises(RuntimeError, match="boom"):
        failing_run(collection)
    with ExperimentCollection("study").new_experiment() as experiment:
        experiment.push(step=2)
    again = ExperimentCollection("study")
    assert [(r["step"], r["experiment_number"], r["error_number"]) for r in again.records] == [
        (0, 1, 0),
        (1, 2, 1),
        (2, 2, 0),
    ]
    assert again.experiment_numbers == (1, 2)
    assert [r["step"] for r in again[2]] == [1, 2]
    assert [r["step"] for r in again[-1]] == [1, 2]
    assert again.records[0]["lr"] == 0.1
    assert again.records[1]["lr"] is None


def test_keeper_semantics(tmp_path: Path) -> None:
    from ataraxis_like.compat.record_keeper import RecordKeeper

    parent = RecordKeeper({"experiment": 1}, seed=3)
    child = parent.SubRecordKeeper(episode=2)
    child.add(x=1)
    committed = child.push(y=2).commit()
    assert dict(child[0]) == {"x": 1, "y": 2, "episode": 2, "experiment": 1, "seed": 3}
    assert dict(committed) == {"episode": 2, "experiment": 1, "seed": 3}
    assert parent["seed"] == 3
    assert parent.get("missing", "d") == "d"
    parent["late"] = True
    assert child[0]["late"] is True
    assert len(parent.records) == 0
    assert len(parent.all_records) == 2
    assert child.number_of_records == 2
    assert len(list(child)) == 2
    assert dict(parent.items()) == {"experiment": 1, "seed": 3, "late": True}
    with pytest.raises(TypeError, match="at most one dict"):
        RecordKeeper(1)  # type: ignore[arg-type]
