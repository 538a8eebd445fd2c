"""Redis with several writer processes, stores that travel to workers, draining into HDF5."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.recorder import Hdf5Store
from ataraxis_like.recorder.redis_store import RedisStore, drain_to_hdf5

from .workers import record_into_redis, record_with_pickled_store

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_every_value_from_every_writer_arrives_once(
    redis_port: int, namespace: str, method: str
) -> None:
    writers, count = 4, 3000
    context = multiprocessing.get_context(method)
    processes = [
        context.Process(target=record_into_redis, args=(redis_port, namespace, rank, count))
        for rank in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        shared = store.get("shared/values")
        expected = [rank * 1_000_000 + index for rank in range(writers) for index in range(count)]
        assert sorted(shared.tolist()) == expected
        for rank in range(writers):
            per_writer = shared[(shared // 1_000_000) == rank]
            assert per_writer.tolist() == list(range(rank * 1_000_000, rank * 1_000_000 + count))
            assert store.get(f"own/w{rank}").tolist() == [float(i) for i in range(count)]
        assert store.keys("own") == [f"own/w{rank}" for rank in range(writers)]


def test_a_store_object_travels_to_a_spawned_worker(redis_port: int, namespace: str) -> None:
    store = RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=1000)
    store.append("pickled", -1)
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=record_with_pickled_store, args=(store, 7))
    worker.start()
    worker.join(timeout=60)
    assert worker.exitcode == 0
    assert sorted(store.get("pickled").tolist()) == [-1, 7]
    store.close()


def fill(store: RedisStore) -> None:
    store.extend("train/loss", np.linspace(0, 1, 5000))
    for frame in np.arange(12, dtype=np.uint16).reshape(3, 2, 2):
        store.append("camera/frames", frame)
    store.extend("notes", ["first", "ünï", ""])


def test_drain_into_hdf5(redis_port: int, namespace: str, tmp_path: Path) -> None:
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        fill(store)
        copied = drain_to_hdf5(store, tmp_path / "out.h5", delete=True)
        assert copied == ["camera/frames", "notes", "train/loss"]
        assert store.keys() == []
    with Hdf5Store(tmp_path / "out.h5", "r") as drained:
        assert np.array_equal(drained.get("train/loss")[:], np.linspace(0, 1, 5000))
        frames = np.asarray(drained.get("camera/frames"))
        assert frames.dtype == np.uint16
        assert frames.shape == (3, 2, 2)
        assert drained.get("notes")[:].tolist() == ["first", "ünï", ""]


def test_drain_command(redis_port: int, namespace: str, tmp_path: Path) -> None:
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        fill(store)
    command = [
        sys.executable, "-m", "ataraxis_like.recorder.redis_store", str(tmp_path / "cli.h5"),
        "--host", "127.0.0.1", "--port", str(redis_port), "--namespace", namespace,
        "--prefix", "train",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"copied 1 series into {tmp_path / 'cli.h5'}"
    with Hdf5Store(tmp_path / "cli.h5", "r") as drained:
        assert drained.keys() == ["train/loss"]
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        assert store.keys() == ["camera/frames", "notes", "train/loss"]
