"""SeriesRecorder: one record call into several stores, reads from the first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.recorder import (
    Hdf5Store,
    MemoryStore,
    RecorderError,
    RecordValueError,
    SeriesRecorder,
)
from ataraxis_like.recorder.redis_store import RedisStore

pytestmark = pytest.mark.timeout(60)


def test_records_into_every_store_and_reads_from_the_first(
    tmp_path: Path, redis_port: int, namespace: str
) -> None:
    memory = MemoryStore()
    redis = RedisStore("127.0.0.1", redis_port, namespace=namespace)
    hdf5 = Hdf5Store(tmp_path / "run.h5", "w")
    with SeriesRecorder(memory, redis, hdf5) as recorder:
        for step in range(100):
            recorder.record("train/loss", 1 / (step + 1))
        recorder.record("train/name", "baseline")
        recorder.record_many("test/accuracy", np.array([0.5, 0.75]))
        assert isinstance(recorder.get("train/loss"), np.ndarray)
        assert sorted(recorder.get_all("train")) == ["train/loss", "train/name"]
        assert recorder.keys() == ["test/accuracy", "train/loss", "train/name"]
        for store in (memory, redis, hdf5):
            assert np.asarray(store.get("train/loss")).tolist() == [
                1 / (step + 1) for step in range(100)
            ]
            assert np.asarray(store.get("test/accuracy")).tolist() == [0.5, 0.75]
    assert memory.closed
    assert redis.closed
    assert hdf5.closed
    with Hdf5Store(tmp_path / "run.h5", "r") as again:
        assert [str(name) for name in again.get("train/name")] == ["baseline"]


def test_a_value_one_store_refuses_reaches_none(tmp_path: Path) -> None:
    with Hdf5Store(tmp_path / "old.h5", "w") as old:
        old.append("x", 1)
    memory = MemoryStore()
    recorder = SeriesRecorder(memory, Hdf5Store(tmp_path / "old.h5", "a"))
    with pytest.raises(RecordValueError, match="'x' holds values of shape \\(\\) int64"):
        recorder.record("x", 0.5)
    assert "x" not in memory
    recorder.record("x", 2)
    assert memory.get("x").tolist() == [2]
    assert recorder.stores[1].get("x")[:].tolist() == [1, 2]
    recorder.close()


def test_needs_stores() -> None:
    with pytest.raises(RecorderError, match="at least one store"):
        SeriesRecorder()
    with pytest.raises(RecorderError, match="takes stores"):
        SeriesRecorder({})  # type: ignore[arg-type]
