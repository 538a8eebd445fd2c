"""compress_npy_logs with real logger output and hand-made batch files: contents, merges,
duplicates, foreign and corrupt files, source removal and bounded memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from ataraxis_like.logs import (
    DataLogger,
    LogArchiveReader,
    LogPackage,
    compress_npy_logs,
    discover_log_archives,
)
from ataraxis_like.logs.archive import (
    CompressionBusyError,
    LogDirectoryError,
    source_timelines,
)
from ataraxis_like.logs.format import INDEX_DTYPE, batch_name, batch_parts, write_atomically

from . import (
    Entry,
    archive_rows,
    compress_in_child,
    expected_archive,
    random_entries,
    write_batch,
)
from .logged import collect_entries

pytestmark = pytest.mark.timeout(60)
ONSET = 1_700_000_000_000_000


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, int, dict[int, list[tuple[int, bytes]]]]:
    """A real logger's directory: 3 sources, random sizes (empty included), tied timestamps."""
    rng = np.random.default_rng(7)
    logger = DataLogger(tmp_path, "rig", batch_entries=700)
    logger.start()
    for _ in range(3000):
        size = int(rng.choice([0, 1, 64, 700, 3000]))
        logger.input_queue.put(
            LogPackage(int(rng.integers(0, 3)), int(rng.integers(0, 5000)),
                       rng.integers(0, 256, size, dtype=np.uint8))
        )  # fmt: skip
    logger.stop()
    logger.close()
    expected, _copies = collect_entries(logger.output_directory)
    return logger.output_directory, logger.onset_us, expected


def read_back(path: Path) -> list[tuple[int, bytes]]:
    return [(stamp, payload.tobytes()) for stamp, payload in LogArchiveReader(path).iter_messages()]


def batch_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("batch_*.npy"))


@pytest.mark.parametrize("compress", [True, False])
def test_logger_round_trip_is_byte_exact(logged, compress: bool) -> None:  # type: ignore[no-untyped-def]
    directory, onset, expected = logged
    assert len(batch_files(directory)) >= 4
    result = compress_npy_logs(directory, compress=compress, verify_integrity=True)
    assert set(result) == set(expected) == {0, 1, 2}
    assert not result.problems
    for source, entries in expected.items():
        assert result[source] == directory / f"{source}_log.npz"
        got = read_back(result[source])
        assert [stamp for stamp, _ in got] == [stamp for stamp, _ in entries]
        assert sorted(got) == sorted(entries)  # equal timestamps may come in any order
        reader = LogArchiveReader(result[source])
        assert reader.onset_us == onset
        assert reader.source_id == source
        assert np.array_equal(reader.absolute_times_us(), reader.timestamps + np.uint64(onset))
    assert len(batch_files(directory)) >= 4  # remove_sources defaults to False


def test_data_logger_compress_logs_removes_sources(tmp_path: Path) -> None:
    logger = DataLogger(tmp_path, "cam", batch_entries=10)
    logger.start()
    for number in range(50):
        logger.input_queue.put(LogPackage(number % 2, number, bytes([number]) * number))
    logger.stop()
    result = logger.compress_logs(remove_sources=True, compress=False)
    logger.close()
    assert sorted(result) == [0, 1]
    assert batch_files(logger.output_directory) == []
    assert read_back(result[1]) == [(n, bytes([n]) * n) for n in range(1, 50, 2)]


def test_copies_of_an_entry_are_kept_once(tmp_path: Path) -> None:
    first = [Entry(1, t, bytes([t]) * 3, 5, 100 + t) for t in range(10)]
    write_batch(tmp_path, first, ONSET, 0)
    write_batch(tmp_path, first[6:], ONSET, 1)  # a crashed logger wrote these twice
    other_session = [Entry(1, 50 + t, b"x", 6, 100 + t) for t in range(3)]  # same entry ids
    write_batch(tmp_path, other_session, ONSET + 10, 0)
    result = compress_npy_logs(tmp_path)
    assert result.duplicates == 4
    _onset, rows = expected_archive(first + other_session, {5: ONSET, 6: ONSET + 10}, 1)
    assert archive_rows(result[1]) == rows
    assert len(rows) == 13


def test_equal_timestamps_keep_session_then_entry_order(tmp_path: Path) -> None:
    write_batch(tmp_path, [Entry(1, 10, b"c", 2, 30), Entry(1, 10, b"b", 2, 20)], ONSET, 0)
    write_batch(tmp_path, [Entry(1, 10, b"a", 2, 10), Entry(1, 9, b"first", 2, 40)], ONSET, 1)
    write_batch(tmp_path, [Entry(1, 10, b"z", 1, 99)], ONSET, 0)  # an earlier session id
    reader = LogArchiveReader(compress_npy_logs(tmp_path)[1])
    assert [p.tobytes() for _, p in reader] == [b"first", b"z", b"a", b"b", b"c"]


def test_sessions_are_rebased_to_the_earliest_onset(tmp_path: Path) -> None:
    late = [Entry(2, 5, b"late", 9, 1)]
    early = [Entry(2, 7, b"early", 8, 1), Entry(2, 2_000_000, b"after", 8, 2)]
    write_batch(tmp_path, late, ONSET + 1_000_000, 0)
    write_batch(tmp_path, early, ONSET, 0)
    reader = LogArchiveReader(compress_npy_logs(tmp_path)[2])
    assert reader.onset_us == ONSET
    assert reader.sessions == {8: ONSET, 9: ONSET + 1_000_000}
    assert [(t, p.tobytes()) for t, p in reader] == [
        (7, b"early"), (1_000_005, b"late"), (2_000_000, b"after")
    ]  # fmt: skip
    assert reader.absolute_times_us().tolist() == [ONSET + 7, ONSET + 1_000_005, ONSET + 2_000_000]


@pytest.mark.parametrize("compress", [True, False])
def test_rerun_merges_new_entries_into_the_archive(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(3)
    old = random_entries(rng, 300, 2, session=1, max_bytes=400)
    write_batch(tmp_path, old[:150], ONSET, 0)
    write_batch(tmp_path, old[150:], ONSET, 1)
    first = compress_npy_logs(tmp_path, remove_sources=True, compress=compress)
    assert batch_files(tmp_path) == []
    new = random_entries(rng, 200, 3, session=2, max_bytes=400)
    write_batch(tmp_path, new, ONSET - 5_000, 0)  # an earlier onset: the archive is rebased
    write_batch(tmp_path, old[:20], ONSET, 0)  # already archived: must not come back twice
    second = compress_npy_logs(tmp_path, compress=compress, verify_integrity=True)
    assert set(second) == {0, 1, 2}
    assert second.added[0] + second.added[1] == sum(1 for e in new if e.source < 2)
    onsets = {1: ONSET, 2: ONSET - 5_000}
    for source in (0, 1, 2):
        onset, rows = expected_archive(old + new, onsets, source)
        assert archive_rows(second[source]) == rows
        assert LogArchiveReader(second[source]).onset_us == onset
    assert first[0] == second[0]
    third = compress_npy_logs(tmp_path, remove_sources=True)  # nothing new: archives unchanged
    assert third.added == {0: 0, 1: 0, 2: 0}
    assert batch_files(tmp_path) == []


def test_foreign_and_corrupt_files_are_reported_and_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    good = random_entries(rng, 200, 2, session=3, max_bytes=100)
    write_batch(tmp_path, good[:100], ONSET, 0)
    write_batch(tmp_path, good[100:], ONSET, 1)
    truncated = write_batch(tmp_path, random_entries(rng, 50, 2, 3, 100, 10**6), ONSET, 2)
    os.truncate(truncated, truncated.stat().st_size - 7)
    (tmp_path / "notes.txt").write_text("session notes\n")
    np.save(tmp_path / "calibration.npy", np.linspace(0, 1, 5))
    np.save(tmp_path / "batch_zzzz.npy", np.arange(4.0))
    (tmp_path / batch_name(4, 0)).write_bytes(b"")
    (tmp_path / "007_00000000000000001234.npy").write_bytes(b"\x93NUMPY junk")
    (tmp_path / "9_log.npz").write_bytes(b"PK not really a zip")
    write_batch(tmp_path, [Entry(9, 1, b"nine", 3, 10**7)], ONSET, 3)
    foreign = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("batch_0"))
    foreign += [truncated.name, batch_name(4, 0), batch_name(3, 3)]
    result = compress_npy_logs(tmp_path, remove_sources=True)
    assert set(result.problems) == {
        truncated.name, "notes.txt", "calibration.npy", "batch_zzzz.npy", batch_name(4, 0),
        "007_00000000000000001234.npy", "source 9",
    }  # fmt: skip
    assert "truncated" in result.problems[truncated.name]
    assert "9_log.npz" in result.problems["source 9"]
    assert sorted(result) == [0, 1, 9]  # 9: the corrupt file is listed, never replaced
    assert (tmp_path / "9_log.npz").read_bytes() == b"PK not really a zip"
    for source in (0, 1):
        assert archive_rows(result[source]) == expected_archive(good, {3: ONSET}, source)[1]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        {*foreign, "0_log.npz", "1_log.npz"}
    )


def test_damaged_previous_archive_is_reported_not_merged(tmp_path: Path) -> None:
    write_batch(tmp_path, [Entry(2, t, b"payload-%d" % t, 1, t) for t in range(50)], ONSET, 0)
    archive = compress_npy_logs(tmp_path, compress=False, remove_sources=True)[2]
    data = bytearray(archive.read_bytes())
    spot = data.rindex(b"payload-49")
    data[spot] ^= 0xFF  # one flipped payload bit: only the zip CRC can tell
    archive.write_bytes(bytes(data))
    write_batch(tmp_path, [Entry(2, 99, b"new", 1, 1000)], ONSET, 1)
    result = compress_npy_logs(tmp_path, remove_sources=True)
    assert "Bad CRC-32" in result.problems["source 2"]
    assert archive.read_bytes() == bytes(data)
    assert len(batch_files(tmp_path)) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_reference_archive_is_not_overwritten(tmp_path: Path) -> None:
    np.savez(tmp_path / "4_log.npz", **{"004_00000000000000000010": np.arange(12, dtype=np.uint8)})
    write_batch(tmp_path, [Entry(4, 1, b"new", 1, 1)], ONSET, 0)
    before = (tmp_path / "4_log.npz").read_bytes()
    result = compress_npy_logs(tmp_path, remove_sources=True)
    assert "reference library" in result.problems["source 4"]
    assert (tmp_path / "4_log.npz").read_bytes() == before
    assert len(batch_files(tmp_path)) == 1


def test_timeline_of_a_reference_archive_comes_from_its_reader(tmp_path: Path) -> None:
    bodies = ((0, ONSET.to_bytes(8, "little")), (10, b"ab"), (25, b"c"))
    entries = {
        f"004_{stamp:020d}": np.frombuffer(
            bytes([4]) + stamp.to_bytes(8, "little") + body, np.uint8
        )
        for stamp, body in bodies
    }
    np.savez(tmp_path / "4_log.npz", **entries)
    write_batch(tmp_path, [Entry(4, 1, b"new", 1, 1)], ONSET, 0)
    timelines, problems = source_timelines(tmp_path)
    assert "reference library" in problems["4_log.npz"]
    [timeline] = timelines
    assert (timeline.source_id, timeline.onset_us, timeline.batch_files) == (4, ONSET, 0)
    assert timeline.archive == tmp_path / "4_log.npz"
    assert timeline.timestamps.tolist() == [10, 25]


def test_leftover_temporary_is_replaced_and_ignored(tmp_path: Path) -> None:
    (tmp_path / ".3_log.npz.tmp").write_bytes(b"half an archive")
    (tmp_path / ".3_log.npz.sort.tmp").write_bytes(b"sorted rows of a killed run")
    assert discover_log_archives(tmp_path) == {}
    write_batch(tmp_path, [Entry(3, 1, b"a", 1, 1)], ONSET, 0)
    result = compress_npy_logs(tmp_path)
    assert not result.problems
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        ".compress.lock"
    ]
    assert read_back(result[3]) == [(1, b"a")]


def test_second_compression_of_a_directory_is_refused(tmp_path: Path) -> None:
    write_batch(tmp_path, [Entry(3, 1, b"a", 1, 1)], ONSET, 0)
    with FileLock(str(tmp_path / ".compress.lock")), pytest.raises(CompressionBusyError):
        compress_npy_logs(tmp_path)
    with pytest.raises(LogDirectoryError, match="does not exist"):
        compress_npy_logs(tmp_path / "missing")


def test_parallel_sources_match_serial(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    entries = random_entries(rng, 2000, 6, session=1, max_bytes=2000)
    for sequence in range(4):
        write_batch(tmp_path, entries[sequence * 500 : (sequence + 1) * 500], ONSET, sequence)
    serial = {s: archive_rows(p) for s, p in compress_npy_logs(tmp_path, max_workers=1).items()}
    for path in discover_log_archives(tmp_path).values():
        path.unlink()
    parallel = compress_npy_logs(tmp_path, max_workers=3, verify_integrity=True)
    assert {s: archive_rows(p) for s, p in parallel.items()} == serial
    assert serial == {s: expected_archive(entries, {1: ONSET}, s)[1] for s in range(6)}


@pytest.mark.parametrize(
    ("remove_sources", "compress"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_remove_sources_and_compress_combinations(
    tmp_path: Path, remove_sources: bool, compress: bool
) -> None:
    text = b"temperature=21.5C humidity=40% " * 40  # deflates well
    entries = [Entry(n % 2, n, text[: n % 900], 1, n) for n in range(400)]
    write_batch(tmp_path, entries[:200], ONSET, 0)
    write_batch(tmp_path, entries[200:], ONSET, 1)
    result = compress_npy_logs(tmp_path, remove_sources=remove_sources, compress=compress)
    assert len(batch_files(tmp_path)) == (0 if remove_sources else 2)
    assert sorted(result.removed) == ([batch_name(1, 0), batch_name(1, 1)] if remove_sources
                                      else [])  # fmt: skip
    for source in (0, 1):
        reader = LogArchiveReader(result[source])
        assert reader.compressed is compress
        assert archive_rows(result[source]) == expected_archive(entries, {1: ONSET}, source)[1]
    payload = sum(len(e.payload) for e in entries)
    stored = sum(p.stat().st_size for p in result.values())
    assert (stored < payload / 4) if compress else (stored > payload)


def test_verbose_prints_the_summary_and_progress_only_to_a_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The progress line is for a person watching (tests/logs/test_logs_cli.py shows it on a
    terminal); captured, stderr gets none, and the summary prints either way."""
    (tmp_path / "notes.txt").write_text("x")
    write_batch(tmp_path, [Entry(1, t, b"abc" * t, 1, t) for t in range(100)], ONSET, 0)
    compress_npy_logs(tmp_path, verbose=True)
    out, err = capfd.readouterr()
    assert "1 source(s) archived" in out
    assert "100 new entries" in out
    assert "notes.txt: neither a logger batch file" in out
    assert err == ""


@pytest.mark.timeout(90)
def test_memory_stays_bounded_on_a_large_log(tmp_path: Path) -> None:
    """320 MB of 1 MiB entries in 2 sources compress within ~100 MB of extra memory."""
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    for sequence in range(20):
        entries = [Entry(n % 2, sequence * 16 + n, block, 1, sequence * 16 + n) for n in range(16)]
        write_batch(tmp_path, entries, ONSET, sequence)
    extra = compress_in_child(tmp_path, compress=False, max_workers=2)["extra_mb"]
    assert extra < 100, extra
    reader = LogArchiveReader(tmp_path / "1_log.npz")
    assert len(reader) == 160
    assert reader[77][1].tobytes() == block


@pytest.mark.timeout(120)
def test_millions_of_tiny_entries_sort_through_scratch_space(tmp_path: Path) -> None:
    """2.4 M one-byte entries (several sorted runs) in two sessions with crash copies, then a
    merge: exact order, one copy each, bounded memory, no scratch file left."""
    rng = np.random.default_rng(2)
    count = 1_200_000
    ids = np.arange(count, dtype=np.uint64) * 8
    stamps = {session: np.sort(rng.integers(0, 6_000_000, count)).astype(np.uint64)
              for session in (1, 2)}  # fmt: skip
    onsets = {1: ONSET, 2: ONSET + 3_000_000}

    def write_session(session: int) -> None:
        for sequence, first in enumerate(range(0, count, 100_000)):
            rows = slice(first, first + 100_000 + (500 if sequence % 3 == 0 else 0))  # copies
            write_raw_batch(tmp_path, session, onsets[session], sequence, stamps[session][rows],
                            ids[rows])  # fmt: skip

    write_session(1)
    compress_npy_logs(tmp_path, remove_sources=True)
    assert batch_files(tmp_path) == []
    write_session(2)
    write_raw_batch(tmp_path, 1, ONSET, 99, stamps[1][1:2], ids[1:2])  # already archived
    child = compress_in_child(tmp_path, compress=False, remove_sources=True)
    assert child["added"] == {"0": count}
    assert child["duplicates"] == 4 * 500
    assert child["extra_mb"] < 150, child  # held in memory it would take about 250 MB
    assert sorted(p.name for p in tmp_path.iterdir()) == [".compress.lock", "0_log.npz"]
    with np.load(tmp_path / "0_log.npz") as archive:
        stamps, keys, payload = archive["timestamps"], archive["entry_keys"], archive["payload"]
        offsets = archive["offsets"]
    assert len(stamps) == 2 * count
    order = np.lexsort((keys[:, 1], keys[:, 0], stamps))
    assert np.array_equal(order, np.arange(2 * count))
    assert len(np.unique(keys[:, 0] * np.uint64(2**32) + keys[:, 1])) == 2 * count
    assert np.array_equal(offsets, np.arange(2 * count + 1))
    assert np.array_equal(payload, (keys[:, 1] // 8 % 251).astype(np.uint8))


def write_raw_batch(
    directory: Path, session: int, onset: int, sequence: int, stamps: np.ndarray, ids: np.ndarray
) -> None:
    """A batch of one-byte entries of source 0 whose byte is ``entry_id / 8 % 251``."""
    index = np.zeros(len(stamps), dtype=INDEX_DTYPE)
    index["timestamp"], index["entry_id"], index["length"] = stamps, ids, 1
    payload = (ids // 8 % 251).astype(np.uint8)
    parts = batch_parts(onset, session, sequence, index, [payload])
    write_atomically(directory, batch_name(session, sequence), parts, durable=False)
