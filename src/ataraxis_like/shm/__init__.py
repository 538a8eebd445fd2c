"""Shared memory: named arrays and queues in crash-proof segments (Linux).

``SharedMemoryArray`` loads on first use, so listing or cleaning segments (``ataraxis-like shm
ls``) does not import numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._census import SegmentInfo, cleanup_stale, list_segments

if TYPE_CHECKING:
    from .array import SharedMemoryArray

list_arrays = list_segments
"""Alias kept for the wording of the docs: lists arrays and queues alike."""


def __getattr__(name: str) -> object:
    if name == "SharedMemoryArray":
        from .array import SharedMemoryArray

        globals()[name] = SharedMemoryArray
        return SharedMemoryArray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SegmentInfo", "SharedMemoryArray", "cleanup_stale", "list_arrays", "list_segments"]
