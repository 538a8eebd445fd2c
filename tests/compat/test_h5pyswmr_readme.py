"""h5pySWMR's README code blocks, run against ataraxis_like with real HDF5, processes and Redis.

The README's eight blocks: four Python blocks (its File usage, the two import lines, the Redis
configuration) run with only the import changed; two install commands and two commands that
run its own test are replaced (see docs/migrating-from-h5pyswmr.md; the tests below check the
replacements: the package and its extras, and their parallel test's pattern).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.compat import h5pyswmr
from ataraxis_like.errors import LockTimeoutError
from tests.recorder.redis_server import answers_ping, redis_server

from . import h5pyswmr_workers

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each block runs in its own folder, with the default (flock) lock restored after."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    h5pyswmr.locking.redis_conn = None
    h5pyswmr.locking.lock_url = None


def _times_out(dataset: h5pyswmr.Dataset) -> None:
    """Reading ``dataset`` waits for the lock, and gives up after ``locking.timeout``."""
    h5pyswmr.locking.timeout = 0.2
    try:
        with pytest.raises(LockTimeoutError):
            dataset[:]
    finally:
        h5pyswmr.locking.timeout = 20.0


def test_block1_file_usage_runs_with_the_import_changed(in_tmp: Path) -> None:
    # --- as written in the README, only the import changed (numpy as np is assumed there)
    # replaces 'from h5py import File'
    from ataraxis_like.compat.h5pyswmr import File

    f = File("test.h5", "w")
    # create a dataset containing a 500x700 random array
    f.create_dataset(name="/mygroup/mydataset", data=np.random.random((500, 700)))
    # read data back into memory
    data = f["/mygroup/mydataset"][:]
    # no need to explicitely close the file (files are opened/closed when accessed)
    # --- end of the block
    assert data.shape == (500, 700)
    assert data.dtype == np.float64
    assert data.min() >= 0
    assert data.max() < 1
    import h5py

    with h5py.File(in_tmp / "test.h5", "r") as handle:  # closed between calls: h5py opens it
        assert np.array_equal(handle["mygroup/mydataset"][:], data)
    assert f.keys() == ["mygroup"]
    assert "mydataset" in f["mygroup"]


def test_block1_each_access_takes_the_lock(in_tmp: Path) -> None:
    """Reads wait while another process writes (and a killed writer blocks nobody)."""
    from ataraxis_like.compat.h5pyswmr import File

    f = File("test.h5", "w")
    f.create_dataset(name="/mygroup/mydataset", data=np.arange(10))
    dataset = f["/mygroup/mydataset"]
    context = mp.get_context("spawn")
    holding = context.Event()
    writer = context.Process(target=h5pyswmr_workers.hold_write_lock,
                             args=(str(in_tmp / "test.h5"), holding))  # fmt: skip
    writer.start()
    try:
        assert holding.wait(60)
        _times_out(dataset)
    finally:
        writer.kill()
        writer.join(30)
    assert dataset[:].tolist() == list(range(10))


def test_blocks2_and_3_import_as_h5py(in_tmp: Path) -> None:
    # import h5py  ->  import h5pyswmr as h5py  ->  (here)
    import ataraxis_like.compat.h5pyswmr as h5py

    f = h5py.File("data.h5", "w")
    group = f.create_group("runs")
    dataset = group.create_dataset("x", data=np.zeros(4), maxshape=(None,))
    dataset[1:3] = [1.0, 2.0]
    dataset.resize((6,))
    dataset.attrs["units"] = "s"
    assert isinstance(dataset, h5py.Dataset)
    assert isinstance(f["runs"], h5py.Group)
    assert f["runs/x"][:].tolist() == [0.0, 1.0, 2.0, 0.0, 0.0, 0.0]
    assert f["/runs"]["x"].shape == (6,)
    assert f["runs/x"].dtype == np.float64
    assert dict(f["runs"].items()).keys() == {"x"}
    assert "x" in f["runs"]
    assert list(dataset.attrs) == ["units"]
    assert dataset.attrs.get("missing", 0) == 0
    del dataset.attrs["units"]
    assert "units" not in dataset.attrs
    assert f.require_group("runs").path == "/runs"
    f.create_dataset(name="runs/x", data=np.ones(2), overwrite=True)  # h5pySWMR's keyword
    assert f["runs/x"][:].tolist() == [1.0, 1.0]
    del f["runs/x"]
    assert f["runs"].keys() == []
    with pytest.raises(KeyError):
        f["nothing"]


def test_blocks4_and_5_install_commands_are_replaced() -> None:
    """pip install ataraxis-like (h5py comes along), plus [redis] for locks across hosts."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "ataraxis-like"
    assert any(need.startswith("h5py") for need in project["dependencies"])
    assert any(need.startswith("redis") for need in project["optional-dependencies"]["redis"])


def test_blocks6_and_7_their_parallel_test_pattern(in_tmp: Path) -> None:
    """Their test_parallel, in our words: every fourth worker overwrites rows of its dataset,
    the others read theirs, all at once through one File; the written rows are all there."""
    from ataraxis_like.compat.h5pyswmr import File

    workers, shape = 12, (400, 300)
    f = File(str(in_tmp / "parallel.h5"), "w")
    for index in range(workers):
        f.create_dataset(name=f"/testgrp/dataset{index}",
                         data=np.random.random(shape).astype(np.float32))  # fmt: skip
    context = mp.get_context("fork")
    start, results = context.Event(), context.Queue()
    jobs = [
        context.Process(
            target=h5pyswmr_workers.parallel_worker, args=(f, index, shape, start, results)
        )
        for index in range(workers)
    ]
    for job in jobs:
        job.start()
    start.set()
    outcomes = sorted(results.get(timeout=90) for _ in jobs)
    for job in jobs:
        job.join(30)
        assert job.exitcode == 0
    assert outcomes == [(index, "ok") for index in range(workers)]
    for index in range(0, workers, 4):
        assert np.all(f[f"/testgrp/dataset{index}"][0:50,] == index)


@pytest.fixture
def port_6666(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A server on the README's port 6666 when that port is free here, else on a free one."""
    port = None if answers_ping(6666) else 6666
    try:
        with redis_server(tmp_path_factory.mktemp("redis6666"), port) as started:
            yield started
    except RuntimeError:  # 6666 taken by something that is not Redis: any free port
        with redis_server(tmp_path_factory.mktemp("redis-free")) as started:
            yield started


def test_block8_redis_configuration(in_tmp: Path, port_6666: int) -> None:
    # --- as written in the README, only the import changed (the port: see port_6666)
    import redis

    from ataraxis_like.compat.h5pyswmr import locking

    # overwrite redis connection object
    locking.redis_conn = redis.StrictRedis(host="localhost", port=port_6666, db=0,
                                           decode_responses=True)  # fmt: skip
    # --- end of the block
    from ataraxis_like.compat.h5pyswmr import File

    assert locking.url() == f"redis://localhost:{port_6666}/0"
    f = File("test.h5", "w")
    f.create_dataset(name="/mygroup/mydataset", data=np.arange(5))
    assert f["/mygroup/mydataset"][:].tolist() == list(range(5))
    server = redis.Redis(port=port_6666)
    tokens = [key for key in server.keys("ataraxis-like:h5lock:*") if key.endswith(b":token")]
    assert len(tokens) == 1
    assert int(server.get(tokens[0])) == 2
    assert os.path.exists("test.h5.lock") is False  # flock was never touched


def test_threads_exclude_each_other(in_tmp: Path) -> None:
    """Their README: threads unsupported. Here each call locks through its own descriptor."""
    import threading

    from ataraxis_like.hdf5 import locked_file

    f = h5pyswmr.File("threads.h5", "w")
    dataset = f.create_dataset("x", data=np.arange(3))
    holding, release = threading.Event(), threading.Event()

    def write_and_hold() -> None:
        with locked_file(in_tmp / "threads.h5", "a", timeout=10) as handle:
            handle["x"][0] = 9
            holding.set()
            release.wait(30)

    writer = threading.Thread(target=write_and_hold)
    writer.start()
    try:
        assert holding.wait(30)
        _times_out(dataset)
    finally:
        release.set()
        writer.join(30)
    assert dataset[:].tolist() == [9, 1, 2]
