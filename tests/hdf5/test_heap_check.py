"""The heap check refuses no intact file: sink files of every compression, files h5py writes
in other layouts, and a file a queue-mode writer is appending to. Its collection walk agrees
with a plain one-object-at-a-time walk of the file format's rules on any collection."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.hdf5 import Hdf5Sink, SinkReadError, open_sink
from ataraxis_like.hdf5._damage import DamageError
from ataraxis_like.hdf5._gcol import collection_indexes, collection_size, large_collection_indexes
from ataraxis_like.hdf5._heap_check import HeapCheck
from ataraxis_like.hdf5._vlen_refs import attribute_references

pytestmark = pytest.mark.timeout(120)

TEXT = [f"row {row} " + "ünïcødé ✓" * (row % 4) if row % 5 else "" for row in range(5000)]
RAW = [bytes(range(row % 11)) for row in range(3000)]


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_sink_files_load_exactly_as_written(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "data.h5"
    with Hdf5Sink(path, "w", compression=compression) as sink:
        sink.extend("text", TEXT[:2500])
        for value in TEXT[2500:]:
            sink.append("text", value)
        sink.extend("raw", np.array(RAW, dtype=object))  # a list would make fixed-length S
        sink.append("grid", np.array([["a", "bé"], ["", "d"]], dtype=object))
        sink.write("words", np.array(["x", "", "yz"], dtype=object))
        sink.append("n", 1.5)
        sink.set_attrs("text", unit="s", empty="", note="ü" * 3000, count=3)
        sink.set_attrs("/", **{f"a{number}": f"value {number}" for number in range(12)})
    with open_sink(path) as reader:
        assert reader.load("text").tolist() == TEXT
        assert reader.load("raw").tolist() == RAW
        assert reader.load("grid").tolist() == [[["a", "bé"], ["", "d"]]]
        assert reader.load("words").tolist() == ["x", "", "yz"]
        assert reader.attrs("text") == {"unit": "s", "empty": "", "note": "ü" * 3000, "count": 3}
        checked = len(reader._heap._indexes)
        assert checked, "the check looked at no collection"
        # 12 attributes: HDF5 keeps them in dense storage (a fractal heap)
        assert reader.attrs("/") == {f"a{number}": f"value {number}" for number in range(12)}
        assert len(reader._heap._indexes) > checked, "the root's text attributes were not checked"


def _h5py_file(path: Path, libver: str, userblock: int) -> dict[str, Any]:
    """Variable-length data in the layouts h5py can make; what each key holds."""
    text, raw = h5py.string_dtype(), h5py.vlen_dtype(np.uint8)
    words = np.array(TEXT[:3000], dtype=object)
    expected: dict[str, Any] = {}
    with h5py.File(path, "w", libver=libver, userblock_size=userblock) as handle:
        for name, options in {
            "chunked": {"chunks": (256,)},
            "gzip": {"chunks": (256,), "compression": "gzip"},
            "lzf": {"chunks": (100,), "compression": "lzf"},
            "shuffled": {"chunks": (256,), "compression": "gzip", "shuffle": True},
            "contiguous": {},
        }.items():
            handle.create_dataset(name, data=words, dtype=text, **options)
            expected[name] = TEXT[:3000]
        handle.create_dataset("scalar", data="hello", dtype=text)
        handle.create_dataset("unwritten", shape=(10,), dtype=text)
        handle.create_dataset("grid", data=words[:2400].reshape(60, 40), dtype=text,
                              chunks=(7, 9), compression="gzip")  # fmt: skip
        create = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        create.set_layout(h5py.h5d.COMPACT)
        kind = h5py.h5t.py_create(text, logical=True)
        h5py.h5d.create(handle.id, b"compact", kind, h5py.h5s.create_simple((5,)), dcpl=create)
        handle["compact"][...] = words[:5]
        shrunk = handle.create_dataset("shrunk", data=words[:500], dtype=text, chunks=(64,),
                                       maxshape=(None,))  # fmt: skip
        shrunk.resize((130,))
        blobs = np.empty(50, dtype=object)
        blobs[:] = [np.frombuffer(item, dtype=np.uint8) for item in RAW[:50]]
        handle.create_dataset("bytes", data=blobs, dtype=raw, chunks=(8,), compression="gzip")
        sequences = np.empty(20, dtype=object)
        sequences[:] = [np.arange(number, dtype=np.int32) for number in range(20)]
        handle.create_dataset("ints", data=sequences, dtype=h5py.vlen_dtype(np.int32))
        handle.attrs["text"] = "root ü"
        handle.attrs["list"] = np.array(["a", "bb", ""], dtype=object)
        handle.attrs.create("nothing", h5py.Empty(text))
        handle.create_group("group").attrs["long"] = "y" * 5000
        handle["compact"].attrs["unit"] = "s"
    expected.update(scalar="hello", unwritten=[""] * 10, compact=TEXT[:5], shrunk=TEXT[:130],
                    grid=np.array(TEXT[:2400]).reshape(60, 40).tolist())  # fmt: skip
    return expected


@pytest.mark.parametrize(("libver", "userblock"), [("earliest", 0), ("latest", 0), ("latest", 512)])
def test_h5py_layouts_pass_the_check(tmp_path: Path, libver: str, userblock: int) -> None:
    path = tmp_path / "h5py.h5"
    expected = _h5py_file(path, libver, userblock)
    with open_sink(path) as reader:
        for key, values in expected.items():
            loaded = reader.load(key)
            assert loaded.tolist() == values, key
        assert reader.load("bytes").tolist() == RAW[:50]
        assert [item.tolist() for item in reader.load("ints")] == [
            list(range(number)) for number in range(20)
        ]
        assert reader.attrs("/")["list"].tolist() == ["a", "bb", ""]
        assert reader.attrs("group") == {"long": "y" * 5000}
        assert reader.attrs("compact") == {"unit": "s"}
        assert len(reader._heap._indexes) >= 3, "the check looked at too few collections"


def _reads(data: bytes) -> Callable[[int, int], bytes]:
    """A reader of ``data`` like the heap check's reader of a file."""
    return lambda offset, size: data[offset : offset + size]


@pytest.mark.parametrize("count", [3, 30, 400])
def test_every_text_attribute_is_found_in_the_header_or_dense_storage(
    tmp_path: Path, count: int
) -> None:
    """Attributes kept in the object header (up to 8), in dense storage (a fractal heap found
    through a B-tree, deeper as they grow), and as huge heap objects (messages over 4 KiB), also
    after h5py replaced and deleted some; their stored lengths are the values' lengths."""
    path = tmp_path / "attributes.h5"
    for order in (False, True):
        with h5py.File(path, "w", libver="latest", track_order=order) as handle:
            group = handle.create_group("group", track_order=order)
            for number in range(count):
                group.attrs[f"name {number} é"] = f"value {number} " * (number % 5)
                if number % 3 == 0:
                    group.attrs[f"number {number}"] = number
            for number in range(0, count, 7):
                group.attrs[f"name {number} é"] = f"new {number}"
            for number in range(1, count, 11):
                del group.attrs[f"name {number} é"]
            group.attrs["list"] = np.array(["a", "bb", ""] * 50, dtype=object)
            group.attrs["long list"] = np.array(["x"] * 400, dtype=object)  # 6,400 bytes
        with h5py.File(path, "r") as handle:
            group = handle["group"]
            check = HeapCheck(handle, path)
            with open(path, "rb") as raw:
                stored = raw.read()
            found = {
                name: references["length"].tolist()
                for name, references in attribute_references(group, _reads(stored), check.sizes)
            }
            expected = {
                name: [len(item.encode()) for item in np.asarray(value, dtype=object).reshape(-1)]
                for name, value in group.attrs.items()
                if not isinstance(value, np.integer)
            }
            assert found == expected
            check.attributes(group, "group")
            assert len(check._indexes) >= 2


def test_a_file_open_in_a_queue_mode_writer_loads_exactly(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        for part in range(3):
            sink.extend("text", np.array(TEXT[: 1000 * (part + 1)], dtype=object))
            sink.extend("raw", np.array(RAW, dtype=object))
            sink.set_attrs("raw", part=f"part {part}")
            sink.flush()
            rows = sum(1000 * (done + 1) for done in range(part + 1))
            with open_sink(h5_path) as reader:  # the writer process keeps the file open
                assert reader.load("text").tolist() == [
                    value for done in range(part + 1) for value in TEXT[: 1000 * (done + 1)]
                ]
                assert len(reader.load("text")) == rows
                assert reader.load("raw").tolist() == RAW * (part + 1)
                assert reader.attrs("raw") == {"part": f"part {part}"}


def test_reads_racing_a_queue_mode_writer_raise_no_false_alarm(h5_path: Path) -> None:
    """Reads while a writer process appends: the check never calls the live file damaged.
    HDF5 itself fails most such reads of text just added, with or without the check ("address
    of object past end of allocation": a SWMR reader's end of file lags behind new heap
    collections); those reads are counted apart."""
    sink = Hdf5Sink(h5_path, "w", sharing="queue", flush_interval=0.005)
    written: list[str] = []
    outcomes = {"ok": 0, "hdf5": 0}
    try:
        sink.append("text", "first")
        sink.flush()
        written.append("first")
        with open_sink(h5_path) as reader:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                batch = [f"{len(written) + number} é" * (number % 3) for number in range(50)]
                sink.extend("text", np.array(batch, dtype=object))
                written.extend(batch)
                try:
                    loaded = reader.load("text").tolist()  # what the writer flushed so far
                except SinkReadError as error:
                    message = str(error)
                else:
                    message = ""
                if message:
                    assert "variable-length data is damaged" not in message, message
                    outcomes["hdf5"] += 1
                    continue
                assert loaded == written[: len(loaded)]
                outcomes["ok"] += 1
        assert outcomes["ok"], outcomes
    finally:
        sink.close()
    with open_sink(h5_path) as reader:
        assert reader.load("text").tolist() == written


def test_an_unwritten_collection_is_called_damaged_only_once_no_writer_holds_the_file(
    h5_path: Path,
) -> None:
    """A SWMR reader can see a reference before the collection it names is written (zeros):
    while the superblock says a writer holds the file, that is not called damage; once the
    writer has closed it, the same bytes are."""
    sink = Hdf5Sink(h5_path, "w", sharing="queue")  # the writer is another process
    try:
        sink.extend("text", np.array(["one", "two é"], dtype=object))
        sink.flush()
        data = h5_path.read_bytes()
        assert data[11] != 0, "the superblock should say a writer holds the file"
        start = data.find(b"GCOL")
        assert start > 0
        with h5_path.open("r+b") as handle:  # the collection as a reader may find it: unwritten
            handle.seek(start)
            handle.write(bytes(16))
        with open_sink(h5_path) as reader, pytest.raises(SinkReadError) as live:
            reader.load("text")
    finally:
        sink.close()
    assert "unless a writer still appends" in str(live.value)
    assert "variable-length data is damaged" not in str(live.value)
    assert h5_path.read_bytes()[11] == 0
    with open_sink(h5_path) as reader, pytest.raises(SinkReadError) as closed:
        reader.load("text")
    assert f"variable-length data is damaged at byte {start}" in str(closed.value)
    assert "unless a writer" not in str(closed.value)


def test_a_check_made_before_objects_were_added_reads_the_collection_again(
    h5_path: Path,
) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("text", "one")
    with h5py.File(h5_path, "r") as handle:
        check = HeapCheck(handle, h5_path)
        check.dataset(handle["text"], "text")
        (address, indexes), *_ = check._indexes.items()
        check._indexes[address] = indexes[:0]  # as if checked before the object was added
        check.dataset(handle["text"], "text")
        assert check._indexes[address].tolist() == indexes.tolist()


# ----------------------------------------------------------------------------- the walk itself
def _plain_walk(data: bytes) -> list[int] | str:
    """The object indexes of a collection, one object at a time (the rules of the file format
    and of HDF5's reader, with the check's strictness), or "bad"."""
    size, at, found = len(data), 16, []
    while at < size:
        if at + 16 > size:
            break
        index, _count, _reserved, length = struct.unpack_from("<HHIQ", data, at)
        if index == 0:
            if length != size - at:
                return "bad"
            break
        need = 16 + -(-length // 8) * 8
        if need > size - at:
            return "bad"
        found.append(index)
        at += need
    return sorted(found) if len(set(found)) == len(found) else "bad"


@st.composite
def collections(draw: Any) -> bytes:
    """A collection as HDF5 writes it, sometimes with a few bytes changed."""
    size = draw(st.sampled_from([4096, 4104, 8192]))
    out, at = bytearray(size), 16
    out[:16] = b"GCOL\x01\x00\x00\x00" + struct.pack("<Q", size)
    indexes = draw(st.permutations(range(1, 400)))
    for index in indexes:
        length = draw(st.integers(0, 40))
        need = 16 + -(-length // 8) * 8
        if at + need > size - draw(st.sampled_from([0, 8, 16, 24])):
            break
        struct.pack_into("<HHIQ", out, at, index, 1, 0, length)
        at += need
    if at + 16 <= size:
        struct.pack_into("<HHIQ", out, at, 0, 0, 0, size - at)
    for where, value in draw(st.lists(st.tuples(st.integers(16, size - 1), st.integers(0, 255)),
                                      max_size=3)):  # fmt: skip
        out[where] = value
    return bytes(out)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(data=collections())
def test_both_collection_walks_agree_with_a_plain_walk(data: bytes) -> None:
    expected = _plain_walk(data)
    walks = [
        lambda: collection_indexes(data, 0, 8),
        lambda: large_collection_indexes(_reads(data), 0, len(data), 8),
    ]
    for walk in walks:
        try:
            found: list[int] | str = walk().tolist()
        except DamageError:
            found = "bad"
        assert found == expected


def test_a_collection_larger_than_a_mebibyte_is_walked_by_headers(h5_path: Path) -> None:
    big = "ü" * (3 << 20)
    with Hdf5Sink(h5_path, "w") as sink:
        sink.extend("text", np.array(["small", big, ""], dtype=object))
    with open_sink(h5_path) as reader:
        assert reader.load("text").tolist() == ["small", big, ""]
        assert len(reader._heap._indexes) == 2


def test_a_collection_header_is_checked() -> None:
    header = b"GCOL\x01\x00\x00\x00" + struct.pack("<Q", 4096)
    assert collection_size(header, 100, 100 + 4096, 8) == 4096
    for bad, file_size in [(b"GCOX" + header[4:], 10**6), (header[:4] + b"\x02" + header[5:],
                           10**6), (header[:8] + struct.pack("<Q", 4000), 10**6),
                           (header[:8] + struct.pack("<Q", 4100), 10**6), (header, 4095 + 100),
                           (header[:12], 10**6)]:  # fmt: skip
        with pytest.raises(DamageError):
            collection_size(bad, 100, file_size, 8)


def test_a_damaged_collection_named_in_a_key_is_a_sink_read_error(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("text", "only")
    data = bytearray(h5_path.read_bytes())
    start = data.find(b"GCOL")
    data[start + 4] = 9
    h5_path.write_bytes(bytes(data))
    with open_sink(h5_path) as reader, pytest.raises(SinkReadError, match="version 9"):
        reader.load("text")
