"""SimRecorder's README code blocks, run against ataraxis_like with real HDF5 and Redis.

The README's twelve blocks: three install commands and the command running its own tests
(replaced, see docs/migrating-from-simrecorder.md; their tests check the replacements), and
eight Python blocks that make one quick start. ``quick_start`` runs those eight in order, with
the import changed; each ``test_block*`` checks what the README says about its block.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.compat import keyed_recorder
from ataraxis_like.recorder import RecordValueError, SeriesKeyError
from tests.recorder.redis_server import answers_ping, free_port

from . import simrecorder_workers

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> dict[str, object]:
    """The README's Python blocks (4 to 11) in order; returns what the README says to look at.

    ``some_value1`` and ``some_value2`` are the README's placeholders: two arrays here.
    """
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


@pytest.fixture
def own_redis_port(monkeypatch: pytest.MonkeyPatch) -> int:
    """A free port the compat RedisDataStore uses (and starts its own server on)."""
    pytest.importorskip("redis")
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (CI installs it)")
    port = free_port()
    monkeypatch.setattr(keyed_recorder, "REDIS_PORT", port)
    return port


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


def test_quick_start_starts_and_stops_its_own_server(home: Path, own_redis_port: int) -> None:
    quick_start()
    assert not answers_ping(own_redis_port)
    assert (home / "output" / "dump.rdb").exists()
    again = keyed_recorder.RedisDataStore(server_host="localhost", data_directory="~/output")
    recorder = keyed_recorder.Recorder(again)
    assert len(recorder.get_all("a/b")) == 2
    recorder.close()
    assert not answers_ping(own_redis_port)


def test_blocks_1_to_3_install_commands_are_replaced() -> None:
    """pip install ataraxis-like; ataraxis-like[redis] for Redis; no system libhdf5 (h5py's
    wheels carry it)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "ataraxis-like"
    assert any(need.startswith("redis") for need in project["optional-dependencies"]["redis"])
    assert any(need.startswith("h5py") for need in project["dependencies"])
    assert h5py.version.hdf5_version


def test_block4_the_import() -> None:
    from ataraxis_like.compat.keyed_recorder import (
        HDF5DataStore,
        InMemoryDataStore,
        Recorder,
        RedisDataStore,
    )

    for datastore in (HDF5DataStore, InMemoryDataStore, RedisDataStore):
        assert issubclass(datastore, keyed_recorder.DataStore)
    assert callable(Recorder.record)


def test_block5_in_memory_datastore_keeps_data_in_this_process() -> None:
    in_memory_datastore = keyed_recorder.InMemoryDataStore()
    recorder = keyed_recorder.Recorder(in_memory_datastore)
    recorder.record("a/b", 1.0)
    recorder.close()
    assert keyed_recorder.Recorder(in_memory_datastore).get_all("a/b") == [1.0]


def test_block6_an_existing_hdf5_file_opens_read_only(home: Path) -> None:
    hdf5_datastore = keyed_recorder.HDF5DataStore("~/output/data.h5")
    recorder = keyed_recorder.Recorder(hdf5_datastore)
    recorder.record("a/b", np.ones(2))
    recorder.close()
    assert (home / "output" / "data.h5").is_file()  # '~' expanded, folder made
    reader = keyed_recorder.Recorder(keyed_recorder.HDF5DataStore("~/output/data.h5"))
    with pytest.raises(SeriesKeyError, match="read-only"):
        reader.record("a/b", np.ones(2))
    assert np.asarray(reader.get_all("a/b")).tolist() == [[1.0, 1.0]]
    reader.close()


def test_block7_redis_for_workers_on_other_hosts_and_several_datastores(
    home: Path, own_redis_port: int
) -> None:
    redis_datastore = keyed_recorder.RedisDataStore(
        server_host="localhost", data_directory="~/output"
    )
    main = keyed_recorder.Recorder(redis_datastore)  # starts the server, as SimRecorder does
    second = keyed_recorder.Recorder(keyed_recorder.RedisDataStore("localhost", "~/output"))
    second.record("from/second", 1)  # SimRecorder allowed one RedisDataStore per host
    context = mp.get_context("spawn")
    workers = [
        context.Process(
            target=simrecorder_workers.record_from_a_worker,
            args=("127.0.0.1", own_redis_port, str(home / "output"), worker),
        )
        for worker in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    for worker in range(2):
        assert main.get_all(f"workers/{worker}") == [float(step) for step in range(50)]
    second.close()
    assert main.get_all("from/second") == [1]
    main.close()
    assert not answers_ping(own_redis_port)
    assert (home / "output" / "dump.rdb").exists()  # persisted in data_directory


def test_block8_every_datastore_records_and_the_first_answers(home: Path) -> None:
    memory = keyed_recorder.InMemoryDataStore()
    hdf5 = keyed_recorder.HDF5DataStore("~/output/data.h5")
    recorder = keyed_recorder.Recorder(memory, hdf5)
    recorder.record("loss", 0.5)
    with pytest.raises(RecordValueError, match="'loss' holds"):
        recorder.record("loss", "not a number")  # refused before any datastore took it
    assert recorder.get_all("loss") == [0.5]
    assert np.asarray(recorder.get_all("loss", datastore=hdf5)).tolist() == [0.5]
    recorder.close()


def test_block9_slashes_make_hdf5_groups(home: Path) -> None:
    recorder = keyed_recorder.Recorder(keyed_recorder.HDF5DataStore("~/output/data.h5"))
    some_value1, some_value2 = np.zeros(3), np.ones(3)
    recorder.record("a/b", some_value1)
    recorder.record("a/b", some_value2)
    recorder.record("a/c", some_value2)
    recorder.close()
    with h5py.File(home / "output" / "data.h5", "r") as file:
        assert isinstance(file["a"], h5py.Group)
        assert file["a/b"].shape == (2, 3)
        assert file["a/c"].shape == (1, 3)


def test_block10_get_all_of_a_key_and_of_a_prefix(home: Path) -> None:
    """Deliberately different: for a prefix ('a' over 'a/b' and 'a/c') get_all gives a dict
    by key; the README's list of values is get_all of the key itself."""
    result = quick_start_in_memory_and_hdf5()
    some_value1, some_value2 = result["values"]
    assert sorted(result["get_all_a"]) == ["a/b", "a/c"]
    assert [v.tolist() for v in result["get_all_a_b"]] == [some_value1.tolist(), some_value2]
    script = (
        "from ataraxis_like.compat.keyed_recorder import Recorder, HDF5DataStore\n"
        "recorder = Recorder(HDF5DataStore('~/output/data.h5'))\n"
        "view = recorder.get_all('a/b')\n"
        "print(type(view).__name__, view.shape, view[1:, 0].tolist())\n"
        "recorder.close()\n"
    )
    other_script = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert other_script.stdout == "LazySeries (2, 3) [1.0]\n"  # sliced without loading all


def quick_start_in_memory_and_hdf5() -> dict[str, object]:
    some_value1, some_value2 = np.arange(3.0), [1.0, 1.0, 1.0]
    recorder = keyed_recorder.Recorder(
        keyed_recorder.InMemoryDataStore(), keyed_recorder.HDF5DataStore("~/output/data.h5")
    )
    recorder.record("a/b", some_value1)
    recorder.record("a/b", some_value2)
    recorder.record("a/c", some_value2)
    found = {"get_all_a": recorder.get_all("a"), "get_all_a_b": recorder.get_all("a/b")}
    recorder.close()
    return {**found, "values": (some_value1, some_value2)}


def test_block11_close_flushes_to_disk(home: Path) -> None:
    recorder = keyed_recorder.Recorder(keyed_recorder.HDF5DataStore("~/output/data.h5"))
    for step in range(1000):
        recorder.record("steps", step)
    recorder.close()
    with h5py.File(home / "output" / "data.h5", "r") as file:
        assert file["steps"][()].tolist() == list(range(1000))


def test_any_value_with_allow_pickle(home: Path, own_redis_port: int) -> None:
    """SimRecorder kept any value (pickled, in Redis); here it is the allow_pickle opt-in."""
    config = {"learning_rate": 0.1, "layers": [64, 64], "name": "run 1"}
    stores = (
        keyed_recorder.InMemoryDataStore(allow_pickle=True),
        keyed_recorder.RedisDataStore("localhost", "~/output", allow_pickle=True),
        keyed_recorder.HDF5DataStore("~/output/data.h5", allow_pickle=True),
    )
    recorder = keyed_recorder.Recorder(*stores)
    recorder.record("config", config)
    recorder.record("config", None)
    for datastore in stores:
        assert list(recorder.get_all("config", datastore=datastore)) == [config, None]
    recorder.close()
    wary = keyed_recorder.Recorder(keyed_recorder.InMemoryDataStore())
    with pytest.raises(RecordValueError, match="allow_pickle=True"):
        wary.record("config", config)
    wary.close()


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
