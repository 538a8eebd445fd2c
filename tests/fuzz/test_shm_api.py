"""Fuzz the shared-memory entry points with arbitrary input: every call either works (and then
does what it says: a queue gives back exactly what was put, in order) or raises one of our
typed errors. Anything else fails the test; see tests/fuzz/tally.py for what is counted."""

from __future__ import annotations

import collections
import math
import numbers
import os
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import (
    InvalidArgumentError,
    ItemTooLargeError,
    QueueEmptyError,
    QueueFullError,
    UnpicklableItemError,
)
from ataraxis_like.shm._segment import segment_path
from ataraxis_like.shm.queue import ShmQueue

from . import shm_inputs as inputs
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(120))

_FUZZ = settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_OWN = f"{inputs.FUZZ_PREFIX}{os.getpid()}_"


def _own_name(name: Any) -> Any:
    """Names that could be valid get this worker's prefix, so parallel workers never meet."""
    if isinstance(name, str) and name.startswith(inputs.FUZZ_PREFIX):
        return _OWN + name[len(inputs.FUZZ_PREFIX) :]
    return name


def _valid_timeout(timeout: Any) -> bool:
    """None or a real number >= 0 (True counts as 1 s, as for time.sleep: docs/queue.md)."""
    return timeout is None or (isinstance(timeout, numbers.Real) and timeout >= 0)


def _expected(item: Any) -> Any:
    """What a queue must give back for ``item``."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    return item


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, np.ndarray) and not expected.dtype.hasobject:
        return (
            isinstance(got, np.ndarray)
            and got.dtype == expected.dtype
            and got.shape == expected.shape
            and got.tobytes() == expected.tobytes()
        )
    return pickle.dumps(got) == pickle.dumps(expected)


def _remove(name: Any) -> None:
    if isinstance(name, str) and name.startswith(_OWN):
        segment_path(name).unlink(missing_ok=True)


@_FUZZ
@given(name=inputs.names, prototype=inputs.values, attach_name=inputs.names)
def test_shared_memory_array_create_and_attach(name: Any, prototype: Any, attach_name: Any) -> None:
    name, attach_name = _own_name(name), _own_name(attach_name)
    array: SharedMemoryArray | None = None
    try:
        with attempt("SharedMemoryArray.create_array"):
            array = SharedMemoryArray.create_array(name, prototype)
        with attempt("SharedMemoryArray.attach"):
            SharedMemoryArray.attach(attach_name).disconnect()
        if array is not None:
            with attempt("SharedMemoryArray.attach"):
                other = SharedMemoryArray.attach(name)
                assert other.shape == array.shape
                assert other.datatype == array.datatype
                other.disconnect()
    finally:
        if array is not None:
            array.destroy()
        _remove(name)


@_FUZZ
@given(
    prototype=inputs.arrays.filter(lambda array: array.ndim > 0),
    steps=st.lists(
        st.one_of(
            st.tuples(
                st.sampled_from(["read", "write", "rewrite", "item", "connect"]),
                inputs.indices,
                inputs.values,
                inputs.timeouts,
            ),
            st.tuples(
                st.sampled_from(["read", "write"]),
                st.integers(0, 2),
                st.integers(-5, 5) | st.floats(-5, 5),
                inputs.valid_timeouts,
            ),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_shared_memory_array_element_access(prototype: np.ndarray, steps: list[Any]) -> None:
    array = SharedMemoryArray.create_array(f"{_OWN}array", prototype)
    try:
        for operation, index, value, timeout in steps:
            if operation == "read":
                with attempt("SharedMemoryArray.read_data"):
                    array.read_data(index, convert_output=bool(len(steps) % 2), timeout=timeout)
            elif operation == "write":
                with attempt("SharedMemoryArray.write_data"):
                    array.write_data(index, value, timeout=timeout)
            elif operation == "rewrite":  # what was read must go back in, unchanged
                before = array.read_data((0, len(array)))
                with attempt("SharedMemoryArray.write_data (what was read)"):
                    array.write_data((0, len(array)), before)
                assert array.read_data((0, len(array))).tobytes() == before.tobytes()
            elif operation == "item":
                with attempt("SharedMemoryArray[index]"):
                    array[index] = array[index]
            else:
                clone = pickle.loads(pickle.dumps(array))
                with attempt("SharedMemoryArray.connect"):
                    clone.connect()
                    clone.disconnect()
    finally:
        array.destroy()


def _put(queue: ShmQueue, model: collections.deque[Any], item: Any, timeout: Any) -> None:
    with attempt("ShmQueue.put"):
        try:
            queue.put(item, timeout=timeout)
        except (QueueFullError, ItemTooLargeError, UnpicklableItemError):
            raise
        except InvalidArgumentError:
            assert not _valid_timeout(timeout) or (
                isinstance(timeout, float) and math.isnan(timeout)
            )
            raise
        model.append(_expected(item))


def _get(
    queue: ShmQueue, model: collections.deque[Any], how: str, count: Any, timeout: Any
) -> None:
    with attempt(f"ShmQueue.{how}"):
        try:
            if how == "get":
                got = [queue.get(timeout=timeout)]
            elif how == "get_many":
                got = queue.get_many(count, timeout=timeout)
            else:
                with queue.get_view(timeout=timeout) as value:
                    got = [value.copy() if isinstance(value, np.ndarray) else _expected(value)]
        except QueueEmptyError:
            assert not model, "an item waiting in the queue was not delivered"
            raise
        except InvalidArgumentError:
            assert not (_valid_timeout(timeout) and (how != "get_many" or _valid_count(count)))
            raise
        assert 1 <= len(got) <= len(model), "got more items than were put"
        for item in got:
            assert _same(item, model.popleft()), "an item came back changed or out of order"


def _valid_count(count: Any) -> bool:
    return isinstance(count, int) and not isinstance(count, bool) and count >= 1


_gets = st.sampled_from(["get", "get_many", "get_view"])
_steps = st.one_of(
    st.tuples(st.just("put"), inputs.small_items, inputs.valid_timeouts),
    st.tuples(st.just("put"), inputs.small_items, inputs.valid_timeouts),
    st.tuples(st.just("put"), inputs.queue_items, inputs.timeouts),
    st.tuples(_gets, st.integers(1, 6), inputs.valid_timeouts),
    st.tuples(_gets, st.one_of(st.integers(-2, 6), st.floats(), st.text(max_size=2)),
              inputs.timeouts),
    st.tuples(st.just("qsize"), st.none(), st.none()),
)  # fmt: skip
_trusts = st.one_of(
    st.just(()), st.integers(-1, 70000), st.text(max_size=6), st.lists(st.integers(0, 5)),
    st.sampled_from(["root", "nobody", None, 1.5]),
)  # fmt: skip


@_FUZZ
@given(name=inputs.names, capacity=inputs.capacities, attach_name=inputs.names, trust=_trusts)
def test_shm_queue_create_and_attach(
    name: Any, capacity: Any, attach_name: Any, trust: Any
) -> None:
    name = None if name is None else _own_name(name)
    queue: ShmQueue | None = None
    with attempt("ShmQueue()"):
        queue = ShmQueue(name, capacity_bytes=capacity)
    if queue is None and isinstance(name, str) and name.startswith(_OWN):
        assert not segment_path(name).exists(), "a failed create left its segment behind"
    try:
        with attempt("ShmQueue.attach"):
            ShmQueue.attach(_own_name(attach_name), trust=trust).close()
        if queue is not None:
            with attempt("ShmQueue.attach"):
                other = ShmQueue.attach(queue.name, trust=trust)
                assert other.capacity_bytes == queue.capacity_bytes
                other.close()
    finally:
        if queue is not None:
            queue.close()
        _remove(name)


@_FUZZ
@given(capacity=st.integers(64, 1 << 14), steps=st.lists(_steps, min_size=1, max_size=12))
def test_shm_queue_operations(capacity: int, steps: list[Any]) -> None:
    queue = ShmQueue(f"{_OWN}queue", capacity_bytes=capacity)
    model: collections.deque[Any] = collections.deque()
    try:
        for operation, argument, extra in steps:
            if operation == "put":
                _put(queue, model, argument, extra)
            elif operation == "qsize":
                assert queue.qsize() == len(model)
                assert queue.empty() == (not model)
            else:
                _get(queue, model, operation, argument, extra)
        while model:
            _get(queue, model, "get_many", len(model), None)
        assert queue.qsize() == 0
    finally:
        queue.close()
