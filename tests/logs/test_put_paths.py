"""LogPackage and LogQueue.put on their short paths (issue 19): the same checks and outcomes as
the general path, with the compiled put and without it."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.errors import ItemTooLargeError, QueueFullError
from ataraxis_like.logs import InvalidPackageError, LoggerStoppedError, LogPackage
from ataraxis_like.logs._process import KIND_LOG_PACKAGE
from ataraxis_like.logs.logger import LogQueue
from ataraxis_like.shm import _posix
from ataraxis_like.shm._ring import Ring

pytestmark = pytest.mark.timeout(120)

PATHS = ["compiled", "python"]


@pytest.fixture(params=PATHS)
def queue(request: pytest.FixtureRequest, shm_name: str) -> Iterator[tuple[LogQueue, Ring]]:
    """A LogQueue on a small ring (no logger process: the test takes what was put)."""
    if request.param == "compiled" and not _posix.ACCELERATED:
        pytest.skip("accelerator not built here")
    ring = Ring.create(shm_name, 4096)
    log_queue = LogQueue(ring.name, ring.segment.header.token, "rig")
    log_queue._attach()
    if request.param == "python":
        log_queue._fast_put = None
    else:
        assert log_queue._fast_put is not None
    yield log_queue, ring
    ring.segment.unlink()
    ring.close()


def _taken(ring: Ring) -> list[tuple[int, int, bytes]]:
    rows = ring.take_rows(1000, 0)
    entries = []
    for row, view in zip(rows, ring.payload_views(rows), strict=True):
        assert row["kind"] == KIND_LOG_PACKAGE
        meta = bytes(row["meta"][:9])
        entries.append((meta[0], int.from_bytes(meta[1:], "little"), bytes(view)))
    ring.release_rows(rows)
    return entries


def test_numbers_of_every_integer_type_and_payload_forms(queue: tuple[LogQueue, Ring]) -> None:
    log_queue, ring = queue
    strided = np.arange(20, dtype=np.uint8)[::3]
    packages = [
        LogPackage(np.uint8(1), np.uint64(2**64 - 1), b"abc"),
        LogPackage(np.int64(255), np.uint32(7), np.zeros(3, dtype=np.uint8)),
        LogPackage(0, 0, memoryview(b"")),
        LogPackage(9, 10, strided),  # not contiguous: copied on the general path
    ]
    for package in packages:
        log_queue.put(package)
    assert _taken(ring) == [
        (1, 2**64 - 1, b"abc"),
        (255, 7, b"\0\0\0"),
        (0, 0, b""),
        (9, 10, strided.tobytes()),
    ]
    first = packages[0]
    assert (first.source_id, first.acquisition_time) == (1, 2**64 - 1)
    assert type(first.source_id) is int
    assert type(first.acquisition_time) is int
    assert pickle.loads(pickle.dumps(first)) == first
    assert first != LogPackage(1, 2**64 - 2, b"abc")


@pytest.mark.parametrize(
    "arguments",
    [(True, 0, b""), (1, False, b""), (np.True_, 0, b""), (1, np.float64(2.0), b""),
     (1.0, 0, b""), (1, 0, np.zeros(2, dtype=np.int8)), (1, 0, np.zeros((1, 1), np.uint8))],
)  # fmt: skip
def test_short_path_refuses_what_the_full_check_refuses(arguments: tuple[object, ...]) -> None:
    with pytest.raises(InvalidPackageError):
        LogPackage(*arguments)


def test_full_queue_too_large_and_closed(queue: tuple[LogQueue, Ring]) -> None:
    log_queue, ring = queue
    payload = bytes(1000)
    with pytest.raises(ItemTooLargeError, match="capacity_bytes"):
        log_queue.put(LogPackage(1, 1, bytes(5000)))
    count = 0
    while count < 100:
        try:
            log_queue.put(LogPackage(1, count, payload), timeout=0)
        except QueueFullError:
            break
        count += 1
    assert 0 < count < 5
    assert len(_taken(ring)) == count
    log_queue.put_nowait(LogPackage(1, 1, payload))
    ring.mark_closed()
    with pytest.raises(LoggerStoppedError, match="call start"):
        log_queue.put(LogPackage(1, 2, payload))


def _hold_lock_and_die(name: str, token: int) -> None:
    ring = Ring.attach(name, token)
    ring._enter()
    os.kill(os.getpid(), signal.SIGKILL)


def test_put_recovers_a_lock_whose_holder_was_killed(queue: tuple[LogQueue, Ring]) -> None:
    """The compiled put's trylock then returns EOWNERDEAD with the lock held by this thread:
    the put recovers the lock and writes, it does not wait for itself."""
    log_queue, ring = queue
    context = mp.get_context("fork")
    child = context.Process(target=_hold_lock_and_die, args=(ring.name, ring.segment.header.token))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert ring.segment.recoveries == 0
    log_queue.put(LogPackage(3, 4, b"after"))
    assert ring.segment.recoveries == 1
    assert _taken(ring) == [(3, 4, b"after")]
    log_queue.put(LogPackage(3, 5, b"again"))
    assert _taken(ring) == [(3, 5, b"again")]


def test_a_foreign_record_in_the_logger_queue_is_released_unwritten(tmp_path: Path) -> None:
    """Only log packages become entries; anything else put into the queue by name is dropped
    without stopping the logger or holding its space."""
    from ataraxis_like.logs import DataLogger
    from ataraxis_like.logs.format import read_batch

    logger = DataLogger(tmp_path, "rig", flush_interval=0.05)
    try:
        logger.start()
        log_queue = logger.input_queue
        log_queue.put(LogPackage(1, 10, b"first"))
        intruder = Ring.attach(log_queue._queue_name)
        intruder.put(1, b"", b"not an entry", 12, None)
        intruder.put(KIND_LOG_PACKAGE, b"short", b"bad meta", 8, None)
        intruder.close()
        log_queue.put(LogPackage(2, 20, b"second"))
        logger.stop()
        entries = []
        for path in sorted(logger.output_directory.glob("batch_*.npy")):
            batch = read_batch(path)
            offsets = batch.offsets.tolist()
            for row, offset in zip(batch.index, offsets, strict=True):
                payload = batch.payload[offset : offset + int(row["length"])].tobytes()
                entries.append((int(row["source_id"]), int(row["timestamp"]), payload))
        assert entries == [(1, 10, b"first"), (2, 20, b"second")]
        assert logger._ring.unreleased() == 0
    finally:
        logger.close()
