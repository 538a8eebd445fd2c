"""Checks that a segment's header describes the file it is in, made once when it is attached.

A header is data any process with write access could have garbled. Every size and offset in it
is checked against the file's real size before the mapping is used, so that the per-operation
paths (the ring's put and get, array element access) may index the mapping with the values
kept at attach without looking again. Control words that change while a segment is used (the
ring's positions) are checked where they are read, in the ring.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import CorruptSegmentError

if TYPE_CHECKING:
    import numpy as np

MAX_DIMENSIONS = 32


def corrupt(name: str, what: str) -> CorruptSegmentError:
    """The error for segment ``name`` holding ``what``, with the way out."""
    return CorruptSegmentError(
        f"shared memory {name!r} is corrupt: {what}; stop the processes using it and remove it "
        f"with 'ataraxis-like shm clean {name}' once its creator has ended",
        name=name,
    )


def check_header(
    name: str, data_offset: int, meta: object, file_size: int, meta_offset: int
) -> None:
    """The data region must start on its 64-byte grid, after the metadata, inside the file."""
    if data_offset % 64 or not meta_offset <= data_offset <= file_size:
        raise corrupt(
            name,
            f"its data offset is {data_offset}, expected a multiple of 64 from {meta_offset} to "
            f"the file size {file_size}",
        )
    if not isinstance(meta, dict):
        raise corrupt(name, f"its metadata is a {type(meta).__name__}, expected a dict")


def _exact_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def array_layout(
    name: str, meta: dict[str, Any], room: int
) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of the array segment ``name``, whose data region has ``room`` bytes."""
    import numpy as np  # here: 'shm ls' and 'shm clean' reach this module and stay numpy-free

    shape: Any = meta.get("shape")
    descr: Any = meta.get("descr")
    if (
        not isinstance(shape, tuple | list)
        or len(shape) > MAX_DIMENSIONS
        or not all(_exact_int(n) and n >= 0 for n in shape)
    ):
        raise corrupt(name, f"its shape is {shape!r}, expected a tuple of non-negative ints")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as error:  # a descr is parsed by numpy, which raises several kinds
        raise corrupt(name, f"its dtype description {descr!r:.100} is invalid ({error})") from None
    if dtype.hasobject:
        # An object array over shared bytes would follow whatever pointers the bytes hold.
        raise corrupt(name, f"its dtype {dtype} holds Python objects, which no segment can")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > room:
        raise corrupt(
            name, f"its array needs {nbytes} bytes, but the file holds {room} after the header"
        )
    return tuple(shape), dtype


def ring_capacity(name: str, meta: dict[str, Any], room: int, minimum: int, align: int) -> int:
    """The capacity of the ring segment ``name``, whose data region leaves ``room`` bytes for
    the ring after its note."""
    capacity: Any = meta.get("capacity")
    if not _exact_int(capacity) or capacity < minimum or capacity % align:
        raise corrupt(
            name,
            f"its capacity is {capacity!r}, expected an int of at least {minimum}, "
            f"a multiple of {align}",
        )
    if capacity > room:
        raise corrupt(
            name,
            f"its header claims a ring of {capacity} bytes, but the file holds {room}",
        )
    return int(capacity)
