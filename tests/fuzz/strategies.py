"""Hypothesis strategies the fuzz tests share: keys and values as hostile as a user's code."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st


def one_leaf(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy`` as one choice of a ``one_of``: hypothesis spreads a one_of evenly over the
    branches of the one_ofs nested in it, so a group of hostile values would outweigh one good
    strategy."""
    return strategy.map(lambda value: value)


NAMES = st.sampled_from(["a", "b", "frames", "x/y", "deep/er/key", "ä", "1", "__sink__", ".",
                         "..", "", " ", "a b"])  # fmt: skip
"""Key parts: most good, some that the key rule refuses."""

good_keys = st.lists(st.sampled_from(["a", "b", "c/d", "frames", "ä", "x y"]), min_size=1,
                     max_size=2).map("/".join)  # fmt: skip

keys = st.one_of(
    good_keys,
    one_leaf(st.one_of(
        st.lists(NAMES, min_size=1, max_size=3).map("/".join),
        st.text(max_size=10),
        st.text(alphabet="ab/\x00\t\n\x7f.\ud800", max_size=6),
        st.sampled_from(["/a", "a/", "//a", "a//b", "a\x00b", "a\x00c"]),
        st.integers(),
        st.none(),
    )),
)  # fmt: skip
"""Keys for stores and sinks: good ones half the time, else anything a caller might pass."""

_DTYPES = st.sampled_from(["i1", "u1", "i2", "i4", "i8", "u8", "f4", "f8", "c16", "?", "S3",
                           "U3", "M8[s]", "O", "V4"])  # fmt: skip


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Small numpy arrays of many dtypes and shapes (object arrays of mixed items too)."""
    dtype = np.dtype(draw(_DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    size = int(np.prod(shape, dtype=np.int64))
    if dtype.kind == "O":
        items = draw(st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()),
                              min_size=size, max_size=size))  # fmt: skip
        array = np.empty(size, dtype=object)
        array[:] = items
        return array.reshape(shape)
    raw = draw(st.binary(min_size=size * dtype.itemsize, max_size=size * dtype.itemsize))
    if dtype.kind in "OUM":
        return np.zeros(shape, dtype=dtype)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


scalars = st.one_of(
    st.sampled_from(["nul\x00inside", "lone \ud800", "tab\t", "\x85", "\u2028", ""]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=False, max_magnitude=1e6),
    st.booleans(),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.none(),
)

hostile: st.SearchStrategy[Any] = st.one_of(
    scalars,
    arrays(),
    st.lists(scalars, max_size=4),
    st.lists(st.lists(st.integers(-5, 5), max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)
"""Values to store: scalars, arrays of every dtype, ragged lists, dicts, plain objects."""

rows = st.one_of(
    st.integers(-1000, 1000),
    st.floats(width=64),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.lists(st.floats(width=32), min_size=3, max_size=3).map(lambda row: np.array(row, "f4")),
)
"""Values that make good rows: the common case, so accepted rows pile up under a key."""

values: st.SearchStrategy[Any] = st.one_of(
    one_leaf(rows),
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=5),
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
    one_leaf(hostile),
)
"""Values for append, extend and write: good ones about half the time."""

batches: st.SearchStrategy[Any] = st.one_of(
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=6),
    st.lists(st.floats(width=64), min_size=1, max_size=6),
    st.lists(st.text(max_size=4), min_size=1, max_size=4),
    st.integers(1, 5).map(lambda count: np.arange(count * 3, dtype="f4").reshape(count, 3)),
    one_leaf(hostile),
)
"""Values for extend: lists of good rows, 2-D arrays, or anything else."""
