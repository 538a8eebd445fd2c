"""Hierarchy semantics: inheritance, override order, late fields, add/commit, columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ataraxis_like.recorder import Recorder, RecorderError, RecordValueError
from ataraxis_like.recorder.columns import CHUNK_ROWS

pytestmark = pytest.mark.timeout(30)


def three_levels() -> tuple[Recorder, Recorder, Recorder]:
    experiment = Recorder(experiment=1, note="from experiment")
    model = experiment.child(model="m1", note="from model")
    train = model.child(training=True)
    return experiment, model, train


def test_records_inherit_every_ancestor_field() -> None:
    experiment, _, train = three_levels()
    train.push(step=0, loss=0.5)
    (record,) = train.records
    assert dict(record) == {
        "step": 0,
        "loss": 0.5,
        "training": True,
        "model": "m1",
        "note": "from model",
        "experiment": 1,
    }
    assert list(record) == ["step", "loss", "training", "model", "note", "experiment"]
    assert list(experiment.records) == [record]


def test_override_order_record_then_nearest_node() -> None:
    experiment, _model, train = three_levels()
    train.push(step=0)
    train.push(step=1, note="from record", model="m-override")
    first, second = train.records
    assert first["note"] == "from model"
    assert second["note"] == "from record"
    assert second["model"] == "m-override"
    train.set(note="from train")
    assert first["note"] == "from train"
    assert second["note"] == "from record"
    assert experiment.fields["note"] == "from experiment"


def test_fields_added_later_show_in_existing_records() -> None:
    experiment, model, train = three_levels()
    for step in range(CHUNK_ROWS + 10):
        train.push(step=step)
    records = train.records
    assert "seed" not in records[0]
    experiment.set(seed=7)
    model.fields["lr"] = 0.1
    assert records[0]["seed"] == 7
    assert records[-1]["lr"] == 0.1
    assert records.where(seed=7, lr=0.1).__len__() == CHUNK_ROWS + 10
    experiment.fields["seed"] = 8
    assert records[5]["seed"] == 8


def test_fields_are_not_copied_into_records() -> None:
    experiment, _, train = three_levels()
    for step in range(1000):
        train.push(step=step)
    train.flush()
    assert list(train._table.columns) == ["step"]
    assert experiment.nbytes <= 1000 * 8 * 2


def test_add_collects_until_commit() -> None:
    _, _, train = three_levels()
    train.add(step=0)
    train.add({"loss": 0.5})
    train.add(loss=0.25)
    assert len(train) == 0
    train.commit()
    train.commit()
    first, empty = train.records
    assert (first["step"], first["loss"]) == (0, 0.25)
    assert "step" not in empty
    assert empty["model"] == "m1"


def test_push_takes_a_mapping_and_keywords() -> None:
    root = Recorder()
    root.push({"a": 1, "b": 2}, b=3)
    root.push({"mapping": "is a field name too"})
    assert dict(root.records[0]) == {"a": 1, "b": 3}
    assert root.records[1]["mapping"] == "is a field name too"


def test_records_order_own_then_children_depth_first() -> None:
    root = Recorder(level="root")
    left = root.child(level="left")
    left_leaf = left.child(level="left-leaf")
    right = root.child(level="right")
    for node in (right, left_leaf, left, root):
        node.push(at=node.fields["level"])
    assert [record["at"] for record in root.records] == ["root", "left", "left-leaf", "right"]
    assert [record["at"] for record in left.records] == ["left", "left-leaf"]
    assert [record["at"] for record in left.own_records] == ["left"]


def test_set_parent_moves_a_subtree_and_refuses_cycles() -> None:
    first, second = Recorder(run=1), Recorder(run=2)
    child = first.child(kind="leaf")
    child.push(x=1)
    assert child.records[0]["run"] == 1
    child.set_parent(second)
    assert child.records[0]["run"] == 2
    assert first.children == ()
    assert second.children == (child,)
    with pytest.raises(RecorderError, match="cycle"):
        second.set_parent(child)
    with pytest.raises(RecorderError, match="cycle"):
        second.set_parent(second)
    child.set_parent(None)
    assert child.parent is None
    assert "run" not in child.records[0]


def test_record_mapping_behaviour() -> None:
    root = Recorder(a=1)
    root.push(b=2)
    record = root.records[0]
    assert record == {"a": 1, "b": 2}
    assert record.get("missing") is None
    assert record.get("missing", 5) == 5
    assert "a" in record
    assert "missing" not in record
    assert 3 not in record
    assert len(record) == 2
    with pytest.raises(KeyError):
        record["missing"]
    with pytest.raises(TypeError):
        record["b"] = 3  # type: ignore[index]
    assert repr(record) == "{'b': 2, 'a': 1}"
    assert record.node is root
    assert record.index == 0


def test_records_is_a_sequence_snapshot() -> None:
    root = Recorder()
    for value in range(10):
        root.child(part=value % 2).push(value=value)
    records = root.records
    root.children[0].push(value=99)
    assert len(records) == 10
    assert records[-1]["value"] == 9
    assert [r["value"] for r in records[2:8:3]] == [2, 5]
    assert [r["value"] for r in records[::-4]] == [9, 5, 1]
    with pytest.raises(IndexError, match="out of range for 10 records"):
        records[10]
    assert len(root.records) == 11


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([1, 2, 3], np.int64),
        ([1.5, 2, 3], np.float64),
        ([True, False], np.bool_),
        (["a", "bbbb"], np.dtype("<U4")),
        ([np.float32(1), np.float32(2)], np.float32),
        ([1, "a"], object),
        ([True, 2], object),
        ([None, 1.0], object),
        ([[1, 2], [3]], object),
        ([2**70, 1], object),
    ],
)
def test_column_dtypes(values: list[Any], dtype: Any) -> None:
    root = Recorder()
    for value in values:
        root.push(v=value)
    column = root.to_columns()["v"]
    assert column.dtype == np.dtype(dtype)
    assert [record["v"] for record in root.records] == values


def test_column_widens_across_chunks_without_changing_values() -> None:
    root = Recorder()
    for value in range(CHUNK_ROWS):
        root.push(v=value, s="x")
    root.push(v=0.5, s="longer text")
    column = root.to_columns()["v"]
    assert column.dtype == np.float64
    assert column[:CHUNK_ROWS].tolist() == list(range(CHUNK_ROWS))
    assert root.to_columns()["s"].dtype == np.dtype("<U11")
    assert root.records[0]["s"] == "x"
    root.push(v="text")
    assert root.to_columns()["v"].dtype == object
    assert type(root.records[3]["v"]) is float  # widened to float64 before, kept as float


def test_missing_values_are_masked_and_fall_back_to_fields() -> None:
    root = Recorder(loss=-1.0)
    node = root.child()
    node.push(a=1)
    for _ in range(CHUNK_ROWS):
        node.push(a=2)
    node.push(b="late")
    node.push(a=3, loss=0.5)
    columns = node.to_columns()
    assert columns["a"].mask.tolist() == [False] * (CHUNK_ROWS + 1) + [True, False]
    assert columns["b"].mask.sum() == CHUNK_ROWS + 2
    assert columns["loss"].tolist()[-2:] == [-1.0, 0.5]
    assert not columns["loss"].mask.any()
    assert "a" not in node.records[-2]
    assert node.records[-2]["loss"] == -1.0


def test_field_names_must_be_text() -> None:
    with pytest.raises(RecordValueError, match="must be str"):
        Recorder({1: "x"})  # type: ignore[dict-item]
    root = Recorder()
    root.push(a=1)
    with pytest.raises(RecordValueError, match="must be str"):
        root.push({2: "x"})  # type: ignore[dict-item]


def test_many_pushes_are_stored_as_numbers() -> None:
    root = Recorder()
    for step in range(100_000):
        root.push(step=step, loss=0.5)
    root.flush()
    assert root._table.pending["step"] == []
    assert root.nbytes <= 2 * 2 * 100_000 * 8
    assert root.to_columns()["step"].sum() == sum(range(100_000))
