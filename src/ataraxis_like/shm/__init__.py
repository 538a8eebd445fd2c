"""Shared memory: named arrays and queues in crash-proof segments (Linux)."""

from ._census import SegmentInfo, cleanup_stale, list_segments
from .array import SharedMemoryArray

list_arrays = list_segments
"""Alias kept for the wording of the docs: lists arrays and queues alike."""

__all__ = ["SegmentInfo", "SharedMemoryArray", "cleanup_stale", "list_arrays", "list_segments"]
