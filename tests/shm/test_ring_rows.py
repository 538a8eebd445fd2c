"""Takes in rows (the logger's path): the compiled walk and the Python take agree byte for byte,
records held by a killed taker come back, and records the walk leaves alone are still taken."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from ataraxis_like.errors import QueueEmptyError, QueueFullError
from ataraxis_like.shm import _posix, _ring_core, _ring_rows
from ataraxis_like.shm._ring import Ring
from ataraxis_like.shm._ring_core import STATE_RELEASED, STATE_TAKEN, unpack_size_kind_state
from ataraxis_like.shm.queue import ShmQueue, encode

pytestmark = pytest.mark.timeout(120)

compiled_only = pytest.mark.skipif(not _posix.ACCELERATED, reason="accelerator not built here")


@contextmanager
def python_takes() -> Iterator[None]:
    """Run the rows API on its Python path (as without the accelerator) inside the block."""
    saved = (_ring_rows._take_rows, _ring_rows._release_rows, _ring_rows._gather_rows,
             _ring_core._sweep_released)  # fmt: skip
    _ring_rows._take_rows = _ring_rows._release_rows = _ring_rows._gather_rows = None
    _ring_core._sweep_released = None
    try:
        yield
    finally:
        (_ring_rows._take_rows, _ring_rows._release_rows, _ring_rows._gather_rows,
         _ring_core._sweep_released) = saved  # fmt: skip


def _state(ring: Ring) -> tuple[bytes, list[int]]:
    return bytes(ring._buffer), list(ring._control)


def _items(rng: np.random.Generator) -> list[tuple[int, bytes, bytes]]:
    """(kind, meta, payload) records: log packages of many sizes, bytes, arrays (long meta)."""
    records: list[tuple[int, bytes, bytes]] = []
    for index in range(120):
        size = int(rng.integers(0, 300))
        if index % 17 == 5:
            kind, meta, payload, _length = encode(np.arange(size % 9, dtype=np.int16))
            records.append((kind, meta, bytes(payload)))
        elif index % 11 == 3:
            records.append((1, b"", rng.bytes(size)))
        else:
            meta = bytes([index % 256]) + int(index * 1000).to_bytes(8, "little")
            records.append((16, meta, rng.bytes(size)))
    return records


def _put(ring: Ring, kind: int, meta: bytes, payload: bytes) -> bool:
    try:
        ring.put(kind, meta, payload, len(payload), 0)
    except QueueFullError:
        return False
    return True


@compiled_only
def test_compiled_and_python_rows_take_release_and_gather_alike(shm_name: str) -> None:
    """Many laps of a small ring, in uneven takes: identical rows, payloads and ring bytes."""
    rng = np.random.default_rng(3)
    compiled = Ring.create(shm_name + "c", 4096)
    python = Ring.create(shm_name + "p", 4096)
    try:
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        laps = 0
        for index, (kind, meta, payload) in enumerate(_items(rng) * 3):
            outcomes = [_put(ring, kind, meta, payload) for ring in (compiled, python)]
            assert outcomes[0] == outcomes[1], index
            if not outcomes[0]:  # full: give everything back, then put again
                laps += 1
                for taken_compiled, taken_python in pending:
                    compiled.release_rows(taken_compiled)
                    with python_takes():
                        python.release_rows(taken_python)
                pending.clear()
                compiled.release_rows(compiled.take_rows(1000, 0))
                with python_takes():
                    python.release_rows(python.take_rows(1000, 0))
                assert _state(compiled) == _state(python), index
                assert all(_put(ring, kind, meta, payload) for ring in (compiled, python))
            if index % 4 != 3:
                continue
            limit = int(rng.integers(1, 6))
            budget = int(rng.integers(1, 900))
            taken_compiled = compiled.take_rows(limit, 0, budget)
            with python_takes():
                taken_python = python.take_rows(limit, 0, budget)
            assert taken_compiled.tobytes() == taken_python.tobytes(), index
            assert _state(compiled) == _state(python), index
            assert (taken_compiled["state"] == STATE_TAKEN).all()
            gathered = compiled.gather(taken_compiled)
            with python_takes():
                assert python.gather(taken_python).tobytes() == gathered.tobytes()
            expected = b"".join(bytes(view) for view in compiled.payload_views(taken_compiled))
            assert gathered.tobytes() == expected
            pending.append((taken_compiled, taken_python))
            if len(pending) > 2 or index % 8 == 7:  # release out of order now and then
                first_compiled, first_python = pending.pop(len(pending) // 2)
                compiled.release_rows(first_compiled)
                with python_takes():
                    python.release_rows(first_python)
                assert _state(compiled) == _state(python), index
        for taken_compiled, taken_python in pending:
            compiled.release_rows(taken_compiled)
            with python_takes():
                python.release_rows(taken_python)
        assert _state(compiled) == _state(python)
        assert compiled.stats() == python.stats()
        assert laps >= 3
        assert compiled._control[_ring_core.TAIL] > 3 * compiled.capacity
    finally:
        for ring in (compiled, python):
            ring.segment.unlink()
            ring.close()


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_rows_describe_what_was_put(shm_name: str, path: str) -> None:
    if path == "compiled" and not _posix.ACCELERATED:
        pytest.skip("accelerator not built here")
    rng = np.random.default_rng(5)
    ring = Ring.create(shm_name, 1 << 16)
    records = _items(rng)[:40]
    try:
        for kind, meta, payload in records:
            ring.put(kind, meta, payload, len(payload), None)
        with python_takes() if path == "python" else _nothing():
            rows = ring.take_rows(1000, 0)
            assert len(rows) == len(records)
            assert rows["kind"].tolist() == [kind for kind, _m, _p in records]
            assert rows["meta_length"].tolist() == [len(meta) for _k, meta, _p in records]
            for row, (_kind, meta, _payload) in zip(rows, records, strict=True):
                assert bytes(row["meta"][: min(len(meta), 16)]) == meta[:16]
            payloads = [payload for _k, _m, payload in records]
            assert ring.gather(rows).tobytes() == b"".join(payloads)
            assert ring.stats()["items"] == 0
            assert ring.unreleased() == len(records)
            with pytest.raises(QueueEmptyError):
                ring.take_rows(10, 0)
            ring.release_rows(rows)
            assert ring.unreleased() == 0
            assert ring.stats()["bytes_used"] == 0
            states = [
                unpack_size_kind_state(ring._buffer, int(p) % ring.capacity)[2]
                for p in rows["position"]
            ]
            assert set(states) == {STATE_RELEASED}
    finally:
        ring.segment.unlink()
        ring.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _take_and_die(name: str, token: int, taken: Any) -> None:
    ring = Ring.attach(name, token)
    rows = ring.take_rows(1000, 5)
    taken.send(rows["position"].tolist())  # a pipe: sent before the kill, unlike a Queue's put
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_rows_held_by_a_killed_taker_are_taken_again(shm_name: str, path: str) -> None:
    """Like the logger killed before its batch file: every record comes back, once."""
    if path == "compiled" and not _posix.ACCELERATED:
        pytest.skip("accelerator not built here")
    ring = Ring.create(shm_name, 1 << 16)
    try:
        payloads = [bytes([n]) * n for n in range(1, 30)]
        for number, payload in enumerate(payloads):
            ring.put(16, bytes([1]) + number.to_bytes(8, "little"), payload, len(payload), None)
        context = mp.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_take_and_die, args=(ring.name, ring.segment.header.token,
                                                            sender))  # fmt: skip
        child.start()
        assert receiver.poll(30)
        positions = receiver.recv()
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
        assert len(positions) == len(payloads)
        with pytest.raises(QueueEmptyError):
            ring.take_rows(100, 0)
        assert ring.rescue_abandoned() == len(payloads)
        with python_takes() if path == "python" else _nothing():
            again = ring.take_rows(100, 0)
            assert again["position"].tolist() == positions
            assert ring.gather(again).tobytes() == b"".join(payloads)
            ring.release_rows(again)
        assert ring.unreleased() == 0
        assert ring.stats()["redelivered"] == len(payloads)
    finally:
        ring.segment.unlink()
        ring.close()


def test_queue_items_round_trip_after_row_takes(shm_name: str) -> None:
    """Copying gets and row takes share one ring: each record goes to exactly one of them."""
    with ShmQueue(shm_name, capacity_bytes=1 << 14) as queue:
        ring = queue.ring()
        got: list[bytes] = []
        for number in range(300):
            queue.put(number.to_bytes(4, "little") * (number % 7))
            if number % 5 == 4:
                rows = ring.take_rows(2, 0)
                got.extend(bytes(view) for view in ring.payload_views(rows))
                ring.release_rows(rows)
                got.extend(queue.get_many(2, timeout=0))
        got.extend(queue.get_many(1000, timeout=0))
        assert sorted(got) == sorted(n.to_bytes(4, "little") * (n % 7) for n in range(300))
