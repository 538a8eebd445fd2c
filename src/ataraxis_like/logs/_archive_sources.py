"""The payload bytes of an archive being built, in archive order, read from their sources.

Entries come from batch files (read with ``pread`` through a few cached windows, so small
entries next to each other cost one read) and from the previous archive's payload (read front to
back as a stream). Adjacent entries of one source are copied as one run; runs of at least
``LARGE`` bytes are streamed in ``WINDOW`` pieces instead of being buffered.
"""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive_layout import ArchiveFormatError, open_payload_stream
from ._archive_merge import OLD
from .format import BatchFormatError

WINDOW = 4 << 20  # bytes read at once from a batch file for small entries
LARGE = 1 << 20  # entries (runs) at least this long are streamed, not buffered
_OPEN_FILES = 64
_WINDOWS = 8


class PayloadSources:
    """Serves payload bytes from batch files (pread through a few cached windows) and from the
    previous archive's payload, which is only ever read front to back."""

    def __init__(self, paths: list[Path], old_archive: Path | None) -> None:
        self._paths = paths
        self._files: OrderedDict[int, int] = OrderedDict()
        self._windows: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._old_zip = zipfile.ZipFile(old_archive) if old_archive is not None else None
        self._old: IO[bytes] | None = None
        self._old_position = 0
        if self._old_zip is not None:
            self._old = open_payload_stream(self._old_zip)

    def _descriptor(self, origin: int) -> int:
        descriptor = self._files.get(origin)
        if descriptor is None:
            descriptor = os.open(self._paths[origin], os.O_RDONLY)
            self._files[origin] = descriptor
            if len(self._files) > _OPEN_FILES:
                os.close(self._files.popitem(last=False)[1])
        else:
            self._files.move_to_end(origin)
        return descriptor

    def _pread(self, origin: int, size: int, start: int, needed: int) -> bytes:
        data = os.pread(self._descriptor(origin), size, start)
        if len(data) < needed:
            raise BatchFormatError(f"{self._paths[origin].name}: shrank during compression")
        return data

    def _old_read(self, start: int, length: int) -> bytes:
        assert self._old is not None, "no previous archive to read from"
        assert start == self._old_position, "previous archive read out of order"
        data = self._old.read(length)
        if len(data) != length:
            raise ArchiveFormatError("the previous archive's payload ends early")
        self._old_position += length
        return data

    def small(self, origin: int, start: int, length: int) -> memoryview | bytes:
        if origin == OLD:
            return self._old_read(start, length)
        window = self._windows.get(origin)
        if window is None or start < window[0] or start + length > window[0] + len(window[1]):
            window = (start, self._pread(origin, max(WINDOW, length), start, length))
            self._windows[origin] = window
            if len(self._windows) > _WINDOWS:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(origin)
        at = start - window[0]
        return memoryview(window[1])[at : at + length]

    def large(self, origin: int, start: int, length: int) -> Iterator[bytes]:
        while length > 0:
            size = min(length, WINDOW)
            if origin == OLD:
                yield self._old_read(start, size)
            else:
                yield self._pread(origin, size, start, size)
            start += size
            length -= size

    def close(self) -> None:
        for descriptor in self._files.values():
            os.close(descriptor)
        self._files.clear()
        if self._old is not None:
            self._old.close()
        if self._old_zip is not None:
            self._old_zip.close()


def payload_chunks(blocks: Iterator[np.ndarray], sources: PayloadSources) -> Iterator[Any]:
    """The payload bytes in archive order, as chunks; adjacent entries are copied as one run."""
    pending = bytearray()
    for block in blocks:
        origins, starts, lengths = block["origin"], block["start"], block["length"]
        starts_run = np.ones(len(block), dtype=bool)
        starts_run[1:] = (origins[1:] != origins[:-1]) | (starts[1:] != starts[:-1] + lengths[:-1])
        firsts = np.flatnonzero(starts_run)
        run_lengths = np.add.reduceat(lengths.astype(np.uint64), firsts)
        for origin, start, length in zip(
            origins[firsts].tolist(), starts[firsts].tolist(), run_lengths.tolist(), strict=True
        ):
            if length >= LARGE:
                if pending:
                    yield pending
                    pending = bytearray()
                yield from sources.large(origin, start, length)
            else:
                pending += sources.small(origin, start, length)
                if len(pending) >= WINDOW:
                    yield pending
                    pending = bytearray()
    if pending:
        yield pending
