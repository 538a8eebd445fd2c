"""A key whose object header HDF5 cannot open is a SinkReadError, never "no such key".

h5py's ``get`` answers None both for a missing link and for an object HDF5 refuses to open
(a damaged header, or a format newer than the reading HDF5): the reader must tell the two apart,
and the other keys of the file stay readable.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import Hdf5Sink
from ataraxis_like.hdf5._object_header import LAYOUT, Sizes, messages
from tests.hdf5.test_damaged_heap import read_in_child

pytestmark = pytest.mark.timeout(120)


def _damaged_layout(path: Path, key: str) -> None:
    """Write a small sink file, then change one byte of ``key``'s layout message."""
    with Hdf5Sink(path, "w", compression="gzip") as sink:
        for row in range(20):
            sink.append("a/x", float(row))
            sink.append("b", row)
        sink.set_attrs("a/x", unit="s")
    with h5py.File(path, "r") as handle:
        address = h5py.h5o.get_info(handle[key].id).addr
    data = bytearray(path.read_bytes())
    layout = next(
        message
        for message in messages(lambda at, count: bytes(data[at : at + count]), address,
                                Sizes(address=8, length=8, base=0))
        if message.kind == LAYOUT
    )  # fmt: skip
    data[layout.offset] = 0x7F  # the layout message's version: none that HDF5 knows
    path.write_bytes(bytes(data))


def test_a_key_hdf5_cannot_open_is_a_read_error_and_the_others_still_load(
    tmp_path: Path,
) -> None:
    path = tmp_path / "header.h5"
    _damaged_layout(path, "a/x")
    found = read_in_child(path, [("load", "a/x"), ("attrs", "a/x"), ("load", "b"), ("keys", ""),
                                 ("load", "missing"), ("attrs", "missing")])  # fmt: skip
    for operation in ("load a/x", "attrs a/x", "keys "):
        kind, message = found[operation]
        assert kind == "SinkReadError", found[operation]
        assert "cannot open key 'a/x'" in message
        assert str(path) in message
        assert "restore a copy" in message
        assert "\n" not in message
    assert found["load b"] == ["ok", repr(np.arange(20).tolist())]
    assert found["load missing"][0] == "SinkKeyError"  # a key that is really absent stays so
    assert "its other keys cannot be listed (cannot open key 'a/x'" in found["load missing"][1]
    assert found["attrs missing"][0] == "SinkKeyError"
