"""Opening a file for SWMR reading with a bounded wait on damaged metadata.

A SWMR reader reads metadata again when its checksum fails, because a writer may be rewriting
it; HDF5 waits twice as long before each new attempt and, by default, makes 100 attempts. On a
file whose metadata is really damaged that is hours: the reader hangs. The wait before attempt
k is about 2**(k - 10) microseconds in total, so 31 attempts bound it near 2 s, which still
outlasts any metadata write of a live writer. h5py does not expose the setting
(``H5Pset_metadata_read_attempts``), so it is called through ctypes on the HDF5 library h5py
loaded; where that library cannot be found, HDF5's default stays.
"""

from __future__ import annotations

import ctypes
import math
import os
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]

_FEWEST, _MOST = 12, 31


def _library_function() -> Any:
    """``H5Pset_metadata_read_attempts`` of the libhdf5 mapped into this process, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libhdf5" in line and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        if "libhdf5_hl" in os.path.basename(path):
            continue
        try:
            function = ctypes.CDLL(path).H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
        return function
    return None


_SET_ATTEMPTS = _library_function()


def read_attempts(wait_seconds: float) -> int:
    """Metadata read attempts whose waits add up to about ``wait_seconds`` (12 to 31)."""
    wanted = 10 + math.log2(max(wait_seconds, 1e-6) * 1e6)
    return int(min(_MOST, max(_FEWEST, math.floor(wanted))))


def open_swmr_reader(path: Path, wait_seconds: float) -> h5py.File:
    """``h5py.File(path, "r", swmr=True, locking=False)``, waiting at most about
    ``wait_seconds`` (at least a few milliseconds) for metadata whose checksum fails."""
    if _SET_ATTEMPTS is None:
        return h5py.File(path, "r", swmr=True, locking=False)
    access = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    try:
        access.set_file_locking(False, False)
    except AttributeError:  # HDF5 before 1.12.1: h5py's locking=False is not possible either
        pass
    if _SET_ATTEMPTS(access.id, read_attempts(wait_seconds)) < 0:
        return h5py.File(path, "r", swmr=True, locking=False)
    flags = h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ
    handle = h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=access))
    handle._swmr_mode = True  # what h5py.File(..., swmr=True) records; swmr_mode reads it
    return handle
