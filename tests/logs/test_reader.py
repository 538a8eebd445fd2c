"""LogArchiveReader on our archives (stored and deflated) and on reference-library archives
built here with numpy, plus discover_log_archives."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.logs import LogArchiveReader, compress_npy_logs, discover_log_archives
from ataraxis_like.logs.reader import ArchiveFormatError

from . import Entry, random_entries, read_range, write_batch

pytestmark = pytest.mark.timeout(60)
ONSET = 1_700_000_000_000_000


@pytest.fixture(params=["stored", "deflated"])
def archive(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, list[tuple[int, bytes]]]:
    """An archive of 500 entries (empty payloads included) and its expected contents."""
    rng = np.random.default_rng(1)
    entries = random_entries(rng, 500, 1, session=4, max_bytes=300)
    entries = [Entry(e.source, e.timestamp, e.payload[: len(e.payload) // 8] * 8, e.session,
                     e.entry_id) for e in entries]  # fmt: skip
    write_batch(tmp_path, entries[:250], ONSET, 0)
    write_batch(tmp_path, entries[250:], ONSET, 1)
    path = compress_npy_logs(tmp_path, compress=request.param == "deflated")[0]
    assert LogArchiveReader(path).compressed == (request.param == "deflated")
    ordered = sorted(entries, key=lambda e: (e.timestamp, e.entry_id))
    return path, [(e.timestamp, e.payload) for e in ordered]


def test_properties_and_indexing(archive: tuple[Path, list[tuple[int, bytes]]]) -> None:
    path, expected = archive
    reader = LogArchiveReader(path)
    assert (reader.source_id, reader.onset_us, reader.format) == (0, ONSET, "packed")
    assert len(reader) == reader.message_count == 500
    with zipfile.ZipFile(path) as members:
        method = members.getinfo("payload.npy").compress_type
    assert reader.compressed == (method == zipfile.ZIP_DEFLATED)
    assert reader.timestamps.dtype == np.uint64
    assert reader.timestamps.tolist() == [stamp for stamp, _ in expected]
    with pytest.raises(ValueError, match="read-only"):
        reader.timestamps[0] = 5
    assert reader.payload_bytes == sum(len(payload) for _, payload in expected)
    for index in (0, 1, 250, 499, -1, -500):
        stamp, payload = reader[index]
        assert (stamp, payload.tobytes()) == expected[index]
        assert isinstance(stamp, int)
        assert payload.dtype == np.uint8
        assert not payload.flags.writeable
    for index in (500, -501):
        with pytest.raises(IndexError, match="out of range for 500 messages"):
            reader[index]
    assert [(t, p.tobytes()) for t, p in reader[10:20]] == expected[10:20]
    assert [(t, p.tobytes()) for t, p in reader[::-97]] == expected[::-97]
    assert reader[400:300] == []


def test_iteration_and_read_all(archive: tuple[Path, list[tuple[int, bytes]]]) -> None:
    path, expected = archive
    reader = LogArchiveReader(path)
    assert [(t, p.tobytes()) for t, p in reader.iter_messages()] == expected
    assert [(t, p.tobytes()) for t, p in reader.iter_messages(123, 321)] == expected[123:321]
    assert list(reader.iter_messages(400, 10_000))[-1][0] == expected[-1][0]
    stamps, payloads = reader.read_all_messages()
    assert stamps.tolist() == [stamp for stamp, _ in expected]
    assert [payload.tobytes() for payload in payloads] == [payload for _, payload in expected]
    absolute = reader.absolute_times_us()
    assert absolute.dtype == np.uint64
    assert absolute.tolist() == [ONSET + stamp for stamp, _ in expected]


def test_batches_cover_everything_once_and_work_in_other_processes(
    archive: tuple[Path, list[tuple[int, bytes]]],
) -> None:
    path, expected = archive
    reader = LogArchiveReader(path)
    for count in (1, 3, 7, 1000):
        batches = reader.get_batches(count)
        assert 1 <= len(batches) <= min(count, 500)
        assert [i for start, stop in batches for i in range(start, stop)] == list(range(500))
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.path == reader.path
    assert len(copy) == 500
    batches = reader.get_batches(3)
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        parts = list(pool.map(read_range, [reader] * len(batches), *zip(*batches, strict=True)))
    assert [entry for part in parts for entry in part] == expected
    with pytest.raises(ValueError, match="at least 1"):
        reader.get_batches(0)


def test_layout_is_plain_numpy(archive: tuple[Path, list[tuple[int, bytes]]]) -> None:
    """The documented members, readable without this library."""
    path, expected = archive
    with np.load(path, allow_pickle=False) as members:
        assert int(members["format_version"]) == 2
        assert int(members["source_id"]) == 0
        assert int(members["onset_us"]) == ONSET
        assert members["sessions"].tolist() == [[4, ONSET]]
        offsets = members["offsets"]
        payload = members["payload"]
        assert offsets.shape == (501,)
        assert members["entry_keys"].shape == (500, 2)
        assert [payload[offsets[i] : offsets[i + 1]].tobytes() for i in range(500)] == [
            p for _, p in expected
        ]
        per_block, checksums = int(members["block_entries"]), members["checksums"]
        stamps = members["timestamps"]
        assert checksums.shape == (-(-500 // per_block), 2)
        for number, (index_sum, payload_sum) in enumerate(checksums.tolist()):
            first, last = number * per_block, min(500, (number + 1) * per_block)
            index_bytes = stamps[first:last].tobytes() + offsets[first : last + 1].tobytes()
            assert zlib.crc32(index_bytes) == index_sum
            assert zlib.crc32(payload[offsets[first] : offsets[last]].tobytes()) == payload_sum


def test_reads_version_1_archives(archive: tuple[Path, list[tuple[int, bytes]]]) -> None:
    """Archives from before the checksums (format version 1) read as before, unverified."""
    path, expected = archive
    with np.load(path, allow_pickle=False) as members:
        fields = {name: members[name] for name in members.files}
    del fields["block_entries"], fields["checksums"]
    old = path.with_name("1_log.npz")
    np.savez(old, **{**fields, "format_version": np.uint32(1)})
    reader = LogArchiveReader(old)
    assert [(stamp, payload.tobytes()) for stamp, payload in reader] == expected
    assert [(reader[i][0], reader[i][1].tobytes()) for i in range(500)] == expected
    assert reader.timestamps.tolist() == [stamp for stamp, _ in expected]


def reference_archive(path: Path, entries: list[tuple[int, bytes]], onset: int | None,
                      compressed: bool = False, source: int = 7) -> None:  # fmt: skip
    """An archive as the reference library writes it: one [source][timestamp][payload] member
    per entry, named SSS_TTTTTTTTTTTTTTTTTTTT; the onset is the entry stamped 0."""
    members = {}
    if onset is not None:
        entries = [(0, np.uint64(onset).tobytes()), *entries]
    for stamp, payload in entries:
        data = bytes([source]) + np.uint64(stamp).tobytes() + payload
        members[f"{source:03d}_{stamp:020d}"] = np.frombuffer(data, dtype=np.uint8)
    (np.savez_compressed if compressed else np.savez)(path, **members)


@pytest.mark.parametrize("compressed", [False, True])
def test_reads_reference_archives(tmp_path: Path, compressed: bool) -> None:
    entries = [(stamp, bytes(range(stamp % 50))) for stamp in (5, 17, 3, 1_000_000, 40)]
    path = tmp_path / "7_log.npz"
    reference_archive(path, entries, ONSET, compressed)
    reader = LogArchiveReader(path)
    assert (reader.format, reader.source_id, reader.onset_us) == ("reference", 7, ONSET)
    ordered = sorted(entries)
    assert len(reader) == 5
    assert reader.timestamps.tolist() == [stamp for stamp, _ in ordered]
    assert [(t, p.tobytes()) for t, p in reader] == ordered
    assert reader[-1][1].tobytes() == ordered[-1][1]
    assert [(t, p.tobytes()) for t, p in reader[1:3]] == ordered[1:3]
    assert reader.absolute_times_us().tolist() == [ONSET + stamp for stamp, _ in ordered]
    assert reader.payload_bytes == sum(len(p) for _, p in entries)
    assert sum(stop - start for start, stop in reader.get_batches(2)) == 5
    stamps, payloads = reader.read_all_messages()
    assert stamps.tolist() == [stamp for stamp, _ in ordered]
    assert [p.tobytes() for p in payloads] == [p for _, p in ordered]


def test_reference_archive_without_onset(tmp_path: Path) -> None:
    path = tmp_path / "7_log.npz"
    reference_archive(path, [(0, b"not an onset: 3 bytes"[:3]), (9, b"x")], None)
    reader = LogArchiveReader(path)
    assert reader.onset_us is None
    assert len(reader) == 2  # a stamp-0 entry that is not 8 bytes is an ordinary message
    with pytest.raises(ArchiveFormatError, match="records no onset"):
        reader.absolute_times_us()
    assert LogArchiveReader(path, onset_us=100).absolute_times_us().tolist() == [100, 109]


def test_unreadable_files_raise_format_errors(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ArchiveFormatError, match=r"text\.npz is not a readable log archive"):
        LogArchiveReader(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ArchiveFormatError, match=r"members \(weights.npy\)"):
        LogArchiveReader(tmp_path / "other.npz")
    with pytest.raises(ArchiveFormatError, match="does not exist"):
        LogArchiveReader(tmp_path / "missing.npz")
    write_batch(tmp_path, [Entry(3, 1, b"abc", 1, 1)], ONSET, 0)
    good = compress_npy_logs(tmp_path, compress=False)[3]
    with np.load(good) as members:
        fields = {name: members[name] for name in members.files}
    np.savez(tmp_path / "future.npz", **{**fields, "format_version": np.uint32(3)})
    with pytest.raises(ArchiveFormatError, match="upgrade ataraxis-like"):
        LogArchiveReader(tmp_path / "future.npz")
    np.savez(tmp_path / "short.npz", **{**fields, "payload": fields["payload"][:-1]})
    with pytest.raises(ArchiveFormatError, match="offsets end at 3 but the payload has 2"):
        LogArchiveReader(tmp_path / "short.npz")
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveFormatError):
        LogArchiveReader(tmp_path / "cut.npz")


def test_discover_finds_archives_only(tmp_path: Path) -> None:
    for name in (
        "0_log.npz",
        "12_log.npz",
        "255_log.npz",
        "256_log.npz",
        ".3_log.npz.tmp",
        "x_log.npz",
        "0_log.npz.bak",
        "batch_0000000000000001_0000000000.npy",
    ):
        (tmp_path / name).write_bytes(b"")  # fmt: skip
    (tmp_path / "7_log.npz").mkdir()
    found = discover_log_archives(tmp_path)
    assert found == {0: tmp_path / "0_log.npz", 12: tmp_path / "12_log.npz",
                     255: tmp_path / "255_log.npz"}  # fmt: skip
    assert list(found) == [0, 12, 255]
