"""Filters and flat columns: per-node decisions for inherited fields, numpy for columns."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ataraxis_like.recorder import OptionalDependencyError, Recorder

pytestmark = pytest.mark.timeout(30)


def study() -> Recorder:
    """experiment -> model (m1, m2) -> training True/False; 3 records per leaf."""
    experiment = Recorder(experiment=1)
    for model in ("m1", "m2"):
        node = experiment.child(model=model)
        for training in (True, False):
            leaf = node.child(training=training)
            for index in range(3):
                leaf.push(index=index, loss=index / 10 + (model == "m2"))
    return experiment


def test_where_by_parent_fields() -> None:
    records = study().where(model="m1", training=True)
    assert len(records) == 3
    assert {(r["model"], r["training"]) for r in records} == {("m1", True)}
    assert len(study().where(model="m3")) == 0
    assert len(study().where(unknown=1)) == 0


def test_parent_field_conditions_run_once_per_node() -> None:
    calls: list[object] = []

    def wanted(value: object) -> bool:
        calls.append(value)
        return value == "m2"

    root = study()
    assert len(root.where(model=wanted)) == 6
    assert len(calls) == 4


def test_where_by_column_values_is_vectorised() -> None:
    root = study()
    seen: list[type] = []

    def small(values: np.ndarray) -> np.ndarray:
        seen.append(type(values))
        return values < 0.15

    chosen = root.where(loss=small)
    assert [r["index"] for r in chosen] == [0, 1, 0, 1]
    assert seen == [np.ndarray] * 4
    assert [r["index"] for r in root.where(index=2, model="m2")] == [2, 2]


def test_callable_that_takes_single_values_still_works() -> None:
    root = Recorder()
    for word in ("apple", "banana", "avocado"):
        root.push(word=word)
    assert [r["word"] for r in root.where(word=lambda w: w.startswith("a"))] == [
        "apple",
        "avocado",
    ]


def test_per_record_predicate_and_fields_together() -> None:
    root = study()
    chosen = root.where(lambda r: r["index"] + r["loss"] > 2.15, model="m2")
    assert [(r["index"], r["training"]) for r in chosen] == [(2, True), (2, False)]


def test_where_fields_sees_merged_inherited_fields() -> None:
    root = study()
    chosen = root.records.where_fields(lambda f: f["model"] == "m1" and not f["training"])
    assert len(chosen) == 3
    assert chosen.nodes[0].fields == {"training": False}


def test_missing_column_values_fall_back_to_the_field() -> None:
    root = Recorder(flag="default")
    root.push(flag="own")
    root.push()
    assert [r["flag"] for r in root.where(flag="default")] == ["default"]
    assert [r["flag"] for r in root.where(flag="own")] == ["own"]


def test_selections_chain_and_slice() -> None:
    root = study()
    chosen = root.where(model="m2").where(training=False)[1:]
    assert [r["index"] for r in chosen] == [1, 2]
    assert chosen.to_columns()["model"].tolist() == ["m2", "m2"]


def test_to_columns_broadcasts_fields_and_masks_missing() -> None:
    root = Recorder(run=7)
    first = root.child(model="m1")
    first.push(step=0, loss=0.5)
    second = root.child(model="m2", lr=0.1)
    second.push(step=0, accuracy=0.9)
    second.push(step=1)
    columns = root.to_columns()
    assert list(columns) == ["step", "loss", "accuracy", "model", "run", "lr"]
    assert columns["run"].tolist() == [7, 7, 7]
    assert columns["model"].tolist() == ["m1", "m2", "m2"]
    assert columns["loss"].tolist() == [0.5, None, None]
    assert columns["accuracy"].mask.tolist() == [True, False, True]
    assert columns["lr"].tolist() == [None, 0.1, 0.1]
    assert columns["step"].dtype == np.int64
    assert float(columns["loss"].mean()) == 0.5


def test_to_columns_promotes_across_nodes() -> None:
    root = Recorder()
    root.child(kind="int").push(v=1)
    root.child(kind="float").push(v=0.5)
    assert root.to_columns()["v"].dtype == np.float64
    root.child(kind="text").push(v="x")
    column = root.to_columns()["v"]
    assert column.dtype == object
    assert column.tolist() == [1.0, 0.5, "x"]


def test_to_columns_of_empty_selection() -> None:
    assert study().where(model="none").to_columns() == {}
    assert Recorder().to_columns() == {}


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(OptionalDependencyError, match="pip install pandas") as caught:
        study().to_pandas()
    assert isinstance(caught.value, ImportError)


def test_to_pandas() -> None:
    pd = pytest.importorskip("pandas")
    root = Recorder(run=1)
    root.push(step=0, loss=0.5, ok=True, name="a")
    root.push(step=1)
    frame = root.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["step", "loss", "ok", "name", "run"]
    assert frame["run"].tolist() == [1, 1]
    assert np.isnan(frame["loss"][1])
    assert frame["ok"].isna().tolist() == [False, True]
    assert frame["name"][0] == "a"
    assert frame["name"].isna().tolist() == [False, True]
