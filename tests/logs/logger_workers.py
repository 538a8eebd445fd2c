"""Producer bodies for the logger tests (importable under spawn)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ataraxis_like.logs import LogPackage


def payload_for(source: int, index: int) -> np.ndarray:
    """Deterministic payload of a log-uniform size between 0 B and 64 KiB."""
    rng = np.random.default_rng(source * 1_000_003 + index)
    size = 0 if index % 97 == 0 else int(2 ** rng.uniform(0, 16))
    return rng.integers(0, 256, size, dtype=np.uint8)


def produce(logger_or_queue: Any, source: int, count: int, start: Any) -> None:
    queue = getattr(logger_or_queue, "input_queue", logger_or_queue)
    start.wait()
    for index in range(count):
        queue.put(LogPackage(source, index * 10, payload_for(source, index)))


def produce_forever(queue: Any, source: int, started: Any) -> None:
    index = 0
    payload = np.zeros(200_000, dtype=np.uint8)
    while True:
        payload[:8] = np.array([index], dtype=np.int64).view(np.uint8)
        queue.put(LogPackage(source, index, payload))
        index += 1
        if index == 5:
            started.set()
