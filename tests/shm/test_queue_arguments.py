"""Bad arguments to ShmQueue: a typed error with the allowed range, and nothing left behind."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ataraxis_like.errors import (
    InvalidArgumentError,
    InvalidCapacityError,
    ItemDecodeError,
    UnpicklableItemError,
)
from ataraxis_like.shm._items import KIND_ARRAY
from ataraxis_like.shm._segment import segment_path
from ataraxis_like.shm.queue import ShmQueue

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "capacity", [0, -1, 1.5, "1024", 10**30, True, None, 63, float("nan"), b"\x10\x00"]
)
def test_capacities_outside_the_range_are_refused_and_leave_nothing(
    shm_name: str, capacity: Any
) -> None:
    with pytest.raises(InvalidCapacityError, match=r"capacity_bytes must be an int from 64 to \d+"):
        ShmQueue(shm_name, capacity_bytes=capacity)
    assert not segment_path(shm_name).exists()
    with ShmQueue(shm_name, capacity_bytes=64) as queue:  # the name is still free
        assert queue.capacity_bytes == 64


def test_capacities_round_up_to_a_multiple_of_16(shm_name: str) -> None:
    with ShmQueue(shm_name, capacity_bytes=100) as queue:
        assert queue.capacity_bytes == 112


@pytest.mark.parametrize("timeout", [-1, -0.5, float("nan"), "1", [1], b"1", 1j])
def test_timeouts_must_be_seconds(shm_name: str, timeout: Any) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        calls = [
            lambda: queue.put(b"x", timeout=timeout),
            lambda: queue.get(timeout=timeout),
            lambda: queue.get_many(2, timeout=timeout),
            lambda: queue.get_view(timeout=timeout),
        ]
        for call in calls:
            with pytest.raises(InvalidArgumentError, match="number of seconds >= 0"):
                call()
        assert queue.qsize() == 0


@pytest.mark.parametrize("count", [0, -1, 1.5, "3", None, False])
def test_get_many_needs_a_positive_count(shm_name: str, count: Any) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        queue.put(b"x")
        with pytest.raises(InvalidArgumentError, match=r"max_items .* must be an int >= 1"):
            queue.get_many(count, timeout=0)
        assert queue.get_many(5, timeout=0) == [b"x"]


@pytest.mark.parametrize("item", [lambda: 1, threading.Lock(), (i for i in range(3))])
def test_an_item_pickle_refuses_is_a_typed_error(shm_name: str, item: Any) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        with pytest.raises(UnpicklableItemError) as refused:
            queue.put(item)
        assert isinstance(refused.value, TypeError)
        assert queue.qsize() == 0


def test_an_undecodable_item_keeps_the_rest_of_its_batch(shm_name: str) -> None:
    with ShmQueue(shm_name, capacity_bytes=4096) as queue:
        queue.put(b"before")
        queue.ring().put(KIND_ARRAY, b"('<f8', (1000,))", b"12345678", 8, None)
        queue.ring().put(77, b"", b"unknown kind", 12, None)
        queue.put(b"after")
        with pytest.raises(ItemDecodeError, match="needs 8000 bytes, it holds 8") as failed:
            queue.get_many(10, timeout=5)
        assert failed.value.items == [b"before", b"after"]
        assert failed.value.raw == [b"12345678", b"unknown kind"]
        assert queue.empty()
