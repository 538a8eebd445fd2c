"""HDF5 writes below h5py's slicing, for the store's hot and exact paths.

Attributes made through HDF5's own calls (half of h5py's time), variable-length objects written
by hyperslab (h5py's slicing would reshape equal-length sequences), and whole chunks of plain
numbers written straight to the file (``write_direct_chunk``: no chunk cache, no copy).
"""

from __future__ import annotations

from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

_TEXT = h5py.string_dtype()
_TEXT_TYPE = h5py.h5t.py_create(_TEXT, logical=True)
_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)


def set_attribute(target: Any, name: str, value: Any) -> None:
    """``target.attrs[name] = value``, through HDF5's own calls for a new text or number
    attribute: the same attribute h5py makes (variable-length UTF-8 text, or the number's numpy
    type), in half the time, which counts for a run's six attributes."""
    if isinstance(value, str):
        data, kind = np.array(value, dtype=_TEXT), _TEXT_TYPE
    elif isinstance(value, float | int | np.floating | np.integer) and not isinstance(value, bool):
        data = np.asarray(value)
        if data.dtype.kind not in "iuf":  # an int too large for int64
            target.attrs[name] = value
            return
        kind = h5py.h5t.py_create(data.dtype)
    else:
        target.attrs[name] = value
        return
    encoded = name.encode("utf-8")
    if not name.isascii() or h5py.h5a.exists(target.id, encoded):
        target.attrs[name] = value  # h5py replaces an attribute in place, and encodes names
        return
    h5py.h5a.create(target.id, encoded, kind, _SCALAR_SPACE).write(data)


def write_objects(dataset: h5py.Dataset, start: tuple[int, ...], data: np.ndarray) -> None:
    """Write variable-length sequences (h5py's slicing would reshape equal-length ones)."""
    if not data.size:
        return
    if not data.shape:  # one value: HDF5 selects a scalar dataspace whole, not by hyperslab
        dataset.id.write(h5py.h5s.create(h5py.h5s.SCALAR), dataset.id.get_space(), data)
        return
    selection = dataset.id.get_space()
    selection.select_hyperslab(start, data.shape)
    dataset.id.write(h5py.h5s.create_simple(data.shape), selection, data)


def direct_chunk_rows(dataset: h5py.Dataset) -> int:
    """Rows per chunk when whole chunks of ``dataset`` may be written as raw bytes, else 0.

    That needs chunks spanning whole rows, no filters (compression, shuffle, checksums) and
    numbers, whose file layout is numpy's (h5py makes booleans one-byte enums and complex
    numbers pairs of floats, both laid out as numpy lays them out)."""
    chunks = dataset.chunks
    if chunks is None or tuple(chunks[1:]) != tuple(dataset.shape[1:]):
        return 0
    if dataset.dtype.kind not in "biufc" or dataset.id.get_create_plist().get_nfilters():
        return 0
    return int(chunks[0])


def write_in_chunks(dataset: h5py.Dataset, start: int, rows: np.ndarray, chunk_rows: int) -> None:
    """Write ``rows`` at row ``start``: the chunks they fill whole straight to the file, without
    HDF5's chunk cache and copy; a partly filled chunk at either end the usual way."""
    count = len(rows)
    head = min(count, -start % chunk_rows)
    end = head + (count - head) // chunk_rows * chunk_rows
    if head:
        dataset[start : start + head] = rows[:head]
    write_chunk, rest = dataset.id.write_direct_chunk, (0,) * (rows.ndim - 1)
    for first in range(head, end, chunk_rows):
        write_chunk((start + first, *rest), rows[first : first + chunk_rows])
    if end < count:
        dataset[start + end : start + count] = rows[end:]
