"""Corrupted segments: a typed error naming the segment and 'shm clean', never a crash or a hang.

Each case garbles a real segment, then a separate process (tests/support/segment_probe.py)
attaches and uses it, with the compiled accelerator and through ctypes, so a crash shows as the
probe's exit and a hang as its timeout instead of taking this test's process down.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numpy as np
import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.shm import _posix
from ataraxis_like.shm._ring_core import FREE, READ, TAIL
from ataraxis_like.shm._segment import KIND_AREA_OFFSET, META_OFFSET, MUTEX_OFFSET, segment_path
from ataraxis_like.shm.queue import ShmQueue

from ..support.segment_probe import Probe

pytestmark = pytest.mark.timeout(120)

_PROBE_SECONDS = 20
_KIND_WORD = MUTEX_OFFSET + 16
_PRIORITY_PROTECT_KIND = 64
"""A glibc mutex type that makes pthread_mutex_trylock abort the process on this machine."""


@pytest.fixture(params=["compiled", "ctypes"])
def probe(request: pytest.FixtureRequest) -> Iterator[Probe]:
    environment = dict(os.environ)
    if request.param == "compiled" and not _posix.ACCELERATED:
        pytest.skip("the accelerator was not built here")
    if request.param == "ctypes":
        environment["ATARAXIS_LIKE_NO_EXTENSION"] = "1"
    probe = Probe(environment)
    yield probe
    probe.close()


def _write(name: str, offset: int, data: bytes) -> None:
    with open(segment_path(name), "r+b") as segment:
        os.pwrite(segment.fileno(), data, offset)


def _control(name: str, word: int, value: int) -> None:
    _write(name, KIND_AREA_OFFSET + 8 * word, struct.pack("<Q", value))


def _ask(probe: Probe, name: str, ops: list[str], kind: str = "queue") -> list[list[str]]:
    answer = probe.ask({"name": name, "kind": kind, "ops": ops}, _PROBE_SECONDS)
    assert not isinstance(answer, str), f"the probe {answer} on {ops}"
    untyped = [result for result in answer if result[1] == "untyped"]
    assert not untyped, f"errors outside our hierarchy: {untyped}"
    return answer


def _assert_corrupt(result: list[str], name: str) -> None:
    _op, outcome, detail = result
    assert outcome == "typed", result
    assert detail.startswith("CorruptSegmentError"), result
    assert repr(name) in detail
    assert "ataraxis-like shm clean" in detail


def test_a_header_claiming_more_capacity_than_the_file_is_refused(
    shm_name: str, probe: Probe
) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096):
        meta = b"{'capacity': 4096}"
        with open(segment_path(shm_name), "rb") as segment:
            assert os.pread(segment.fileno(), len(meta), META_OFFSET) == meta
        _write(shm_name, META_OFFSET, b"{'capacity': 8192}")
        answer = _ask(probe, shm_name, ["put_large"] * 4 + ["get_many"])
    assert len(answer) == 1
    _assert_corrupt(answer[0], shm_name)


@pytest.mark.parametrize("tail", [48, 2**63, 33])
def test_a_corrupted_tail_is_reported_not_looped_on(shm_name: str, probe: Probe, tail: int) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        queue.put(b"x" * 10)
        assert queue.get(timeout=5) == b"x" * 10  # free = read = tail = 32
        _control(shm_name, TAIL, tail)
        answer = _ask(probe, shm_name, ["get", "get_many", "view", "put", "rescue", "qsize"])
    by_op = {op: (outcome, detail) for op, outcome, detail in answer}
    # 48 is a position an intact ring could hold: only reading the record there shows it is
    # not one. The others are positions no ring holds, refused by every call that uses them.
    refused = ["get", "get_many", "view"] + ([] if tail == 48 else ["put", "rescue"])
    for op in refused:
        _assert_corrupt([op, *by_op[op]], shm_name)


def test_positions_out_of_order_are_reported(shm_name: str, probe: Probe) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        queue.put(b"y" * 40)
        _control(shm_name, FREE, 4096 * 3)
        answer = _ask(probe, shm_name, ["put", "get", "get_many"])
        _control(shm_name, FREE, 0)
        assert queue.get(timeout=5) == b"y" * 40
    for result in answer[1:4]:
        _assert_corrupt(result, shm_name)


def test_a_record_whose_size_runs_past_the_ring_is_reported(shm_name: str, probe: Probe) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        queue.put(b"z" * 40)
        data_start = queue.ring().segment.header.data_offset + 1024
        _write(shm_name, data_start, struct.pack("<I", 1 << 20))
        answer = _ask(probe, shm_name, ["get", "get_many", "view", "rescue"])
        _assert_corrupt(answer[1], shm_name)
        _control(shm_name, READ, 0)


@pytest.mark.parametrize("kind", ["queue", "array"])
def test_a_corrupted_mutex_type_is_reported_before_glibc_sees_it(
    shm_name: str, probe: Probe, kind: str
) -> None:
    if _posix.MUTEX_KIND is None:
        pytest.skip("the mutex type word is checked only with glibc")
    made = (
        ShmQueue(shm_name, capacity_bytes=4096)
        if kind == "queue"
        else SharedMemoryArray.create_array(shm_name, np.zeros(4))
    )
    _write(shm_name, _KIND_WORD, struct.pack("<i", _PRIORITY_PROTECT_KIND))
    ops = ["put", "get"] if kind == "queue" else ["read", "write"]
    answer = _ask(probe, shm_name, ops, kind)
    _write(shm_name, _KIND_WORD, struct.pack("<i", _posix.MUTEX_KIND))
    made.close() if isinstance(made, ShmQueue) else made.destroy()
    assert len(answer) == 1
    _assert_corrupt(answer[0], shm_name)


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_a_mutex_corrupted_while_attached_is_reported_by_the_compiled_calls(
    shm_name: str,
) -> None:
    if _posix.MUTEX_KIND is None:
        pytest.skip("the mutex type word is checked only with glibc")
    probe = Probe()
    try:
        with ShmQueue(shm_name, capacity_bytes=4096):
            poke = f"poke {_KIND_WORD} {struct.pack('<i', _PRIORITY_PROTECT_KIND).hex()}"
            answer = _ask(probe, shm_name, ["put", poke, "put", "get"])
            _write(shm_name, _KIND_WORD, struct.pack("<i", _posix.MUTEX_KIND))
    finally:
        probe.close()
    assert answer[1][1] == "accepted"
    _assert_corrupt(answer[2], shm_name)
    _assert_corrupt(answer[3], shm_name)


def test_an_array_header_describing_more_than_the_file_is_refused(
    shm_name: str, probe: Probe
) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(4, dtype=np.int64)):
        meta = b"'shape': (4,)"
        with open(segment_path(shm_name), "rb") as segment:
            text = os.pread(segment.fileno(), 200, META_OFFSET)
        assert meta in text
        _write(shm_name, META_OFFSET + text.index(meta), b"'shape': (9,)")
        answer = _ask(probe, shm_name, ["read", "write"], "array")
    assert len(answer) == 1
    _assert_corrupt(answer[0], shm_name)


def test_an_array_header_claiming_python_objects_is_refused(shm_name: str, probe: Probe) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(4, dtype=np.int64)):
        with open(segment_path(shm_name), "rb") as segment:
            text = os.pread(segment.fileno(), 200, META_OFFSET)
        _write(shm_name, META_OFFSET + text.index(b"'<i8'"), b"'|O' ")
        answer = _ask(probe, shm_name, ["read"], "array")
    assert len(answer) == 1
    _assert_corrupt(answer[0], shm_name)
