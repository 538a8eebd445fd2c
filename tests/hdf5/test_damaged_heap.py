"""Damaged global heap collections (where text, bytes and text attributes live) give
SinkReadError from SinkReader, never a hang: HDF5 loops forever on some of them.

Every read of a damaged file runs in a child process with a timeout, so a check that stops
working fails the test instead of blocking the suite. The files are built from a fresh sink file
by editing its collections at known places; fixtures/gcol-hang.h5 is a file the fuzz test found
(a flipped byte makes one object's size land the walk on a free-space header of size 0), made
again with the sink's file format bounds so that every supported HDF5 opens its objects."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.hdf5 import Hdf5Sink

pytestmark = pytest.mark.timeout(120)

FIXTURE = Path(__file__).parent / "fixtures" / "gcol-hang.h5"
_ROOT = Path(__file__).resolve().parents[2]
_CHILD = """
import json, sys
from ataraxis_like.errors import AtaraxisError
from ataraxis_like.hdf5 import SinkReader

path, operations = sys.argv[1], json.loads(sys.argv[2])
found = {}
try:
    with SinkReader(path, retry_seconds=0.01) as reader:
        for operation, key in operations:
            try:
                value = (reader.load(key) if operation == "load" else reader.attrs(key)
                         if operation == "attrs" else reader.keys())
                if isinstance(value, dict):  # numpy scalars as plain values: one repr for all
                    value = {name: getattr(item, "tolist", lambda: item)()
                             for name, item in value.items()}
                shown = value.tolist() if hasattr(value, "tolist") else value
                found[f"{operation} {key}"] = ["ok", repr(shown)]
            except AtaraxisError as error:
                found[f"{operation} {key}"] = [type(error).__name__, str(error)]
except AtaraxisError as error:
    found["open"] = [type(error).__name__, str(error)]
print(json.dumps(found))
"""


def read_in_child(path: Path, operations: list[tuple[str, str]]) -> dict[str, list[str]]:
    """What SinkReader gives for each (operation, key), read in a child process: ["ok",
    repr(value)] or [error type, message]; a read that hangs fails the test."""
    environment = {**os.environ, "PYTHONPATH": f"{_ROOT / 'src'}{os.pathsep}{_ROOT}"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), json.dumps(operations)],
            capture_output=True, text=True, timeout=60, check=False, env=environment,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path.name} hung (no answer in 60 s): {operations}")
    assert done.returncode == 0, f"child exit {done.returncode}:\n{done.stderr[-3000:]}"
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- the fuzz finding
def test_the_file_the_fuzz_test_hung_on_gives_the_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "gcol-hang.h5"
    shutil.copy(FIXTURE, path)
    keys = ["a/x", "array", "b", "raw", "text"]
    found = read_in_child(path, [("load", key) for key in keys]
                          + [("attrs", key) for key in [*keys, "/"]])  # fmt: skip
    kind, message = found["load text"]
    assert kind == "SinkReadError", found["load text"]
    assert str(path) in message
    assert "\n" not in message
    assert "key 'text'" in message
    assert "variable-length data is damaged at byte 21611" in message
    assert "expected free space covering the last 2520 bytes" in message
    assert "SinkReader.load per key, or restore a copy" in message
    ok = {name: value for name, (state, value) in found.items() if state == "ok"}
    assert ok["load a/x"] == repr([float(row) for row in range(60)])
    assert ok["load b"] == repr([[row, row + 1, row + 2, row + 3] for row in range(60)])
    assert ok["load raw"] == repr([bytes([row]) * 3 for row in range(60)])
    assert ok["load array"] == repr(np.arange(20).reshape(4, 5).tolist())
    assert ok["attrs a/x"] == repr({"scale": 2.0, "unit": "s"})
    assert ok["attrs /"] == repr({"experiment": "fuzz"})
    assert ok["attrs text"] == "{}"


# ----------------------------------------------------------------------------- built damage
def _sink_file(path: Path, compression: str | None) -> None:
    with Hdf5Sink(path, "w", compression=compression) as sink:
        for row in range(60):
            sink.append("a/x", float(row))
            sink.append("text", f"row {row}")
            sink.append("raw", bytes([row]) * 3)
        sink.set_attrs("a/x", unit="unit-marker")


def _collection_holding(data: bytes, marker: bytes) -> tuple[int, int]:
    """(offset, size) of the global heap collection whose objects hold ``marker``."""
    at = data.find(b"GCOL")
    while at >= 0:
        size = struct.unpack_from("<Q", data, at + 8)[0]
        if marker in data[at : at + size]:
            return at, size
        at = data.find(b"GCOL", at + 4)
    raise AssertionError(f"no collection holds {marker!r}")


def _objects(data: bytes, start: int) -> list[tuple[int, int, int]]:
    """(offset, index, size) of the objects of the intact collection at ``start``."""
    size = struct.unpack_from("<Q", data, start + 8)[0]
    found, at = [], start + 16
    while at + 16 <= start + size:
        index, _count, _reserved, length = struct.unpack_from("<HHIQ", data, at)
        found.append((at, index, length))
        if index == 0:
            break
        at += 16 + -(-length // 8) * 8
    return found


def _zero_size_free_space(data: bytearray, start: int) -> None:
    """The hang: the second object's header becomes free space of size 0."""
    data[_objects(data, start)[1][0] : _objects(data, start)[1][0] + 16] = bytes(16)


def _grown_first_object(data: bytearray, start: int) -> None:
    """The fixture's damage: the first object's size makes the walk land in zeros."""
    at, _index, _size = _objects(data, start)[0]
    free_at = _objects(data, start)[-1][0]
    struct.pack_into("<Q", data, at + 8, free_at - at - 16 + 40)
    data[free_at : free_at + 16] = bytes(16)


def _object_past_the_end(data: bytearray, start: int) -> None:
    struct.pack_into("<Q", data, _objects(data, start)[0][0] + 8, 1 << 40)


def _size_past_the_file(data: bytearray, start: int) -> None:
    struct.pack_into("<Q", data, start + 8, (len(data) // 8 + 1) * 8)


def _bad_signature(data: bytearray, start: int) -> None:
    data[start : start + 4] = b"GCOX"


def _bad_version(data: bytearray, start: int) -> None:
    data[start + 4] = 2


def _short_free_space(data: bytearray, start: int) -> None:
    at = _objects(data, start)[-1][0]
    struct.pack_into("<Q", data, at + 8, struct.unpack_from("<Q", data, at + 8)[0] - 8)


def _repeated_index(data: bytearray, start: int) -> None:
    first, second = _objects(data, start)[:2]
    struct.pack_into("<H", data, second[0], first[1])


def _missing_index(data: bytearray, start: int) -> None:
    struct.pack_into("<H", data, _objects(data, start)[0][0], 9999)


DAMAGE: dict[str, tuple[Callable[[bytearray, int], None], str]] = {
    "zero-size free space": (_zero_size_free_space, "free space covering the last"),
    "walk landing in zeros": (_grown_first_object, "free space covering the last"),
    "object past the end": (_object_past_the_end, "an object ending inside the collection"),
    "size past the file": (_size_past_the_file, "a collection ending inside the file"),
    "bad signature": (_bad_signature, "signature b'GCOL'"),
    "bad version": (_bad_version, "global heap version 1"),
    "short free space": (_short_free_space, "free space covering the last"),
    "repeated index": (_repeated_index, "each object index once"),
    "missing index": (_missing_index, "in the collection key"),
}


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_text_collection_gives_the_typed_error(
    tmp_path: Path, damage: str, compression: str | None
) -> None:
    path = tmp_path / "data.h5"
    _sink_file(path, compression)
    data = bytearray(path.read_bytes())
    start, _size = _collection_holding(bytes(data), b"row 1")
    change, expected = DAMAGE[damage]
    change(data, start)
    path.write_bytes(bytes(data))
    found = read_in_child(path, [("load", "text"), ("load", "a/x"), ("load", "raw")])
    kind, message = found["load text"]
    assert kind == "SinkReadError", found
    assert expected in message
    assert "key 'text'" in message
    assert "damaged at byte" in message
    assert found["load a/x"] == ["ok", repr([float(row) for row in range(60)])]
    assert found["load raw"] == ["ok", repr([bytes([row]) * 3 for row in range(60)])]


@pytest.mark.parametrize("damage", ["zero-size free space", "object past the end",
                                    "bad signature", "missing index"])  # fmt: skip
def test_a_damaged_attribute_collection_gives_the_typed_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "data.h5"
    _sink_file(path, None)
    data = bytearray(path.read_bytes())
    start, _size = _collection_holding(bytes(data), b"unit-marker")
    if damage == "zero-size free space":  # the attribute is the only object: zero the free space
        at = _objects(data, start)[-1][0]
        data[at : at + 16] = bytes(16)
    else:
        DAMAGE[damage][0](data, start)
    path.write_bytes(bytes(data))
    found = read_in_child(path, [("attrs", "a/x"), ("load", "text"), ("attrs", "/")])
    kind, message = found["attrs a/x"]
    assert kind == "SinkReadError", found
    assert "attribute 'unit' of 'a/x'" in message
    assert "damaged at byte" in message
    assert found["load text"] == ["ok", repr([f"row {row}" for row in range(60)])]
    assert found["attrs /"] == ["ok", "{}"]


@pytest.mark.parametrize("field", ["object size", "collection size"])
def test_a_damaged_large_collection_gives_the_typed_error(tmp_path: Path, field: str) -> None:
    """A 3 MiB value has a collection of its own, walked one header at a time."""
    path = tmp_path / "data.h5"
    big = "x" * (3 << 20)
    with Hdf5Sink(path, "w") as sink:
        sink.extend("text", np.array(["small", big], dtype=object))
        sink.append("n", 1)
    data = bytearray(path.read_bytes())
    start, size = _collection_holding(bytes(data), b"x" * 64)
    assert size > 3 << 20
    if field == "object size":
        struct.pack_into("<Q", data, start + 24, (3 << 20) + 4096 * 8)
    else:  # a huge collection size: the walk finds the free space short, reads little
        struct.pack_into("<Q", data, start + 8, size + 4096)
        data += bytes(8192)
    path.write_bytes(bytes(data))
    found = read_in_child(path, [("load", "text"), ("load", "n")])
    assert found["load text"][0] == "SinkReadError", found
    assert "damaged at byte" in found["load text"][1]
    assert found["load n"] == ["ok", "[1]"]


def test_a_damaged_collection_of_a_dense_attribute_gives_the_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    _sink_file(path, None)
    with Hdf5Sink(path, "a") as sink:  # 12 attributes: HDF5 keeps them in dense storage
        sink.set_attrs("/", **{f"a{number}": f"value {number}" for number in range(11)},
                       marker="dense-marker")  # fmt: skip
    data = bytearray(path.read_bytes())
    start, _size = _collection_holding(bytes(data), b"dense-marker")
    _missing_index(data, start)
    path.write_bytes(bytes(data))
    found = read_in_child(path, [("attrs", "/"), ("attrs", "a/x"), ("load", "text")])
    kind, message = found["attrs /"]
    assert kind == "SinkReadError", found
    assert "attribute '" in message, message
    assert " of '/'" in message, message
    assert "damaged at byte" in message
    assert found["attrs a/x"] == ["ok", repr({"unit": "unit-marker"})]
    assert found["load text"] == ["ok", repr([f"row {row}" for row in range(60)])]


@pytest.mark.parametrize("cut", [16, 2000])
def test_a_file_cut_inside_a_collection_gives_the_typed_error(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "data.h5"
    _sink_file(path, "gzip")
    data = path.read_bytes()
    start, _size = _collection_holding(data, b"row 1")
    path.write_bytes(data[: start + cut])
    found = read_in_child(path, [("load", "text"), ("attrs", "a/x")])
    errors = [value for value in found.values() if value[0] != "ok"]
    assert errors, found
    assert all(kind == "SinkReadError" for kind, _message in errors), found


def test_inspect_reports_a_damaged_attribute_collection(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    _sink_file(path, None)
    data = bytearray(path.read_bytes())
    start, _size = _collection_holding(bytes(data), b"unit-marker")
    at = _objects(data, start)[-1][0]
    data[at : at + 16] = bytes(16)  # the free space of size 0 HDF5 loops on
    path.write_bytes(bytes(data))
    command = "import sys\nfrom ataraxis_like.cli import main\nsys.exit(main(sys.argv[1:]))"
    environment = {**os.environ, "PYTHONPATH": f"{_ROOT / 'src'}{os.pathsep}{_ROOT}"}
    try:
        done = subprocess.run([sys.executable, "-c", command, "inspect", str(path)],
                              capture_output=True, text=True, timeout=60, check=False,
                              env=environment)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("ataraxis-like inspect hung on a damaged heap collection")
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "attribute 'unit' of 'a/x'" in done.stderr
    assert "damaged at byte" in done.stderr


@pytest.mark.parametrize("sharing", ["read", "queue"])
def test_a_sink_loading_a_damaged_text_key_gives_the_typed_error(
    tmp_path: Path, sharing: str
) -> None:
    """``Hdf5Sink.load`` reads through a SinkReader in read-only and queue mode: checked too."""
    path = tmp_path / "data.h5"
    _sink_file(path, None)
    data = bytearray(path.read_bytes())
    _zero_size_free_space(data, _collection_holding(bytes(data), b"row 1")[0])
    path.write_bytes(bytes(data))
    opened = '"r"' if sharing == "read" else '"a", sharing="queue"'
    command = (
        "from ataraxis_like.hdf5 import Hdf5Sink, SinkReadError\n"
        f"with Hdf5Sink({str(path)!r}, {opened}) as sink:\n"
        "    print(sink.load('a/x').tolist()[:2])\n"
        "    try:\n"
        "        sink.load('text')\n"
        "    except SinkReadError as error:\n"
        "        print('SinkReadError', error)\n"
    )
    environment = {**os.environ, "PYTHONPATH": f"{_ROOT / 'src'}{os.pathsep}{_ROOT}"}
    try:
        done = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True,
                              timeout=60, check=False, env=environment)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"Hdf5Sink.load ({sharing}) hung on a damaged heap collection")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "[0.0, 1.0]"
    assert lines[1].startswith("SinkReadError cannot read key 'text'"), lines
