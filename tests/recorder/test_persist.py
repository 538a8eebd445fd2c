"""save/load through the HDF5 sink (exact round trip, no pickle) and streaming from workers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import Hdf5Sink
from ataraxis_like.recorder import (
    Recorder,
    RecorderError,
    RecorderFormatError,
    RecordValueError,
    load,
)
from ataraxis_like.recorder.columns import CHUNK_ROWS

from .workers import build

pytestmark = pytest.mark.timeout(60)

FIELDS: dict[str, Any] = {
    "none": None,
    "flag": True,
    "count": 3,
    "huge": 2**80,
    "rate": 0.1,
    "nan": float("nan"),
    "name": "ünïcode",
    "tags": ("a", 1),
    "items": [1, [2, 3]],
    "config": {"lr": 0.1, "layers": [64, 64]},
    "by_number": {1: "one"},
    "scalar": np.float32(0.5),
    "array": np.arange(6, dtype=np.int16).reshape(2, 3),
    "complex": 1 + 2j,
}


def same(first: Any, second: Any) -> bool:
    if isinstance(first, np.ndarray):
        return (
            isinstance(second, np.ndarray)
            and first.dtype == second.dtype
            and np.array_equal(first, second)
        )
    if isinstance(first, float) and np.isnan(first):
        return isinstance(second, float) and np.isnan(second)
    return type(first) is type(second) and first == second


def assert_same_tree(first: Recorder, second: Recorder) -> None:
    for left, right in zip(first.walk(), second.walk(), strict=True):
        assert list(left.fields) == list(right.fields)
        for key, value in left.fields.items():
            assert same(value, right.fields[key]), key
        assert len(left) == len(right)
        left_columns, right_columns = left.own_records.to_columns(), right.own_records.to_columns()
        assert list(left_columns) == list(right_columns)
        for key, column in left_columns.items():
            other = right_columns[key]
            assert column.dtype == other.dtype, key
            assert np.array_equal(np.ma.getmaskarray(column), np.ma.getmaskarray(other)), key
            present = ~np.ma.getmaskarray(column)
            left_values = np.ma.getdata(column)[present].tolist()
            assert repr(left_values) == repr(np.ma.getdata(other)[present].tolist()), key


def rich_tree() -> Recorder:
    root = Recorder(FIELDS)
    model = root.child(model="m1")
    train = model.child(training=True)
    for step in range(CHUNK_ROWS + 5):
        train.push(step=step, loss=step / 7, ok=step % 2 == 0, tag="t" * (step % 5))
    train.push(step=-1, payload=[1, {"x": None}], small=np.float32(1.5))
    train.push(mixed=1)
    train.push(mixed="one")
    model.child(testing=True).push(accuracy=0.75)
    root.child(empty=True)
    return root


def test_round_trip_is_exact(tmp_path: Path) -> None:
    root = rich_tree()
    root.save(tmp_path / "tree.h5")
    back = Recorder.load(tmp_path / "tree.h5")
    assert_same_tree(root, back)
    assert [repr(r) for r in back.records] == [repr(r) for r in root.records]
    back.children[0].children[0].push(step=99, loss=0.0)
    assert back.records[CHUNK_ROWS + 8]["step"] == 99


def test_file_layout_groups_attributes_datasets_no_pickle(tmp_path: Path) -> None:
    rich_tree().save(tmp_path / "tree.h5")
    with h5py.File(tmp_path / "tree.h5", "r") as handle:
        root = handle["recorder"]
        assert root.attrs["name"] == "ünïcode"
        assert root.attrs["count"] == 3
        assert "none" not in root.attrs
        train = handle["recorder/n0/n0"]
        meta = json.loads(train["_meta"][()].decode())
        assert [column["name"] for column in meta["columns"]][:4] == ["step", "loss", "ok", "tag"]
        assert train["c1/s0/values"].dtype == np.float64
        assert train["c1/s0/mask"].dtype == np.bool_
        kinds: set[str] = set()
        handle.visititems(
            lambda _, item: kinds.add(item.dtype.kind) if isinstance(item, h5py.Dataset) else None
        )
        assert kinds <= {"i", "f", "b", "O"}
        for value in handle["recorder/n0/n0/c6/s0/values"].asstr()[()]:
            json.loads(value)


def test_save_refuses_an_existing_key_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "tree.h5"
    Recorder(run=1).save(path)
    with pytest.raises(RecorderError, match="already holds a recorder at 'recorder'"):
        Recorder(run=2).save(path)
    Recorder(run=2).save(path, key="second")
    assert load(path).fields == {"run": 1}
    assert load(path, key="second").fields == {"run": 2}
    Recorder(run=3).save(path, overwrite=True)
    assert load(path).fields == {"run": 3}
    with pytest.raises(RecorderFormatError, match="no saved recorder at 'second'"):
        load(path, key="second")


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tree.h5"
    with Hdf5Sink(path, "w") as sink:
        sink.write("recorder/_meta", json.dumps({"format": 99}))
    with pytest.raises(RecorderFormatError, match="format 99"):
        load(path)


def test_unsavable_values_are_named(tmp_path: Path) -> None:
    root = Recorder(callback=print)
    with pytest.raises(RecordValueError, match="builtin_function_or_method"):
        root.save(tmp_path / "tree.h5")


def test_workers_stream_records_into_one_file(tmp_path: Path) -> None:
    path = tmp_path / "streamed.h5"
    context = multiprocessing.get_context("spawn")
    count = 10_000
    with Hdf5Sink(path, "w", sharing="queue") as sink:
        workers = [
            context.Process(target=build, args=(rank, count, sink.client())) for rank in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=50)
            assert worker.exitcode == 0
    for rank in range(3):
        streamed = load(path, key=f"workers/w{rank}")
        assert_same_tree(build(rank, count), streamed)
        values = streamed.children[0].own_records.to_columns()["value"]
        assert values.dtype == np.float64
        assert values[count - 1 + (count - 1) // 1000] == count - 0.5
    with h5py.File(path, "r") as handle:
        assert "workers/w0/n0/c1/s1/values" in handle


def test_streamed_nodes_added_later_and_partial_flushes(tmp_path: Path) -> None:
    path = tmp_path / "streamed.h5"
    with Hdf5Sink(path, "w", sharing="queue") as sink:
        root = Recorder(run=1)
        stream = root.stream_to(sink.client(), "run")
        for step in range(CHUNK_ROWS * 2 + 3):
            root.push(step=step)
        stream.flush()
        late = root.child(kind="late")
        late.push(x=1.0)
        stream.close()
        root.push(step=-1)
    back = load(path, key="run")
    assert len(back) == CHUNK_ROWS * 2 + 3
    assert back.children[0].records[0]["x"] == 1.0
    assert back.children[0].records[0]["run"] == 1
