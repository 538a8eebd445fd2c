"""The ataraxis-data-structures 4.x calls that differ from 3.1 keep working (a short section of
docs/migrating-from-ataraxis-data-structures.md; the 3.1 README is the seed document)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ataraxis_like import DataLogger, LogArchiveReader, LogPackage, SharedMemoryArray
from ataraxis_like.shm._segment import segment_path

pytestmark = pytest.mark.timeout(120)


def test_array_calls(shm_name: str) -> None:
    prototype = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float64)
    sma = SharedMemoryArray.create_array(name=shm_name, prototype=prototype, exists_ok=False)
    sma.enable_buffer_destruction()  # nothing to enable: the creator removes it at exit
    assert sma.shape == prototype.shape
    sma[1] = [7, 8, 9]
    with sma.array(with_lock=True) as values:
        values[0, 0] += 10
    assert sma[0, 0] == 11
    again = SharedMemoryArray.create_array(name=shm_name, prototype=prototype, exists_ok=True)
    assert again[1].tolist() == [4.0, 5.0, 6.0]
    sma.destroy()  # replaced meanwhile: leaves the new one alone
    assert segment_path(shm_name).exists()
    again.destroy()


def test_logger_and_assemble_log_archives(tmp_path: Path) -> None:
    from ataraxis_like import assemble_log_archives

    logger = DataLogger(tmp_path, "four", thread_count=5, poll_interval=5)
    logger.start()
    for index in range(3):
        logger.input_queue.put(
            LogPackage(np.uint8(1), np.uint64(index), np.array([index] * 3, dtype=np.uint8))
        )
    logger.stop()
    archives = assemble_log_archives(log_directory=logger.output_directory, verbose=False)
    assert not list(logger.output_directory.glob("*.npy"))  # 4.x removes sources by default
    with LogArchiveReader(archives[1]) as reader:
        assert [bytes(payload) for _time, payload in reader] == [bytes([i] * 3) for i in range(3)]
    logger.close()
