"""DataLogger and LogPackage with real processes, real files and real kills."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.errors import ItemTooLargeError, QueueFailedError, QueueFullError
from ataraxis_like.logs import (
    DataLogger,
    InvalidPackageError,
    LoggerError,
    LoggerInUseError,
    LoggerStoppedError,
    LogPackage,
    PackageValueError,
)
from ataraxis_like.logs.format import batch_name, read_batch

from ..support.kill import kill_inside_lock
from ..support.processes import run_together
from ..support.waiting import wait_until
from . import logger_workers as workers
from .logged import collect_entries

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def make_logger(tmp_path: Path) -> Iterator[object]:
    made: list[DataLogger] = []

    def factory(name: str = "rig", **options: object) -> DataLogger:
        logger = DataLogger(tmp_path, name, **options)  # type: ignore[arg-type]
        made.append(logger)
        return logger

    yield factory
    for logger in made:
        try:
            logger.close()
        except (LoggerError, OSError):
            pass


# ------------------------------------------------------------------ packages
def test_package_accepts_documented_forms() -> None:
    data = np.arange(5, dtype=np.uint8)
    assert LogPackage(1, 2, data) == LogPackage(
        source_id=np.uint8(1), acquisition_time=np.uint64(2), serialized_data=data
    )
    assert LogPackage(255, 2**64 - 1, b"abc").serialized_data.tolist() == [97, 98, 99]
    assert LogPackage(0, 0, bytearray(b"x")).serialized_data.dtype == np.uint8
    assert LogPackage(0, 0, memoryview(b"xy")).serialized_data.size == 2


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ((256, 0, b""), PackageValueError, r"source_id must be in \[0, 255\]"),
        ((-1, 0, b""), PackageValueError, "source_id"),
        ((1.0, 0, b""), InvalidPackageError, "source_id must be an int"),
        ((True, 0, b""), InvalidPackageError, "source_id must be an int"),
        ((1, -5, b""), PackageValueError, "acquisition_time"),
        ((1, 2.5, b""), InvalidPackageError, "acquisition_time must be an int"),
        ((1, 0, np.arange(3, dtype=np.int64)), InvalidPackageError, "1-D uint8"),
        ((1, 0, np.zeros((2, 2), dtype=np.uint8)), InvalidPackageError, "1-D uint8"),
        ((1, 0, "text"), InvalidPackageError, "serialize it to bytes"),
    ],
)
def test_package_rejects_bad_input(arguments: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        LogPackage(*arguments)


def test_put_rejects_non_packages(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger()
    with pytest.raises(TypeError, match="takes LogPackage objects"):
        logger.input_queue.put((1, 2, b"x"))


# ------------------------------------------------------------- happy paths
def test_entries_round_trip_with_onset(make_logger) -> None:  # type: ignore[no-untyped-def]
    before = time.time_ns() // 1000
    logger = make_logger(flush_interval=0.05)
    assert logger.output_directory.name == "rig_data_log"
    with logger:
        assert logger.alive
        for index in range(100):
            logger.input_queue.put(LogPackage(index % 3, index, bytes([index]) * index))
    assert not logger.alive
    entries, duplicates = collect_entries(logger.output_directory)
    assert duplicates == 0
    for source in range(3):
        expected = [(i, bytes([i]) * i) for i in range(100) if i % 3 == source]
        assert entries[source] == expected
    batches = [read_batch(path) for path in logger.output_directory.glob("batch_*.npy")]
    assert {batch.onset_us for batch in batches} == {logger.onset_us}
    assert before <= logger.onset_us <= time.time_ns() // 1000
    loaded = np.load(next(logger.output_directory.glob("batch_*.npy")), allow_pickle=False)
    assert loaded.dtype == np.uint8


@pytest.mark.parametrize("give", ["queue", "logger"])
def test_four_producer_processes_arrive_complete(make_logger, start_method: str, give: str) -> None:  # type: ignore[no-untyped-def]
    context = mp.get_context(start_method)
    count = 10_000 if give == "queue" else 2_000
    logger = make_logger(queue_bytes=32 << 20)
    start = context.Event()
    shared = logger.input_queue if give == "queue" else logger
    producers = [
        context.Process(target=workers.produce, args=(shared, source, count, start))
        for source in range(4)
    ]
    with logger:
        run_together(producers, start, 100)
    entries, duplicates = collect_entries(logger.output_directory)
    assert duplicates == 0
    assert sorted(entries) == [0, 1, 2, 3]
    for source in range(4):
        assert [t for t, _ in entries[source]] == [i * 10 for i in range(count)]
        for index, (_, data) in enumerate(entries[source]):
            assert data == workers.payload_for(source, index).tobytes()


def test_threads_put_concurrently(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger()
    barrier = threading.Barrier(4)

    def put_many(source: int) -> None:
        barrier.wait()
        for index in range(2000):
            logger.input_queue.put(LogPackage(source, index, index.to_bytes(4, "little")))

    with logger:
        threads = [threading.Thread(target=put_many, args=(s,)) for s in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    entries, _ = collect_entries(logger.output_directory)
    for source in range(4):
        assert [d for _, d in entries[source]] == [i.to_bytes(4, "little") for i in range(2000)]


def test_stop_twice_restart_and_puts_before_start(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger(flush_interval=0.05)
    logger.input_queue.put(LogPackage(1, 1, b"early"))  # accepted before start, kept
    logger.start()
    logger.start()  # a second start while running is a no-op
    logger.stop()
    logger.stop()
    with pytest.raises(LoggerStoppedError, match="call start"):
        logger.input_queue.put(LogPackage(1, 2, b"late"))
    logger.start()
    logger.input_queue.put(LogPackage(1, 3, b"again"))
    logger.stop()
    entries, _ = collect_entries(logger.output_directory)
    assert entries[1] == [(1, b"early"), (3, b"again")]
    names = sorted(path.name for path in logger.output_directory.glob("batch_*.npy"))
    assert names == [batch_name(logger._session, 0), batch_name(logger._session, 1)]


def test_garbage_collection_without_stop_writes_everything(tmp_path: Path) -> None:
    logger = DataLogger(tmp_path, "gc")
    logger.start()
    directory = logger.output_directory
    for index in range(50):
        logger.input_queue.put(LogPackage(2, index, b"kept"))
    del logger
    gc.collect()
    entries, _ = collect_entries(directory)
    assert len(entries[2]) == 50


def test_interpreter_exit_without_stop_writes_everything(tmp_path: Path) -> None:
    """A script that never stops its logger: exit still writes every entry, without errors."""
    script = tmp_path / "forgets_stop.py"
    script.write_text(
        "import sys\n"
        "from ataraxis_like.logs import DataLogger, LogPackage\n"
        "logger = DataLogger(sys.argv[1], 'exit')\n"
        "logger.start()\n"
        "for index in range(500):\n"
        "    logger.input_queue.put(LogPackage(4, index, b'x' * (index % 7)))\n"
        "print('put all', flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "put all\n"
    assert result.stderr == ""  # no traceback from teardown, no warning of unwritten entries
    entries, _ = collect_entries(tmp_path / "exit_data_log")
    assert [timestamp for timestamp, _ in entries[4]] == list(range(500))
    assert [data for _, data in entries[4]] == [b"x" * (index % 7) for index in range(500)]


def test_second_live_logger_is_refused(make_logger) -> None:  # type: ignore[no-untyped-def]
    first = make_logger("same")
    second = make_logger("same")
    first.start()
    with pytest.raises(LoggerInUseError, match="another live logger"):
        second.start()
    first.stop()
    second.start()  # free once the first stopped
    second.stop()


def test_durable_mode_writes_files(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger(durable=True)
    with logger:
        logger.input_queue.put(LogPackage(0, 0, b"durable"))
    assert collect_entries(logger.output_directory)[0][0] == [(0, b"durable")]


# ------------------------------------------------------------------- bounds
def test_full_queue_timeouts_and_oversized_payload(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger(queue_bytes=64 * 1024)
    payload = np.zeros(30_000, dtype=np.uint8)
    logger.input_queue.put(LogPackage(0, 0, payload))
    logger.input_queue.put(LogPackage(0, 1, payload))
    with pytest.raises(QueueFullError, match="stayed full"):
        logger.input_queue.put(LogPackage(0, 2, payload), timeout=0.1)
    with pytest.raises(QueueFullError):
        logger.input_queue.put_nowait(LogPackage(0, 2, payload))
    with pytest.raises(ItemTooLargeError, match="does not fit"):
        logger.input_queue.put(LogPackage(0, 3, np.zeros(70_000, dtype=np.uint8)))
    with logger:
        logger.input_queue.put(LogPackage(0, 2, payload), timeout=30)
    assert len(collect_entries(logger.output_directory)[0][0]) == 3


# ------------------------------------------------------------------- faults
def test_logger_killed_repeatedly_loses_nothing(make_logger) -> None:  # type: ignore[no-untyped-def]
    context = mp.get_context("fork")
    logger = make_logger(flush_interval=0.02, batch_bytes=1 << 20)
    count = 6000
    start = context.Event()
    producers = [
        context.Process(target=workers.produce, args=(logger.input_queue, s, count, start))
        for s in range(2)
    ]
    logger.start()
    for process in producers:
        process.start()
    start.set()
    rng = random.Random(5)
    kills = 0
    for _ in range(3):
        wait_until(lambda: logger.alive and any(logger.output_directory.glob("batch_*.npy")))
        victim = logger._process
        time.sleep(rng.random() * 0.05)  # a random moment, not a synchronisation
        os.kill(victim.pid, signal.SIGKILL)
        kills += 1
        wait_until(lambda v=victim: logger._process is not v and logger.alive)
    for process in producers:
        process.join(100)
        assert process.exitcode == 0
    with pytest.raises(LoggerError, match=r"died 3 time\(s\).*every accepted entry was written"):
        logger.stop()
    entries, _duplicates = collect_entries(logger.output_directory)
    for source in range(2):
        assert len(entries[source]) == count
        assert [t for t, _ in entries[source]] == [i * 10 for i in range(count)]
        assert entries[source][-1][1] == workers.payload_for(source, count - 1).tobytes()
    assert kills == 3


def test_exhausted_restarts_surface_in_put_and_stop(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger(max_restarts=0)
    logger.start()
    wait_until(lambda: logger.alive)
    os.kill(logger._process.pid, signal.SIGKILL)
    wait_until(lambda: logger._failure is not None)
    with pytest.raises(QueueFailedError, match="died 1 times"):
        logger.input_queue.put(LogPackage(0, 0, b"x"))
    with pytest.raises(LoggerError, match="died 1 times"):
        logger.stop()


def test_producer_killed_inside_put(make_logger) -> None:  # type: ignore[no-untyped-def]
    context = mp.get_context("fork")
    logger = make_logger(queue_bytes=64 << 20)
    started = context.Event()
    victim = context.Process(target=workers.produce_forever, args=(logger.input_queue, 9, started))
    victim.start()
    assert started.wait(30)
    assert kill_inside_lock(victim.pid, logger.input_queue._queue_name)
    victim.join(10)
    with logger:
        for index in range(100):
            logger.input_queue.put(LogPackage(1, index, b"after"))
    entries, _ = collect_entries(logger.output_directory)
    assert len(entries[1]) == 100
    stamps = [t for t, _ in entries[9]]
    assert stamps == list(range(len(stamps)))  # a gapless prefix: the torn put never appears
    for timestamp, data in entries[9]:
        assert len(data) == 200_000
        assert int(np.frombuffer(data[:8], np.int64)[0]) == timestamp


def test_vanished_directory_raises_and_keeps_entries(make_logger) -> None:  # type: ignore[no-untyped-def]
    import shutil

    logger = make_logger(flush_interval=0.02)
    logger.start()
    logger.input_queue.put(LogPackage(0, 0, b"first"))
    wait_until(lambda: any(logger.output_directory.glob("batch_*.npy")))
    shutil.rmtree(logger.output_directory)
    logger.input_queue.put(LogPackage(0, 1, b"second"))
    wait_until(lambda: not logger.alive)
    with pytest.raises(QueueFailedError, match=r"cannot write .*No such file or directory"):
        logger.input_queue.put(LogPackage(0, 2, b"third"))
    with pytest.raises(LoggerError, match=r"cannot write .*\(1 entries still queued\)"):
        logger.stop()
    logger.output_directory.mkdir(parents=True)
    logger.start()  # the cause is fixed: what stayed queued is written now
    logger.stop()
    entries, _ = collect_entries(logger.output_directory)
    assert entries[0] == [(1, b"second")]


def test_full_disk_raises_with_cause(make_logger) -> None:  # type: ignore[no-untyped-def]
    from ataraxis_like.shm._names import segment_path

    logger = make_logger(flush_interval=0.02)
    logger.start()
    # The logger cleans its leftovers before it maps the queue; once the queue shows in its
    # memory map, the first batch's temporary file is made to lead to /dev/full (ENOSPC).
    ring_path = str(segment_path(logger._ring.name))
    wait_until(lambda: ring_path in Path(f"/proc/{logger._process.pid}/maps").read_text())
    temporary = logger.output_directory / f".{batch_name(logger._session, 0)}.tmp"
    temporary.symlink_to("/dev/full")
    logger.input_queue.put(LogPackage(4, 4, b"x" * 1000))
    wait_until(lambda: not logger.alive)
    with pytest.raises(LoggerError, match=r"No space left on device.*\(1 entries still queued\)"):
        logger.stop()
    assert not any(logger.output_directory.glob("batch_*.npy"))
    temporary.unlink(missing_ok=True)
    logger.start()
    logger.stop()
    assert collect_entries(logger.output_directory)[0][4] == [(4, b"x" * 1000)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory(make_logger) -> None:  # type: ignore[no-untyped-def]
    logger = make_logger(flush_interval=0.02)
    logger.output_directory.mkdir(parents=True)
    logger.output_directory.chmod(0o500)
    try:
        logger.input_queue.put(LogPackage(0, 0, b"x"))
        logger.start()
        wait_until(lambda: not logger.alive)
        with pytest.raises(LoggerError, match="Permission denied"):
            logger.stop()
    finally:
        logger.output_directory.chmod(0o700)
