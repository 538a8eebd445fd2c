"""Hypothesis strategies for the shared-memory fuzz tests: names, arrays, items, indices,
timeouts and capacities, each mixing valid values with every kind of wrong one."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FUZZ_PREFIX = "fz_"

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
dtypes = st.one_of(
    hnp.scalar_dtypes(),
    hnp.byte_string_dtypes(max_len=8),
    hnp.unicode_string_dtypes(max_len=8),
    hnp.array_dtypes(
        subtype_strategy=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes()), max_size=3
    ),
)
arrays = dtypes.flatmap(lambda dtype: hnp.arrays(dtype, shapes))

python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.complex_numbers()
    | st.text(max_size=12)
    | st.binary(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children),
    max_leaves=8,
)

values = st.one_of(
    arrays, arrays, python_values, st.dictionaries(st.text(max_size=3), st.integers())
)

_valid_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,20}", fullmatch=True).map(
    lambda text: FUZZ_PREFIX + text
)
names = st.one_of(
    _valid_names,
    _valid_names,
    st.text(max_size=30),
    st.integers(),
    st.none(),
    st.binary(max_size=8),
)

valid_timeouts = st.sampled_from([0, 0.0, 0.001]) | st.floats(min_value=0, max_value=0.005)
timeouts = st.one_of(
    valid_timeouts,
    valid_timeouts,
    valid_timeouts,
    st.floats(allow_nan=True, allow_infinity=False).filter(lambda x: not 0 < x < math.inf),
    st.integers(-5, 0),
    st.text(max_size=3),
    st.lists(st.integers(0, 1), max_size=2),
    st.booleans(),
)
"""Timeouts that never block for long: None (forever) is used only where an item is known to
be waiting, by the tests themselves."""

capacities = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(0, 1 << 16),
    st.floats(),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
    st.sampled_from([64, 100, 4096, 65536, 10**30]),
)

indices = st.one_of(
    st.integers(-8, 8),
    st.integers(0, 4),
    st.tuples(st.integers(0, 4)),
    st.tuples(st.integers(0, 2), st.integers(2, 5)),
    st.integers(),
    st.tuples(st.integers(-8, 8)),
    st.tuples(st.integers(-8, 8), st.integers(-8, 8)),
    st.tuples(st.integers(), st.integers(), st.integers()),
    st.builds(
        slice,
        st.none() | st.integers(-8, 8),
        st.none() | st.integers(-8, 8),
        st.none() | st.integers(-3, 3),
    ),
    st.floats(),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.tuples(),
    st.tuples(st.floats(), st.integers()),
    st.integers(-8, 8).map(np.int64),
)


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("this object refuses pickling")


small_items = st.one_of(
    st.binary(max_size=200),
    hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)),
    python_values,
)
"""Items that fit the fuzzed queues, for the runs that check what comes back."""

queue_items = st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=64).map(bytearray),
    st.binary(max_size=64).map(memoryview),
    arrays,
    python_values,
    st.sampled_from([threading.Lock(), _Unpicklable(), lambda: None, np.array([object()])]),
)
