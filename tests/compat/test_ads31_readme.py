"""The ataraxis-data-structures 3.1 README's code blocks, run against ataraxis_like.

Each test runs one block as the README has it, with the import changed, then checks what the
README says the block shows. The SharedMemoryArray blocks live once, in
examples/ads31_shared_memory_array.py, and run here in this process; the DataLogger block is
examples/ads31_data_logger.py, run by tests/test_examples.py. Blocks that use the fixed name
'unique_buffer' hold a machine-wide lock so that parallel runs do not take each other's name.
The counts and the one deliberate difference are in
docs/migrating-from-ataraxis-data-structures.md.
"""

from __future__ import annotations

import runpy
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.shm._segment import segment_path

from ..support.examples import EXAMPLES
from ..support.seed_names import fixed_names

pytestmark = pytest.mark.timeout(120)
README_ARRAY_BLOCKS = runpy.run_path(str(EXAMPLES / "ads31_shared_memory_array.py"))


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
    README_ARRAY_BLOCKS["array_creation"]()
    assert not segment_path(unique_buffer).exists()
    leftover.destroy()  # already replaced and removed: nothing to do
    assert not leftover.is_connected


def test_connection_block(unique_buffer: str) -> None:
    README_ARRAY_BLOCKS["connection"]()
    left = SharedMemoryArray.attach(unique_buffer)  # the data outlives the disconnect
    assert left.read_data((0,), convert_output=True) == [0] * 6
    left.destroy()  # this process made it, so any handle of it here may remove it
    assert not segment_path(unique_buffer).exists()


def test_reading_block(unique_buffer: str) -> None:
    README_ARRAY_BLOCKS["reading"]()
    left = SharedMemoryArray.attach(unique_buffer)
    assert left.read_data(index=(3,)).tolist() == [4, 5, 6]  # open range
    assert left.read_data(index=-1, convert_output=True) == 6
    output = left.read_data(index=(1, 4))
    output[0] = 99  # a copy: the shared data is unchanged
    assert left.read_data(index=1) == 2
    left.destroy()


def test_writing_block(unique_buffer: str) -> None:
    README_ARRAY_BLOCKS["writing"]()
    left = SharedMemoryArray.attach(unique_buffer)
    assert left.read_data((0,), convert_output=True) == [1, 10, 11, 4, 5, 6]  # seen by name
    with pytest.raises(ValueError, match="cannot"):
        left.write_data(0, -1)  # uint64: refused rather than wrapped
    left.destroy()
