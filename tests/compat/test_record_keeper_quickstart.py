"""The record keeper's (rigorous-recorder) README quick starts, as written, imports changed."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)


def test_readme_record_keeper_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # --- as written in the README, only the import changed -----------------------------
    from ataraxis_like.compat.record_keeper import RecordKeeper

    recorder = RecordKeeper()

    # parent data
    experiment_recorder = RecordKeeper(experiment=1).set_parent(recorder)
    episode_recorder = RecordKeeper(episode=1).set_parent(experiment_recorder)

    episode_recorder.push(x=1, y=1)  # timestep1
    episode_recorder.push(x=2, y=2)  # timestep2
    episode_recorder.push(x=3, y=3)  # timestep3

    recorder.save_to("where/ever/you_want.pickle")
    # --- end of the README code ----------------------------------------------------------
    assert [dict(r) for r in episode_recorder.records] == [
        {"x": step, "y": step, "episode": 1, "experiment": 1} for step in (1, 2, 3)
    ]
    assert (tmp_path / "where/ever/you_want.pickle").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    loaded = RecordKeeper.load_from("where/ever/you_want.pickle")
    assert isinstance(loaded, RecordKeeper)
    assert [dict(r) for r in loaded.all_records] == [dict(r) for r in recorder.all_records]
    assert isinstance(loaded.children[0].children[0], RecordKeeper)


def test_readme_how_do_i_use_this(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
