"""A stored chunk's bytes with its filters undone: deflate (gzip), LZF and shuffle.

The heap check reads variable-length elements as stored, which for a compressed dataset means
compressed. These are the filters a variable-length dataset can carry: the sink's gzip and LZF,
and h5py's shuffle (accepted on such a dataset, but HDF5 skips it for every chunk, as the
chunk's filter mask records; fletcher32, szip, n-bit and scale-offset are refused for them).
Filters the chunk's mask marks as skipped are not undone, as HDF5 does not undo them.

Deflate is zlib's format. LZF has no Python decoder in h5py, so the chunk is handed to the LZF
filter h5py registers with HDF5: written as it is into a one-chunk dataset of an in-memory
scratch file and read back as opaque bytes (no type conversion, so no global heap is touched).
Any other filter gives None: the chunk cannot be checked here.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

DEFLATE, SHUFFLE, LZF = 1, 2, 32000
Filter = tuple[int, Sequence[int]]
"""A filter of a dataset's pipeline: its id and its parameters, as h5py's get_filter gives."""

_SCRATCH: dict[str, Any] = {"pid": -1, "file": None, "datasets": {}}
_MAX_DATASETS = 16


def pipeline(create: Any) -> list[Filter]:
    """The filters of a dataset creation property list, in the order they were applied."""
    found: list[Filter] = []
    for number in range(create.get_nfilters()):
        code, _flags, values, _name = create.get_filter(number)
        found.append((int(code), tuple(int(value) for value in values)))
    return found


def unfiltered_chunk(
    filters: list[Filter], filter_mask: int, stored: bytes, chunk_bytes: int
) -> bytes | None:
    """``stored`` with every filter not skipped by ``filter_mask`` undone, last applied first;
    None if one of them is not deflate, LZF or shuffle. A stream that does not decode raises
    ValueError or OSError (from HDF5's LZF filter)."""
    data = stored
    for number in reversed(range(len(filters))):
        if filter_mask & (1 << number):
            continue
        code, values = filters[number]
        if code == DEFLATE:
            try:
                # no more than a chunk: HDF5 reads no further, and a hostile stream could
                # inflate a thousandfold
                data = zlib.decompressobj().decompress(data, chunk_bytes)
            except zlib.error as error:  # not a ValueError
                raise ValueError(f"deflate: {error}") from None
        elif code == LZF:
            data = _lzf_decoded(data, chunk_bytes)
        elif code == SHUFFLE and values:
            data = _unshuffled(data, values[0])
        else:
            return None
    return data


def _unshuffled(data: bytes, item_bytes: int) -> bytes:
    """HDF5's shuffle undone: byte k of every item was stored together, in k order."""
    whole = len(data) // item_bytes * item_bytes
    if item_bytes <= 1 or not whole:
        return data
    planes = np.frombuffer(data, dtype=np.uint8, count=whole).reshape(item_bytes, -1)
    return planes.T.tobytes() + data[whole:]


def _lzf_decoded(data: bytes, chunk_bytes: int) -> bytes:
    """LZF-compressed ``data`` decoded by h5py's LZF filter through a scratch dataset."""
    dataset, kind = _scratch_dataset(chunk_bytes)
    dataset.write_direct_chunk((0,), data, 0)
    out = np.empty(chunk_bytes, dtype="V1")
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=kind)
    return out.tobytes()


def _scratch_dataset(chunk_bytes: int) -> tuple[Any, Any]:
    """A one-chunk dataset of ``chunk_bytes`` opaque bytes with the LZF filter."""
    if _SCRATCH["pid"] != os.getpid():  # a forked child makes its own
        handle = h5py.File(f"heap-check-scratch-{os.getpid()}", "w", driver="core",
                           backing_store=False)  # fmt: skip
        _SCRATCH.update(pid=os.getpid(), file=handle, datasets={})
    handle, datasets = _SCRATCH["file"], _SCRATCH["datasets"]
    found = datasets.get(chunk_bytes)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if len(datasets) >= _MAX_DATASETS:
        for name in list(handle):
            del handle[name]
        datasets.clear()
    create = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    create.set_chunk((chunk_bytes,))
    create.set_filter(LZF, h5py.h5z.FLAG_OPTIONAL, ())
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(1, 0, 1.0)  # no chunk cache: each read decodes the chunk just written
    kind = h5py.h5t.create(h5py.h5t.OPAQUE, 1)
    kind.set_tag(b"heap check")
    space = h5py.h5s.create_simple((chunk_bytes,))
    name = f"lzf{chunk_bytes}".encode()
    dataset = h5py.h5d.create(handle.id, name, kind, space, dcpl=create, dapl=access)
    datasets[chunk_bytes] = found = (dataset, kind)
    return found
