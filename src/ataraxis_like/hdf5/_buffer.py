"""The rows of one key a local or lock-mode sink holds before it writes them in one block."""

from __future__ import annotations

import numpy as np

from ._schema import Schema

MAX_BUFFER_ROWS = 65536

_ASSIGNMENT_REFUSES_OVERFLOW = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
"""numpy 2 raises OverflowError for ``int8_array[i] = 300``; numpy 1.26 wraps it (a warning)."""


def fast_types(schema: Schema) -> frozenset[type]:
    """Value types a buffer may take by plain assignment (numpy refuses overflow for these;
    ``str`` is checked for text HDF5 cannot hold, so it takes the checked path; before numpy 2
    a Python int is refused only by int64, so narrower keys check it first)."""
    if schema.shape or schema.dtype.fields is not None:
        return frozenset()
    if schema.text is not None:
        return frozenset() if schema.text == "str" else frozenset({bytes})
    kind, exact = schema.dtype.kind, schema.dtype.type
    if kind == "b":
        return frozenset({bool, np.bool_})
    if kind in "iu":
        wide = _ASSIGNMENT_REFUSES_OVERFLOW or schema.dtype == np.dtype(np.int64)
        return frozenset({int, bool, exact} if wide else {bool, exact})
    if kind == "f":
        return frozenset({float, int, bool, exact})
    if kind == "c":
        return frozenset({complex, float, int, exact})
    return frozenset()


class Buffer:
    """Rows of one key waiting to be written (the local and lock-mode sinks)."""

    __slots__ = ("array", "capacity", "count", "fast", "schema")

    def __init__(self, schema: Schema, buffer_bytes: int) -> None:
        self.schema = schema
        self.capacity = max(1, min(MAX_BUFFER_ROWS, buffer_bytes // schema.row_bytes))
        self.array = np.empty((self.capacity, *schema.shape), dtype=schema.dtype)
        self.count = 0
        self.fast = fast_types(schema)
