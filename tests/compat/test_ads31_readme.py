"""The ataraxis-data-structures 3.1 README's code blocks, run against ataraxis_like.

Each test runs one block as the README has it, with the import changed (our comments), then
checks what the README says the block shows. Blocks that use the fixed name 'unique_buffer'
hold a machine-wide lock so that parallel runs do not take each other's name. The counts and
the one deliberate difference are in docs/migrating-from-ataraxis-data-structures.md.
"""

from __future__ import annotations

import tempfile
import time as tm
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.logs.format import read_batch
from ataraxis_like.shm._segment import segment_path

from ..support.seed_names import fixed_names

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def unique_buffer() -> Iterator[str]:
    """The README's name, held for this test; whatever the block leaves is destroyed after."""
    with fixed_names():
        yield "unique_buffer"
        segment_path("unique_buffer").unlink(missing_ok=True)


def test_yamlconfig_block() -> None:
    # --- README block: YamlConfig -----------------------------------------------------------
    from dataclasses import dataclass

    from ataraxis_like import YamlConfig

    @dataclass
    class MyConfig(YamlConfig):
        integer: int = 0
        string: str = "random"

    config = MyConfig(integer=123, string="hello")

    tempdir = tempfile.TemporaryDirectory()
    out_path = Path(tempdir.name).joinpath("my_config.yaml")
    config.to_yaml(file_path=out_path)

    assert out_path.exists()

    loaded_config = MyConfig.from_yaml(file_path=out_path)

    assert loaded_config.integer == config.integer
    assert loaded_config.string == config.string
    # --- end of block ------------------------------------------------------------------------
    text = out_path.read_text(encoding="utf-8")
    assert "integer: 123" in text  # human-readable and editable, as the README says
    out_path.write_text(text.replace("123", "456"), encoding="utf-8")
    assert MyConfig.from_yaml(file_path=out_path).integer == 456
    tempdir.cleanup()


def test_array_creation_block(unique_buffer: str) -> None:
    leftover = SharedMemoryArray.create_array(unique_buffer, np.zeros(2))  # an earlier cell's
    # --- README block: Array creation ------------------------------------------------------
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = "unique_buffer"

    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype, exist_ok=True)

    assert sma.name == buffer_name
    assert sma.shape == prototype.shape
    assert sma.datatype == prototype.dtype

    sma.disconnect()
    sma.destroy()
    # --- end of block ------------------------------------------------------------------------
    assert not segment_path(unique_buffer).exists()
    leftover.destroy()  # already replaced and removed: nothing to do
    assert not leftover.is_connected


def test_connection_block(unique_buffer: str) -> None:
    # --- README block: Array connection, disconnection and destruction ----------------------
    prototype = np.zeros(shape=6, dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)

    sma.connect()

    assert sma.is_connected

    sma.disconnect()  # For each connect(), there has to be a matching disconnect() statement

    assert not sma.is_connected
    # --- end of block ------------------------------------------------------------------------
    other = SharedMemoryArray.attach(unique_buffer)  # the data outlives the disconnect
    assert other.read_data((0,), convert_output=True) == [0] * 6
    other.disconnect()
    sma.destroy()
    assert not segment_path(unique_buffer).exists()


def test_reading_block(unique_buffer: str) -> None:
    # --- README block: Reading array data --------------------------------------------------
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)
    sma.connect()

    output = sma.read_data(index=2)
    assert output == np.uint64(3)
    assert isinstance(output, np.uint64)

    output = sma.read_data(index=(1, 4), convert_output=False, with_lock=False)
    assert np.array_equal(output, np.array([2, 3, 4], dtype=np.uint64))
    assert isinstance(output, np.ndarray)
    # --- end of block ------------------------------------------------------------------------
    assert sma.read_data(index=(3,)).tolist() == [4, 5, 6]  # open range
    assert sma.read_data(index=-1, convert_output=True) == 6
    output[0] = 99  # a copy: the shared data is unchanged
    assert sma.read_data(index=1) == 2
    sma.destroy()


def test_writing_block(unique_buffer: str) -> None:
    # --- README block: Writing array data --------------------------------------------------
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)
    sma.connect()

    sma.write_data(index=1, data=7, with_lock=True)
    assert sma.read_data(index=1, convert_output=True) == 7

    sma.write_data(index=(1, 3), data=[10, 11], with_lock=False)
    assert sma.read_data(index=(0,), convert_output=True) == [1, 10, 11, 4, 5, 6]
    # --- end of block ------------------------------------------------------------------------
    assert SharedMemoryArray.attach(unique_buffer).read_data(2) == 11  # seen by name
    sma.destroy()


def test_data_logger_block() -> None:
    """The README's logger block with its one deliberate difference: entries share batch files
    (the README counts one .npy file per entry); examples/ads31_data_logger.py runs it whole."""
    # --- README block: Logger creation and use (body of its __main__ guard) -----------------
    from ataraxis_like import DataLogger, LogPackage

    tempdir = tempfile.TemporaryDirectory()  # A temporary directory for illustration purposes
    logger = DataLogger(output_directory=Path(tempdir.name), instance_name="my_name")

    logger.start()

    logger_queue = logger.input_queue

    source_id = np.uint8(1)  # Has to be an unit8
    timestamp = np.uint64(tm.perf_counter_ns())  # Has to be an uint64
    data = np.array([1, 2, 3, 4, 5], dtype=np.uint8)  # Has to be an uint8 numpy array
    logger_queue.put(LogPackage(source_id, timestamp, data))

    timestamp = np.uint64(tm.perf_counter_ns())
    data = np.array([6, 7, 8, 9, 10], dtype=np.uint8)
    logger_queue.put(LogPackage(source_id, timestamp, data))  # Same source id

    logger.stop()

    # The deliberate difference, instead of the README's "== 2": one file per flush.
    batches = list(logger.output_directory.glob("**/*.npy"))
    assert sum(len(read_batch(path).index) for path in batches) == 2
    assert 1 <= len(batches) <= 2

    logger.compress_logs(remove_sources=True)

    assert len(list(logger.output_directory.glob("**/*.npy"))) == 0
    assert len(list(logger.output_directory.glob("**/*.npz"))) == 1
    # --- end of block ------------------------------------------------------------------------
    from ataraxis_like import LogArchiveReader

    assert logger.output_directory == Path(tempdir.name) / "my_name_data_log"
    with LogArchiveReader(logger.output_directory / "1_log.npz") as reader:
        assert [bytes(payload) for _time, payload in reader] == [
            bytes([1, 2, 3, 4, 5]),
            bytes([6, 7, 8, 9, 10]),
        ]
    logger.close()
    tempdir.cleanup()
