"""Hdf5Sink in one process: rows, arrays, attributes, dtypes, errors, modes and reading."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import (
    Hdf5Sink,
    SinkClosedError,
    SinkDataError,
    SinkError,
    SinkInUseError,
    SinkKeyError,
    open_sink,
)
from ataraxis_like.hdf5._object_header import LAYOUT, Sizes, messages

pytestmark = pytest.mark.timeout(60)

RECORD = np.dtype([("time", "<f8"), ("count", "<i4"), ("tag", "S4")])


@pytest.mark.parametrize("compression", [None, "gzip", "lzf", 6])
def test_every_kind_of_row_round_trips(h5_path: Path, compression: object) -> None:
    record = np.array((1.5, 7, b"ab"), dtype=RECORD)
    with Hdf5Sink(h5_path, "w", compression=compression, buffer_bytes=512) as sink:  # type: ignore[arg-type]
        for row in range(1000):
            sink.append("scalars/float", row * 0.5)
            sink.append("scalars/int8", np.int8(row % 100))
        sink.extend("vectors", np.arange(30, dtype=np.uint16).reshape(10, 3))
        sink.append("vectors", [7, 8, 9])
        sink.append("text", "héllo")
        sink.extend("text", ["", "x" * 300])
        sink.append("blobs", b"\x00\x01\x00")
        sink.append("blobs", b"")
        sink.append("records", record)
        sink.append("records", (2.5, 8, b"cd"))
        sink.append("fixed", np.bytes_(b"abcd"))
        sink.append("fixed", np.bytes_(b"ab"))
        sink.append("flags", True)
    with open_sink(h5_path) as reader:
        assert reader.load("scalars/float").tolist() == [row * 0.5 for row in range(1000)]
        assert reader.load("scalars/int8").dtype == np.int8
        assert reader.load("vectors").tolist()[-1] == [7, 8, 9]
        assert reader.load("vectors").shape == (11, 3)
        assert reader.load("text").tolist() == ["héllo", "", "x" * 300]
        assert reader.load("blobs").tolist() == [b"\x00\x01\x00", b""]
        assert reader.load("records").tolist() == [(1.5, 7, b"ab"), (2.5, 8, b"cd")]
        assert reader.load("fixed").tolist() == [b"abcd", b"ab"]
        assert reader.load("flags").tolist() == [True]
        assert sorted(reader.keys()) == sorted(
            ["scalars/float", "scalars/int8", "vectors", "text", "blobs", "records", "fixed",
             "flags"]
        )  # fmt: skip
        if compression is not None:
            assert reader["scalars/float"].compression in ("gzip", "lzf")


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_files_stay_readable_by_the_oldest_supported_hdf5(h5_path: Path, compression: str) -> None:
    """HDF5 2.0 (h5py 3.15+) writes layout messages version 5 for filtered datasets under
    libver "latest"; HDF5 1.14 (h5py 3.13, the declared minimum) cannot open them. The sink's
    format bounds keep every message at a version 1.14 reads, and the superblock at 3 (SWMR)."""
    with Hdf5Sink(h5_path, "w", compression=compression) as sink:  # type: ignore[arg-type]
        for row in range(100):
            sink.append("a/x", float(row))
            sink.append("text", f"row {row}")
        sink.write("array", np.arange(20).reshape(4, 5))
        sink.set_attrs("a/x", unit="s")
    data = h5_path.read_bytes()
    assert data[:8] == b"\x89HDF\r\n\x1a\n"
    assert data[8] == 3, f"superblock version {data[8]}"
    sizes = Sizes(address=8, length=8, base=0)
    with h5py.File(h5_path, "r") as handle:
        addresses = {key: h5py.h5o.get_info(handle[key].id).addr for key in ("a/x", "text")}
    for key, address in addresses.items():
        layouts = [
            message.body[0]
            for message in messages(lambda at, count: data[at : at + count], address, sizes)
            if message.kind == LAYOUT
        ]
        assert layouts, f"{key}: no layout message found"
        assert max(layouts) <= 4, f"{key}: layout message versions {layouts}"


def test_datasets_are_chunked_and_extendible(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("x", 1.0)
        sink.append("frames", np.zeros((64, 64), dtype=np.uint8))
        sink.flush()
        rows = sink["x"]
        assert rows.maxshape == (None,)
        assert rows.chunks is not None
        assert sink["frames"].maxshape == (None, 64, 64)


@pytest.mark.parametrize("sharing", ["local", "queue", "lock"])
def test_small_files_stay_small_and_chunks_follow_the_first_block(
    h5_path: Path, sharing: str
) -> None:
    """HDF5 stores chunks whole: a chunk sized for a stream made a one-row file 264 KB."""
    options = {} if sharing == "local" else {"sharing": sharing}
    with Hdf5Sink(h5_path, "w", **options) as sink:  # type: ignore[arg-type]
        writer = sink.client() if sharing == "queue" else sink
        writer.append("one", 1.5)
        for value in range(20):
            writer.extend(f"stats/{value % 10}", np.array([value, value], dtype=np.float64))
        writer.extend("stream", np.arange(20_000, dtype=np.int64))
        writer.append("frames", np.zeros(1 << 20, dtype=np.uint8))
    with h5py.File(h5_path, "r") as handle:
        assert handle["one"].chunks == (2048,)  # 16 KiB: the smallest chunk
        assert handle["stats/0"].chunks == (2048,)
        assert handle["stream"].chunks == (32768,)  # a big first block: 256 KiB chunks at once
        assert handle["frames"].chunks == (1, 1 << 20)  # big rows: one per chunk
        assert handle["one"].id.get_storage_size() == 16384
    small = h5_path.with_name("small.h5")
    with Hdf5Sink(small, "w", **options) as sink:  # type: ignore[arg-type]
        writer = sink.client() if sharing == "queue" else sink
        writer.append("one", 1.5)
    assert small.stat().st_size < 30_000  # was 264 KB


@pytest.mark.parametrize(
    ("first", "bad", "expected"),
    [
        (np.zeros(3), np.zeros(4), r"holds rows of shape \(3,\) float64; got shape \(4,\)"),
        (1, 2.5, r"holds rows of shape \(\) int64; got shape \(\) float64"),
        (np.int8(1), 300, r"int8; got shape \(\) int64"),
        (np.float32(1), np.float64(1), r"float32; got shape \(\) float64"),
        (1.0, "text", r"float64; got shape \(\) str"),
        ("text", b"bytes", r"str; got bytes values"),
        (np.bytes_(b"ab"), np.bytes_(b"abc"), r"\|S2; got"),
        (np.array((1.0, 2, b"x"), dtype=RECORD), (1.5, 2.5, b"x"), "holds rows of shape"),
    ],
)
def test_a_row_that_does_not_fit_is_refused_naming_the_key(
    h5_path: Path, first: object, bad: object, expected: str
) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("a/b", first)
        with pytest.raises(SinkDataError, match=expected) as caught:
            sink.append("a/b", bad)
        assert "'a/b'" in str(caught.value)
        assert "\n" not in str(caught.value)
    with open_sink(h5_path) as reader:
        assert len(reader["a/b"]) == 1


def test_python_numbers_are_judged_by_value(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("small", np.int16(1))
        sink.append("small", 30_000)
        sink.extend("small", [1, 2, -3])
        sink.append("single", np.float32(1))
        sink.append("single", 0.1)
        with pytest.raises(SinkDataError):
            sink.extend("small", [40_000])
        with pytest.raises(SinkDataError):
            sink.append("small", True and 1.5)
    with open_sink(h5_path) as reader:
        assert reader.load("small").tolist() == [1, 30_000, 1, 2, -3]
        assert reader.load("single").dtype == np.float32


@pytest.mark.parametrize("key", ["", "/", "a//b", "a/./b", "../a", "__sink__/x", 5])
def test_malformed_or_reserved_keys_are_refused(h5_path: Path, key: object) -> None:
    with Hdf5Sink(h5_path, "w") as sink, pytest.raises(SinkKeyError):
        sink.append(key, 1)  # type: ignore[arg-type]


def test_keys_that_would_nest_in_each_other_are_refused(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.append("a/b", 1)
        with pytest.raises(SinkKeyError, match="clashes with key 'a/b'"):
            sink.append("a/b/c", 1)
        with pytest.raises(SinkKeyError, match="clashes"):
            sink.append("a", 1)
        sink.append("/a/c", 2)
        sink.append("a/c", 3)
    with open_sink(h5_path) as reader:
        assert reader.load("a/c").tolist() == [2, 3]


def test_write_stores_arrays_and_replacing_keeps_attributes(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.write("calibration", np.eye(3))
        sink.set_attrs("calibration", units="mm")
        sink.write("calibration", np.ones((3, 3)))
        sink.write("calibration", np.arange(4))
        sink.write("labels", np.array(["a", "bé"]))
        sink.append("rows", 1)
        sink.set_attrs("rows", rate=30.0)
        sink.set_attrs("/", session="s1")
        with pytest.raises(SinkDataError, match="write\\(\\) stores whole arrays"):
            sink.write("rows", np.zeros(2))
        with pytest.raises(SinkDataError, match="append and extend need a key of rows"):
            sink.append("calibration", 1)
        with pytest.raises(SinkKeyError, match="not in"):
            sink.set_attrs("missing", x=1)
    with open_sink(h5_path) as reader:
        assert reader.load("calibration").tolist() == [0, 1, 2, 3]
        assert reader.attrs("calibration") == {"units": "mm"}
        assert reader.load("labels").tolist() == ["a", "bé"]
        assert reader.attrs("rows")["rate"] == 30.0
        assert reader.attrs("/")["session"] == "s1"


REPLACEMENTS = [
    np.arange(3) + 10,
    np.arange(3.0),
    np.arange(3.0) + 100,
    np.arange(5.0),
    np.arange(5.0) + 200,
    np.array([b"x\x00"], dtype=object),
    np.arange(2) + 300,
]


@pytest.mark.parametrize("sharing", [None, "queue"])
def test_a_key_replaced_and_written_again_in_one_batch_keeps_the_last_value(
    h5_path: Path, sharing: str | None
) -> None:
    """Found by the queue fuzz: a write replacing a key's array (new dtype or shape) inside one
    batch left the old dataset's handle cached, and the next write of the same layout went
    through it to the unlinked dataset (the value was lost, or HDF5 failed with "duplicate entry
    in cache" and the writer stopped). A grouped block is one batch in this process; in queue
    mode the writes between two flushes are one batch of the writer process."""
    with Hdf5Sink(h5_path, "w", sharing=sharing) as sink:
        target = sink.client() if sharing == "queue" else sink
        target.write("k", np.arange(3))
        target.flush()
        with sink.grouped():
            target.write("k", np.arange(3))  # the same layout: written in place, handle kept
            for value in REPLACEMENTS:
                target.write("k", value)
                target.write("k", value)  # the same layout again, right after a replacement
        target.flush()
    with open_sink(h5_path) as reader:
        assert reader.load("k").tolist() == [300, 301]


@pytest.mark.parametrize("blob", [b"abc", b"", b"\x00\x01\x00", bytes(range(256))])
def test_write_of_one_bytes_value_reads_back_equal(h5_path: Path, blob: bytes) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        sink.write("blob", blob)
        sink.write("note", "héllo")
        assert sink.load("blob")[()] == blob
    with open_sink(h5_path) as reader:
        loaded = reader.load("blob")
        assert loaded.shape == ()
        assert loaded.dtype == object
        assert loaded[()] == blob  # was one zero-filled bytes object per byte
        assert reader.load("note")[()] == "héllo"


def test_modes_follow_h5py(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "x") as sink:
        sink.append("rows", 1)
    with pytest.raises(FileExistsError):
        Hdf5Sink(h5_path, "x")
    with Hdf5Sink(h5_path, "a") as sink:
        sink.append("rows", 2)
        with pytest.raises(SinkDataError, match="int64"):
            sink.append("rows", 2.5)
    with Hdf5Sink(h5_path, "r") as sink:
        assert sink.load("rows").tolist() == [1, 2]
        assert sink["rows"][1:2].tolist() == [2]
        with pytest.raises(SinkClosedError, match="read-only"):
            sink.append("rows", 3)
    with Hdf5Sink(h5_path, "w") as sink:
        assert sink.keys() == []
    with pytest.raises(ValueError, match="mode must be"):
        Hdf5Sink(h5_path, "rw")
    with pytest.raises(ValueError, match="compression"):
        Hdf5Sink(h5_path, "a", compression="zstd")


def test_lazy_views_slice_without_loading(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        for start in range(0, 200_000, 10_000):
            sink.extend("big", np.arange(start, start + 10_000))
    with open_sink(h5_path) as reader:
        view = reader["big"]
        assert isinstance(view, h5py.Dataset)
        assert view.shape == (200_000,)
        assert view[123_456:123_459].tolist() == [123_456, 123_457, 123_458]
        with pytest.raises(SinkKeyError, match="no dataset 'nope'"):
            reader["nope"]


def test_rows_wait_in_buffers_until_flush(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", flush_interval=3600) as sink:
        sink.append("rows", 1)
        sink.flush()
        sink.append("rows", 2)
        assert len(sink._store.dataset("rows")) == 1  # type: ignore[union-attr]
        sink.flush()
        assert len(sink._store.dataset("rows")) == 2  # type: ignore[union-attr]


def test_one_writer_per_file(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w"), pytest.raises(SinkInUseError, match="one writer per file"):
        Hdf5Sink(h5_path, "a", lock_timeout=0.1)
    with Hdf5Sink(h5_path, "a"):
        pass


def test_closed_and_local_sinks_refuse_what_they_cannot_do(h5_path: Path) -> None:
    sink = Hdf5Sink(h5_path, "w")
    sink.append("rows", 1)
    with pytest.raises(SinkError, match="sharing='queue'"):
        sink.client()
    with pytest.raises(SinkError):
        pickle.dumps(sink)
    sink.close()
    sink.close()
    with pytest.raises(SinkClosedError, match="closed"):
        sink.append("rows", 2)
    with open_sink(h5_path) as reader:
        assert reader.load("rows").tolist() == [1]


def test_grouped_changes_land_together_and_survive_errors(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        with sink.grouped():
            for run in range(50):
                sink.write(f"runs/r{run}/result", np.full(10, float(run)))
                with sink.grouped():  # nested blocks join the outer one
                    sink.set_attrs(f"runs/r{run}", status="done", run=run)
                sink.append("steps", run)

        def fails_inside_a_block() -> None:
            with sink.grouped():
                sink.write("after/error", np.arange(3))
                _ = 1 / 0  # the block's own error passes through unchanged

        with pytest.raises(ZeroDivisionError):
            fails_inside_a_block()  # and the file stays usable
        with pytest.raises(SinkKeyError, match="runs/r0/result"), sink.grouped():
            sink.write("runs/r0/result/inner", np.arange(2))
        sink.write("later", np.arange(4))
        with open_sink(h5_path) as reader:  # a live reader sees every grouped change
            assert reader.file["runs/r49"].attrs["status"] == "done"
            assert reader.file["after/error"][()].tolist() == [0, 1, 2]
    with open_sink(h5_path) as reader:
        assert [reader.file[f"runs/r{run}"].attrs["run"] for run in range(50)] == list(range(50))
        np.testing.assert_array_equal(reader.load("runs/r7/result"), np.full(10, 7.0))
        assert reader.load("steps").tolist() == list(range(50))
        assert reader.load("later").tolist() == [0, 1, 2, 3]


def test_attributes_are_the_ones_h5py_makes(h5_path: Path) -> None:
    """Set through the sink's direct path or through h5py's: same types, same values."""
    values = {
        "text": "completed", "empty": "", "unicode": "ünïcodé ✓", "float": 1.5, "int": 3,
        "float32": np.float32(2.5), "int16": np.int16(-7), "uint64": np.uint64(2**63),
        "bool": True, "list": [1, 2, 3], "huge": 2**70 - 1, "naïve name": "x",
    }  # fmt: skip
    with Hdf5Sink(h5_path) as sink:
        sink.write("g/data", np.zeros(2))
        sink.set_attrs("g", **{key: value for key, value in values.items() if key != "huge"})
        sink.set_attrs("g", text="replaced")  # an existing attribute
    reference = h5_path.with_name("reference.h5")
    with h5py.File(reference, "w") as handle:
        group = handle.create_group("g")
        for key, value in values.items():
            if key != "huge":
                group.attrs[key] = value
        group.attrs["text"] = "replaced"
    with h5py.File(h5_path, "r") as ours, h5py.File(reference, "r") as theirs:
        assert sorted(ours["g"].attrs) == sorted(theirs["g"].attrs)
        for key in theirs["g"].attrs:
            assert (
                ours["g"].attrs.get_id(key).get_type() == theirs["g"].attrs.get_id(key).get_type()
            ), key
            assert ours["g"].attrs.get_id(key).shape == theirs["g"].attrs.get_id(key).shape, key
            np.testing.assert_array_equal(ours["g"].attrs[key], theirs["g"].attrs[key])
        assert ours["g"].attrs["text"] == "replaced"


def test_attrs_of_groups_read_back_from_the_sink_and_a_reader(h5_path: Path) -> None:
    with Hdf5Sink(h5_path) as sink:
        sink.write("group/data", np.arange(3))
        sink.set_attrs("group", kind="run", count=2)
        sink.set_attrs("group/data", unit="s")
        assert sink.attrs("group") == {"kind": "run", "count": 2}
        assert sink.attrs("group/data") == {"unit": "s"}
        with pytest.raises(SinkKeyError, match="no dataset or group 'missing'"):
            sink.attrs("missing")
    with open_sink(h5_path) as reader:
        assert reader.attrs("group") == {"kind": "run", "count": 2}
        assert reader.attrs("/group/data") == {"unit": "s"}
        with pytest.raises(SinkKeyError, match="no dataset or group 'missing'"):
            reader.attrs("missing")


@pytest.mark.parametrize("sharing", [None, "queue"])
def test_attrs_of_a_group_whose_rows_wait_in_buffers(h5_path: Path, sharing: str | None) -> None:
    """Found by the queue fuzz checked against the local sink: the group of a key appended a
    moment ago did not exist yet in this process (its rows waited in a buffer), and set_attrs
    refused it there while queue mode accepted it."""
    with Hdf5Sink(h5_path, "w", sharing=sharing) as sink:
        sink.append("run/frames", 1)
        sink.append("elsewhere", 1)
        sink.set_attrs("run", subject="m1")
        with pytest.raises(SinkKeyError, match="'ru'"):
            sink.set_attrs("ru", subject="m1")  # a prefix of a name is not a group
    with open_sink(h5_path) as reader:
        assert reader.attrs("run") == {"subject": "m1"}
        assert reader.load("run/frames").tolist() == [1]


@pytest.mark.parametrize("sharing", [None, "lock", "queue"])
@pytest.mark.parametrize("target", ["run/frames", "run"])
def test_attrs_of_a_key_declared_by_an_empty_extend(
    h5_path: Path, sharing: str | None, target: str
) -> None:
    """Found by the loaded runs' queue fuzz: an empty typed extend declares a key with no rows.
    set_attrs on it was refused by local and lock sinks ("not in the file") but accepted by a
    queue client; on its group, the queue writer then failed and stopped for every client."""
    with Hdf5Sink(h5_path, "w", sharing=sharing) as sink:
        writer = sink.client() if sharing == "queue" else sink
        writer.extend("run/frames", np.empty((0, 2), dtype=np.int8))
        writer.set_attrs(target, subject="m1")
        writer.flush()
    with open_sink(h5_path) as reader:
        assert reader.attrs(target) == {"subject": "m1"}
        frames = reader.load("run/frames")
        assert (frames.dtype, frames.shape) == (np.dtype(np.int8), (0, 2))


def test_close_leaves_no_thread_behind(h5_path: Path) -> None:
    """A sink's flush thread is gone when close() returns (a fork right after copies none)."""
    before = set(threading.enumerate())
    for round_ in range(30):
        with Hdf5Sink(h5_path, flush_interval=0.0001) as sink:  # the thread flushes busily
            for row in range(2000):
                sink.append("x", float(row))
        assert set(threading.enumerate()) == before, f"round {round_}"
