"""Any interleaving of appends, extends and flushes lands exactly, across buffer boundaries."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.hdf5 import Hdf5Sink, open_sink

pytestmark = pytest.mark.timeout(60)

KEYS = ("a", "b/c", "text")
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(KEYS),
        st.sampled_from(["append", "extend", "flush"]),
        st.integers(min_value=0, max_value=40),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS, buffer_bytes=st.sampled_from([8, 64, 1024, 1 << 20]))
def test_rows_land_in_order_exactly_once(operations: list[tuple[str, str, int]],
                                        buffer_bytes: int) -> None:  # fmt: skip
    model: dict[str, list[object]] = {key: [] for key in KEYS}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "p.h5"
        with Hdf5Sink(path, "w", buffer_bytes=buffer_bytes, flush_interval=3600) as sink:
            for key, action, size in operations:
                values = [f"r{len(model[key]) + i}" if key == "text" else len(model[key]) + i
                          for i in range(max(size, 1))]  # fmt: skip
                if action == "append":
                    sink.append(key, values[0])
                    model[key].append(values[0])
                elif action == "extend":
                    sink.extend(key, values[:size])
                    model[key].extend(values[:size])
                else:
                    sink.flush()
        with open_sink(path) as reader:
            for key, expected in model.items():
                if not expected:
                    assert key not in reader
                    continue
                assert reader.load(key).tolist() == expected
                if key != "text":
                    assert reader.load(key).dtype == np.int64
