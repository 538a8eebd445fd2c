"""Lock mode and the readers-writer lock, with real processes and a killed holder."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.errors import LockTimeoutError
from ataraxis_like.hdf5 import Hdf5Sink, SinkInUseError, locked_file, open_sink

from ..support.processes import run_together
from . import workers

pytestmark = pytest.mark.timeout(60)


def test_lock_mode_writers_take_turns(h5_path: Path, start_method: str) -> None:
    context = mp.get_context(start_method)
    Hdf5Sink(h5_path, "w", sharing="lock").close()
    start = context.Event()
    count = 3000
    processes = [
        context.Process(target=workers.lock_mode_writer, args=(str(h5_path), index, count, start))
        for index in range(3)
    ]
    run_together(processes, start, 45)
    with open_sink(h5_path) as reader:
        shared = reader.load("shared")
        assert len(shared) == 3 * count
        for index in range(3):
            mine = shared[shared // 1_000_000 == index] - index * 1_000_000
            assert np.array_equal(mine, np.arange(count))
            assert np.array_equal(reader.load(f"own/{index}"), np.arange(count))


def test_lock_mode_in_one_process_reads_and_writes(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "a", sharing="lock") as sink:
        sink.extend("x", [1, 2, 3])
        assert sink.load("x").tolist() == [1, 2, 3]
        sink.append("x", 4)
        sink.write("meta", np.arange(2))
        sink.set_attrs("x", units="s")
        assert sink.load("x").tolist() == [1, 2, 3, 4]
        assert sink.attrs("x") == {"units": "s"}


def test_readers_share_the_lock_and_a_writer_waits(h5_path: Path) -> None:
    with h5py.File(h5_path, "w") as handle:
        handle["x"] = np.arange(3)
    context = mp.get_context("fork")
    holding, release = context.Event(), context.Event()
    reader = context.Process(target=workers.hold_locked, args=(str(h5_path), "r", holding,
                                                               release))  # fmt: skip
    reader.start()
    try:
        assert holding.wait(30)
        with locked_file(h5_path, "r", timeout=5) as handle:
            assert handle["x"][:].tolist() == [0, 1, 2]
        with (
            pytest.raises(LockTimeoutError, match="stayed locked"),
            locked_file(h5_path, "a", timeout=0.2),
        ):
            pass
        with pytest.raises(SinkInUseError):
            Hdf5Sink(h5_path, "a", lock_timeout=0.2)
    finally:
        release.set()
        reader.join(30)
    with locked_file(h5_path, "a", timeout=5) as handle:
        handle["y"] = 1


def test_a_killed_writer_holding_the_lock_blocks_nobody(h5_path: Path) -> None:
    context = mp.get_context("spawn")
    holding, release = context.Event(), context.Event()
    writer = context.Process(target=workers.hold_locked, args=(str(h5_path), "w", holding,
                                                               release))  # fmt: skip
    writer.start()
    assert holding.wait(30)
    with pytest.raises(LockTimeoutError), locked_file(h5_path, "r", timeout=0.2):
        pass
    os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
    writer.join(10)
    with locked_file(h5_path, "r", timeout=5) as handle:  # stale SWMR flags are cleared
        assert handle["x"].shape == (3,)
    with locked_file(h5_path, "a", timeout=5) as handle:
        handle["x"][:] = [1, 2, 3]
    with Hdf5Sink(h5_path, "a") as sink:
        assert sink.load("x").tolist() == [1, 2, 3]


def test_a_sink_holds_the_writer_lock_for_its_lifetime(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("x", 1)
        with pytest.raises(LockTimeoutError), locked_file(h5_path, "r", timeout=0.1):
            pass
    with locked_file(h5_path, "r", timeout=1) as handle:
        assert handle["x"][:].tolist() == [1]


@pytest.mark.filterwarnings(  # a fork beside the sink's writer thread is the case under test
    r"ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning"
)
def test_a_forked_child_does_not_keep_the_lock(h5_path: Path) -> None:
    context = mp.get_context("fork")
    holding, release = context.Event(), context.Event()
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        sink.append("x", 1)
        child = context.Process(target=workers.hold_locked, args=(str(h5_path) + ".other", "w",
                                                                  holding, release))  # fmt: skip
        child.start()
        assert holding.wait(30)
    try:
        with Hdf5Sink(h5_path, "a", lock_timeout=1) as sink:
            assert sink.load("x").tolist() == [1]
    finally:
        release.set()
        child.join(30)
