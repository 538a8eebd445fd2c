"""Frames and commands between processes through a shared-memory queue.

Run: python examples/queue_example.py
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from ataraxis_like import ShmQueue


def camera(frames: ShmQueue, count: int) -> None:
    for index in range(count):
        frame = np.full((480, 640), index % 256, dtype=np.uint8)  # one copy in, no pickle
        frames.put(frame)
    frames.put({"command": "done", "frames": count})  # any picklable object works too


def main() -> None:
    with ShmQueue(capacity_bytes=16 * 1024 * 1024) as frames:
        producer = mp.get_context("spawn").Process(target=camera, args=(frames, 100))
        producer.start()
        checked = 0
        while True:
            item = frames.get(timeout=30)
            if isinstance(item, dict):
                break
            assert item.shape == (480, 640)
            assert item[0, 0] == checked % 256
            checked += 1
        producer.join()
        print(f"received {checked} frames of 480x640 uint8 in order, then {item}")

        frames.put(np.arange(1_000_000, dtype=np.float64))
        with frames.get_view(timeout=5) as view:  # zero-copy: valid until the block ends
            print(f"zero-copy view: {view.size} float64 values, sum {view.sum():.0f}")
        print(f"queue stats: {frames.stats()}")


if __name__ == "__main__":
    main()
