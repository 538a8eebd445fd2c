"""LogArchiveReader over damaged archives (stored and deflated, byte flips, truncation, garbage,
a file cut while a reader has it open) and compress_npy_logs over damaged batch files.

A reader either returns exactly what the archive held or raises ArchiveFormatError; compression
either reports the damaged files as problems or raises one of our errors, and every archive it
writes reads back.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ataraxis_like.logs import LogArchiveReader, compress_npy_logs

from ..logs import Entry, write_batch
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(180))
ONSET = 1_700_000_000_000_000


def _entries(count: int, source: int, seed: int) -> list[Entry]:
    rng = np.random.default_rng(seed)
    return [
        Entry(source, index * 7, rng.integers(0, 3, int(rng.choice([0, 5, 40, 300])),
                                              dtype=np.uint8).tobytes(), 1, index * 2 + source)
        for index in range(count)
    ]  # fmt: skip


def _facts(path: Path, reader: LogArchiveReader | None = None) -> tuple[Any, ...]:
    reader = reader or LogArchiveReader(path)
    indexed = [(stamp, bytes(payload)) for stamp, payload in map(reader.__getitem__,
                                                                 range(len(reader)))]  # fmt: skip
    iterated = [(stamp, bytes(payload)) for stamp, payload in reader.iter_messages()]
    return (reader.source_id, reader.onset_us, reader.timestamps.tolist(), indexed, iterated)


@functools.cache
def _pristine(kind: str) -> tuple[bytes, tuple[Any, ...]]:
    """A pristine archive (bytes and contents): stored, or deflated with a deflated payload."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_batch(directory, _entries(120, 0, seed=3), ONSET, 0)
        path = compress_npy_logs(directory, compress=kind == "deflated")[0]
        return path.read_bytes(), _facts(path)


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


damage = st.fixed_dictionaries({
    "kind": st.sampled_from(["stored", "deflated"]),
    "flips": st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                      max_size=4),
    "cut": st.none() | st.floats(0, 1),
    "garbage": st.none() | st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=64)),
})  # fmt: skip


def _damaged(pristine: bytes, spec: dict[str, Any]) -> bytearray:
    data = bytearray(pristine)
    for where, mask in spec["flips"]:
        data[int(where * len(data))] ^= mask
    if spec["garbage"] is not None:
        where, junk = spec["garbage"]
        at = int(where * len(data))
        data[at : at + len(junk)] = junk
    if spec["cut"] is not None:
        del data[int(spec["cut"] * len(data)) :]
    return data


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=damage)
# Found by this fuzz (numpy 1.26): two bytes that set a member's "encrypted" flag made zipfile
# raise RuntimeError asking for a password.
@example(
    spec={
        "kind": "deflated",
        "flips": [],
        "cut": None,
        "garbage": (0.9776917087000396, b"\x00\x01"),
    }
)
def test_reader_over_damaged_archives(work: Path, spec: dict[str, Any]) -> None:
    pristine, expected = _pristine(spec["kind"])
    path = work / "0_log.npz"
    path.write_bytes(_damaged(pristine, spec))
    found = None
    with attempt("LogArchiveReader"):
        found = _facts(path)
    if found is not None:
        assert found == expected, "a damaged archive read back different data without an error"


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["stored", "deflated"]), cut=st.floats(0, 1), touched=st.booleans())
def test_reader_over_an_archive_cut_while_open(
    work: Path, kind: str, cut: float, touched: bool
) -> None:
    pristine, expected = _pristine(kind)
    path = work / "cut_log.npz"
    path.write_bytes(pristine)
    reader = LogArchiveReader(path)
    picked = range(0, len(reader), 7) if touched else range(0)
    views = [reader[index][1] for index in picked]
    os.truncate(path, int(cut * len(pristine)))
    found = None
    with attempt("LogArchiveReader (cut while open)"):
        found = _facts(path, reader)
    if found is not None:
        assert found == expected
    assert [bytes(view) for view in views] == [expected[3][index][1] for index in picked]


batch_damage = st.lists(
    st.tuples(
        st.integers(0, 2),  # which batch file
        st.sampled_from(["flip", "cut", "garbage", "empty", "extra"]),
        st.floats(0, 1, exclude_max=True),
        st.integers(1, 255),
    ),
    max_size=3,
)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damages=batch_damage, compress=st.booleans())
def test_compress_over_damaged_batch_files(
    work: Path, damages: list[tuple[int, str, float, int]], compress: bool
) -> None:
    directory = work / "logs"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    batches = [write_batch(directory, _entries(30, number % 2, seed=number), ONSET, number)
               for number in range(3)]  # fmt: skip
    for number, how, where, mask in damages:
        path = batches[number]
        data = bytearray(path.read_bytes())
        if how == "flip" and data:
            data[int(where * len(data))] ^= mask
        elif how == "cut":
            del data[int(where * len(data)) :]
        elif how == "garbage":
            data = bytearray(os.urandom(int(where * 500)))
        elif how == "empty":
            data = bytearray()
        else:
            (directory / f"batch_{mask:016x}_0000000000.npy").write_bytes(data[: mask * 7])
        path.write_bytes(data)
    result = None
    with attempt("compress_npy_logs"):
        result = compress_npy_logs(directory, compress=compress)
    if result is not None:
        broken = {batches[number].name for number, how, _where, _mask in damages
                  if how in ("cut", "garbage", "empty")}  # fmt: skip
        assert broken <= set(result.problems), (broken, result.problems)
        for path in result.values():
            with attempt("LogArchiveReader (fresh archive)"):
                _facts(path)
            assert LogArchiveReader(path).message_count <= 60
