"""Writer preference and crash-proof waiting, for both lock backends (flock and Redis)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.errors import LockTimeoutError
from ataraxis_like.hdf5 import LockConfigError, locked_file
from ataraxis_like.hdf5._locks import open_lock

from . import lock_workers

pytestmark = pytest.mark.timeout(120)
WRITER_BOUND = 5.0  # s: 4 readers hold 20 ms each; the rest is the load of a shared machine
LEASE = 2.0  # s, Redis: a dead holder blocks others this long; a live one renews every third


@pytest.fixture(params=["flock", "redis"])
def lock_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "flock":
        yield "flock"
        return
    port = request.getfixturevalue("redis_port")
    yield f"redis://127.0.0.1:{port}/0?lease={LEASE}"


@pytest.fixture
def small_file(h5_path: Path) -> Path:
    with h5py.File(h5_path, "w") as handle:
        handle["x"] = np.arange(3)
    return h5_path


def test_a_writer_gets_in_while_readers_keep_arriving(small_file: Path, lock_url: str) -> None:
    context = mp.get_context("fork")
    inside, peak = context.Value("i", 0), context.Value("i", 0)
    turns, stop = context.Value("i", 0), context.Event()
    readers = [
        context.Process(target=lock_workers.steady_reader,
                        args=(str(small_file), lock_url, 0.02, inside, peak, turns, stop))
        for _ in range(4)
    ]  # fmt: skip
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 60
        while turns.value < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert turns.value >= 20, "the readers did not get going"
        waits = []
        for _ in range(3):
            began = time.monotonic()
            with locked_file(small_file, "a", lock=lock_url, timeout=WRITER_BOUND) as handle:
                waits.append(time.monotonic() - began)
                assert inside.value == 0  # no reader inside with the writer
                handle["x"][0] += 1
            before = turns.value
            deadline = time.monotonic() + 30
            while turns.value < before + 4 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert turns.value >= before + 4, "readers did not resume after the writer"
        assert max(waits) < WRITER_BOUND
        assert peak.value >= 2, "readers never shared the lock"
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
    with h5py.File(small_file, "r") as handle:
        assert handle["x"][0] == 3


def test_a_killed_waiting_writer_blocks_no_reader(small_file: Path, lock_url: str) -> None:
    context = mp.get_context("spawn")
    holding, waiting = context.Event(), context.Event()
    reader = context.Process(target=lock_workers.hold_lock,
                             args=(str(small_file), lock_url, False, holding))  # fmt: skip
    reader.start()
    writer = None
    try:
        assert holding.wait(60)
        writer = context.Process(target=lock_workers.wait_for_write_lock,
                                 args=(str(small_file), lock_url, waiting))  # fmt: skip
        writer.start()
        assert waiting.wait(60)
        newcomer = open_lock(small_file, lock_url)
        # the writer waits, so a new reader queues behind it ...
        deadline = time.monotonic() + 30
        while True:
            try:
                newcomer.acquire(exclusive=False, timeout=0.2)
            except LockTimeoutError:
                break
            newcomer.release()  # the writer had not marked itself yet
            assert time.monotonic() < deadline, "the waiting writer never held readers back"
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(30)
        # ... and gets in once the writer is dead (flock: at once; Redis: within the lease)
        began = time.monotonic()
        newcomer.acquire(exclusive=False, timeout=10)
        assert time.monotonic() - began < (2.0 if lock_url == "flock" else LEASE + 2.0)
        newcomer.release()
    finally:
        for process in (writer, reader):
            if process is not None and process.is_alive():
                os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
                process.join(30)


@pytest.mark.parametrize("exclusive", [True, False])
def test_a_killed_holder_releases(small_file: Path, lock_url: str, exclusive: bool) -> None:
    context = mp.get_context("spawn")
    holding = context.Event()
    holder = context.Process(target=lock_workers.hold_lock,
                             args=(str(small_file), lock_url, exclusive, holding))  # fmt: skip
    holder.start()
    try:
        assert holding.wait(60)
        with pytest.raises(LockTimeoutError), locked_file(small_file, "a", lock=lock_url,
                                                          timeout=0.2):  # fmt: skip
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
        holder.join(30)
    began = time.monotonic()
    with locked_file(small_file, "a", lock=lock_url, timeout=10) as handle:
        handle["x"][1] = 7
    assert time.monotonic() - began < (2.0 if lock_url == "flock" else LEASE + 2.0)


def test_readers_upgrade_and_downgrade(small_file: Path, lock_url: str) -> None:
    first, second = open_lock(small_file, lock_url), open_lock(small_file, lock_url)
    first.acquire(exclusive=False, timeout=5)
    second.acquire(exclusive=False, timeout=5)
    with pytest.raises(LockTimeoutError):
        first.acquire(exclusive=True, timeout=0.2)  # the other reader is inside
    second.release()
    first.acquire(exclusive=True, timeout=5)
    with pytest.raises(LockTimeoutError):
        second.acquire(exclusive=False, timeout=0.2)
    first.downgrade()
    second.acquire(exclusive=False, timeout=5)
    first.release()
    second.release()


def test_bad_lock_settings_are_refused(h5_path: Path) -> None:
    from ataraxis_like.hdf5 import Hdf5Sink

    with pytest.raises(LockConfigError, match="redis://host:port/db"):
        open_lock(h5_path, "zookeeper://x")
    with pytest.raises(LockConfigError, match="lease must be"):
        open_lock(h5_path, "redis://127.0.0.1:1/0?lease=0")
    with pytest.raises(LockConfigError, match="sharing='lock'"):
        Hdf5Sink(h5_path, "a", lock="redis://127.0.0.1:1/0")
    assert not h5_path.exists()


def test_a_lock_mode_flush_that_cannot_get_the_lock_keeps_its_rows(
    h5_path: Path, lock_url: str
) -> None:
    from ataraxis_like.hdf5 import Hdf5Sink, SinkInUseError

    context = mp.get_context("spawn")
    holding = context.Event()
    with Hdf5Sink(h5_path, "w", sharing="lock", lock=lock_url, flush_interval=3600,
                  lock_timeout=0.3) as sink:  # fmt: skip
        sink.extend("x", np.arange(5))
        holder = context.Process(target=lock_workers.hold_lock,
                                 args=(str(h5_path), lock_url, True, holding))  # fmt: skip
        holder.start()
        try:
            assert holding.wait(60)
            with pytest.raises(SinkInUseError, match="stayed locked"):
                sink.flush()
            sink.extend("x", np.arange(5, 8))
        finally:
            os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
            holder.join(30)
        deadline = time.monotonic() + 10  # Redis: the killed holder's lease runs out first
        while True:
            try:
                sink.flush()
                break
            except SinkInUseError:
                assert time.monotonic() < deadline
        assert sink.load("x").tolist() == list(range(8))  # nothing lost, nothing twice
