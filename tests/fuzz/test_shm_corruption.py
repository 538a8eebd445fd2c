"""Fuzz corrupted segments: garble a real segment's header, lock, control words and records,
then let a separate process (tests/support/segment_probe.py) attach and use it, with the
compiled accelerator and through ctypes. Every call must work or raise one of our typed errors;
a crash (the probe's death), a hang (its timeout) or any other exception fails the test.

Not garbled: the magic (a segment without it is waited for 2 s, by design: docs/shared-memory.md)
and the mutex's lock word beyond values that mark the holder dead. A lock word naming a thread
that is not there makes lockers wait, as for a live holder; see docs/shared-memory.md, "Who may
attach".
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import AtaraxisError
from ataraxis_like.shm import _posix
from ataraxis_like.shm._segment import (
    KIND_AREA_OFFSET,
    META_OFFSET,
    MUTEX_OFFSET,
    RECOVERIES_OFFSET,
    segment_path,
)
from ataraxis_like.shm.queue import ShmQueue

from ..support.segment_probe import ARRAY_OPS, QUEUE_OPS, Probe
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(300))

_PROBE_SECONDS = 30
_CAPACITY = 1024
_names = (f"fz_{os.getpid()}_corrupt_{n}" for n in itertools.count())

_u32 = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1]))
_u64 = st.one_of(
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, 16, _CAPACITY, _CAPACITY + 16, _CAPACITY - 16, 2**63, 2**64 - 1]),
    st.integers(0, 8 * _CAPACITY).map(lambda n: n * 16),
    st.integers(0, 8 * _CAPACITY),
)
# Header fields after the magic: (offset, struct format).
_HEADER_FIELDS = [(8, "<H"), (10, "<H"), (12, "<I"), (16, "<I"), (20, "<I"), (24, "<d"),
                  (32, "<Q"), (40, "<Q"), (48, "<I"), (52, "<I")]  # fmt: skip
_header = st.tuples(st.sampled_from(_HEADER_FIELDS), st.integers(0, 2**64 - 1)).map(
    lambda field: _pack_field(*field[0], field[1])
)
_mutex = st.one_of(
    st.tuples(st.sampled_from([4, 12, 16, 20, 24, 28, 32, 36]), _u32).map(
        lambda word: (MUTEX_OFFSET + word[0], struct.pack("<I", word[1]))
    ),
    st.integers(0, 2**30 - 1).map(  # the lock word: only "held by a dead thread"
        lambda tid: (MUTEX_OFFSET, struct.pack("<I", 0x4000_0000 | tid))
    ),
    st.sampled_from([0, 0x7FFF_FFFF, 0x7FFF_FFFE, 12345]).map(
        lambda owner: (MUTEX_OFFSET + 8, struct.pack("<I", owner))
    ),
)
_control = st.tuples(st.integers(0, 15), _u64).map(
    lambda word: (KIND_AREA_OFFSET + 8 * word[0], struct.pack("<Q", word[1]))
)
_futex_words = st.tuples(st.integers(0, 7), _u32).map(
    lambda word: (KIND_AREA_OFFSET + 128 + 4 * word[0], struct.pack("<I", word[1]))
)
_meta = st.tuples(st.integers(0, 40), st.binary(min_size=1, max_size=3)).map(
    lambda flip: (META_OFFSET + flip[0], flip[1])
)
_records = st.tuples(st.integers(0, _CAPACITY // 16 - 1), st.integers(0, 15), _u32).map(
    lambda field: (
        "ring",
        16 * field[0] + field[1],
        struct.pack("<I", field[2])[: 4 - field[1] % 4],
    )
)
_mutations = st.lists(
    st.one_of(_header, _mutex, _control, _futex_words, _meta, _records), min_size=1, max_size=4
)


def _pack_field(offset: int, fmt: str, value: int) -> tuple[int, bytes]:
    if fmt == "<d":
        return offset, struct.pack(fmt, float(value % 10**10))
    return offset, struct.pack(fmt, value % (1 << (8 * struct.calcsize(fmt))))


@pytest.fixture(scope="module")
def probes() -> Iterator[dict[str, Probe]]:
    made = {"ctypes": Probe(dict(os.environ, ATARAXIS_LIKE_NO_EXTENSION="1"))}
    if _posix.ACCELERATED:
        made["compiled"] = Probe(dict(os.environ))
    yield made
    for probe in made.values():
        probe.close()


def _filled_queue(name: str, gets: int) -> ShmQueue:
    """A queue that has wrapped around, with items waiting, one held as a view and one rescued."""
    queue = ShmQueue(name, capacity_bytes=_CAPACITY)
    for size in (100, 300, 50, 200):
        queue.put(b"p" * size)
    for _ in range(gets):
        queue.get(timeout=5)
    queue.put(np.arange(20, dtype=np.int16))
    queue.put({"an": "object"})
    return queue


def _garble(name: str, mutations: list[tuple[Any, ...]], ring_start: int) -> None:
    with open(segment_path(name), "r+b") as segment:
        for mutation in mutations:
            if mutation[0] == "ring":
                _tag, offset, data = mutation
                offset += ring_start
            else:
                offset, data = mutation
            os.pwrite(segment.fileno(), data, offset)


def _tally(kind: str, answer: list[list[str]] | str, request: dict[str, Any]) -> None:
    assert not isinstance(answer, str), f"the probe {answer} on {request}"
    for op, outcome, detail in answer:
        assert outcome != "untyped", f"{op} raised an error outside our hierarchy: {detail}"
        with attempt(f"corrupted {kind}: {op}"):
            if outcome == "typed":
                raise AtaraxisError(detail)


_FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_FUZZ
@given(
    mutations=_mutations,
    gets=st.integers(0, 4),
    ops=st.lists(st.sampled_from(QUEUE_OPS), min_size=1, max_size=6),
    mode=st.sampled_from(["compiled", "ctypes"]),
)
def test_corrupted_queues(
    probes: dict[str, Probe], mutations: list[Any], gets: int, ops: list[str], mode: str
) -> None:
    probe = probes.get(mode) or probes["ctypes"]
    name = next(_names)
    queue = _filled_queue(name, gets)
    ring = queue.ring()
    try:
        _garble(name, mutations, ring.segment.header.data_offset + 1024)
        request = {"name": name, "kind": "queue", "ops": ops}
        _tally("queue", probe.ask(request, _PROBE_SECONDS), request)
    finally:
        ring.segment.unlink()  # without taking the lock, which may be garbled
        ring.close()
        segment_path(name).unlink(missing_ok=True)  # its token may be garbled too


@_FUZZ
@given(
    mutations=st.lists(st.one_of(_header, _mutex, _meta), min_size=1, max_size=3),
    ops=st.lists(st.sampled_from(ARRAY_OPS), min_size=1, max_size=4),
    mode=st.sampled_from(["compiled", "ctypes"]),
)
@example(  # a dead holder's mutex beside a recovery count at its maximum (found on 3.13)
    mutations=[(MUTEX_OFFSET, b"\x00\x00\x00@"), (RECOVERIES_OFFSET, b"\xff" * 8)],
    ops=["read"],
    mode="compiled",
)
def test_corrupted_arrays(
    probes: dict[str, Probe], mutations: list[Any], ops: list[str], mode: str
) -> None:
    probe = probes.get(mode) or probes["ctypes"]
    name = next(_names)
    array = SharedMemoryArray.create_array(name, np.arange(12, dtype=np.float64).reshape(3, 4))
    try:
        _garble(name, mutations, 0)
        request = {"name": name, "kind": "array", "ops": ops}
        _tally("array", probe.ask(request, _PROBE_SECONDS), request)
    finally:
        segment = array._segment
        assert segment is not None
        segment.unlink()
        array.disconnect()
        segment_path(name).unlink(missing_ok=True)  # its token may be garbled too
