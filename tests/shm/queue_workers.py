"""Child-process bodies for the queue tests (importable under spawn)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ataraxis_like import SharedMemoryArray
from ataraxis_like.shm.queue import ShmQueue

STOP = b"STOP"


def make_item(producer: int, sequence: int, size: int) -> np.ndarray:
    """A uint8 item whose first 8 bytes say who made it and whose body is checkable."""
    item = np.full(max(size, 8), (producer * 31 + sequence) % 251, dtype=np.uint8)
    item[:8] = np.array([producer, sequence], dtype=np.uint32).view(np.uint8)
    return item


def check_item(item: np.ndarray) -> tuple[int, int]:
    producer, sequence = (int(v) for v in item[:8].view(np.uint32))
    body = item[8:]
    assert body.size == 0 or bool(np.all(body == (producer * 31 + sequence) % 251)), "corrupt"
    return producer, sequence


def produce(queue: ShmQueue, producer: int, sizes: list[int], start: Any) -> None:
    start.wait()
    for sequence, size in enumerate(sizes):
        queue.put(make_item(producer, sequence, size))


def consume(queue: ShmQueue, results: Any, batch: int) -> None:
    received: list[tuple[int, int]] = []
    while True:
        items = queue.get_many(batch, timeout=60) if batch > 1 else [queue.get(timeout=60)]
        stops = [item for item in items if isinstance(item, bytes) and item == STOP]
        received.extend(check_item(item) for item in items if not isinstance(item, bytes))
        if stops:
            for extra in stops[1:]:
                queue.put(extra)  # one sentinel per consumer: give back what a batch swallowed
            results.put(received)
            return


def consume_and_record(queue: ShmQueue, seen_name: str, ready: Any) -> None:
    """Count each id received in a shared array, after get returns (the victim of kill tests)."""
    seen = SharedMemoryArray.attach(seen_name)
    ready.set()
    while True:
        item = queue.get(timeout=60)
        if isinstance(item, bytes):
            return
        identifier = int(item[:8].view(np.int64)[0])
        with seen.array() as counts:
            counts[identifier] += 1


def consume_many_and_record(queue: ShmQueue, seen_name: str, ready: Any) -> None:
    """Like consume_and_record, taking small items in batches (the span path)."""
    seen = SharedMemoryArray.attach(seen_name)
    ready.set()
    while True:
        items = queue.get_many(64, timeout=60)
        identifiers = [int.from_bytes(item[:8], "little") for item in items if item != b"done"]
        with seen.array() as counts:
            for identifier in identifiers:
                counts[identifier] += 1
        if len(identifiers) < len(items):
            return


def take_view_and_wait(queue: ShmQueue, holding: Any) -> None:
    view = queue.get_view(timeout=30)
    assert view.value is not None
    holding.set()
    import time

    while True:
        time.sleep(10)


def put_forever(queue: ShmQueue, size: int) -> None:
    sequence = 0
    while True:
        queue.put(make_item(7, sequence, size))
        sequence += 1
