"""SimRecorder's README quick start, as written (imports changed), against real stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.compat import keyed_recorder
from tests.recorder.redis_server import answers_ping, free_port

pytestmark = pytest.mark.timeout(60)


def quick_start() -> dict[str, object]:
    """The README's Quickstart code in order; returns what the README says to look at."""
    some_value1, some_value2 = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    # --- as written in the README, only the import changed -----------------------------
    from ataraxis_like.compat.keyed_recorder import (
        HDF5DataStore,
        InMemoryDataStore,
        Recorder,
        RedisDataStore,
    )

    in_memory_datastore = InMemoryDataStore()
    hdf5_datastore = HDF5DataStore("~/output/data.h5")
    redis_datastore = RedisDataStore(server_host="localhost", data_directory="~/output")

    # To use only in-memory datastore
    recorder = Recorder(in_memory_datastore)

    # To use only the hdf5 datastore
    recorder = Recorder(hdf5_datastore)

    # To use all
    recorder = Recorder(in_memory_datastore, redis_datastore, hdf5_datastore)

    # This appends some_value to a list with key 'a/b'
    recorder.record("a/b", some_value1)
    recorder.record("a/b", some_value2)
    # This appends some_value to a list with key 'a/c'
    recorder.record("a/c", some_value2)

    # This gives you a list of values your recorded [some_value1, some_value2]
    everything_under_a = recorder.get_all("a")
    ## After everything
    recorder.close()
    # --- end of the README code ----------------------------------------------------------
    return {
        "get_all_a": everything_under_a,
        "values": (some_value1, some_value2),
        "stores": (in_memory_datastore, hdf5_datastore, redis_datastore),
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_quick_start_with_a_running_server(
    home: Path, redis_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyed_recorder, "REDIS_PORT", redis_port)
    result = quick_start()
    first, second = result["values"]  # type: ignore[misc]
    under_a = result["get_all_a"]
    assert isinstance(under_a, dict)
    assert sorted(under_a) == ["a/b", "a/c"]
    assert [v.tolist() for v in under_a["a/b"]] == [first.tolist(), second.tolist()]
    hdf5 = keyed_recorder.Recorder(keyed_recorder.HDF5DataStore(home / "output/data.h5"))
    stored = hdf5.get_all("a/b")
    assert np.array_equal(np.asarray(stored), np.stack([first, second]))
    hdf5.close()
    redis = keyed_recorder.Recorder(keyed_recorder.RedisDataStore("localhost", home / "output"))
    assert [v.tolist() for v in redis.get_all("a/c")] == [second.tolist()]
    assert redis.get("a/b")[0].tolist() == first.tolist()
    assert redis.get_all("missing") == []
    redis.close()
    assert answers_ping(redis_port)


def test_quick_start_starts_and_stops_its_own_server(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("redis")
    if not __import__("shutil").which("redis-server"):
        pytest.skip("redis-server is not installed (CI installs it)")
    port = free_port()
    monkeypatch.setattr(keyed_recorder, "REDIS_PORT", port)
    quick_start()
    assert not answers_ping(port)
    assert (home / "output" / "dump.rdb").exists()
    again = keyed_recorder.RedisDataStore(server_host="localhost", data_directory="~/output")
    recorder = keyed_recorder.Recorder(again)
    assert len(recorder.get_all("a/b")) == 2
    recorder.close()
    assert not answers_ping(port)


def test_simrecorders_own_datastore_tests_pass(home: Path) -> None:
    """The pattern of SimRecorder's tests/test_datastores.py: record, close, reopen, compare."""
    arrays = np.random.default_rng(0).random((10, 10, 5, 2, 6))
    key = "train/what"
    memory = keyed_recorder.InMemoryDataStore()
    for datastore in (memory, keyed_recorder.HDF5DataStore(home / "data.h5")):
        recorder = keyed_recorder.Recorder(datastore)
        for array in arrays:
            recorder.record(key, array)
        recorder.close()
    for datastore in (memory, keyed_recorder.HDF5DataStore(home / "data.h5")):
        recorder = keyed_recorder.Recorder(datastore)
        assert (arrays == np.array(recorder.get_all(key))).all()
        recorder.close()
