"""LogPackage with arbitrary fields, put into a running DataLogger: each package is built and
queued or refused with one of our errors, and every package the queue took is in the logger's
batch files afterwards, with its bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.logs import DataLogger, LogPackage

from ..logs.logged import collect_entries
from .strategies import arrays, one_leaf
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(180))

odd_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([np.uint8(7), np.int64(-1), np.uint64(2**64 - 1), np.float64(3.0), True]),
    st.floats(),
    st.text(max_size=3),
    st.none(),
)
# Mostly good values, so that many packages are queued and then read back.
sources = st.one_of(st.integers(0, 255), st.integers(0, 9), one_leaf(odd_numbers))
stamps = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 10**6), one_leaf(odd_numbers))
payloads = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda data: np.frombuffer(data, dtype=np.uint8)),
    one_leaf(st.one_of(
        st.binary(max_size=64).map(bytearray),
        st.binary(max_size=64).map(memoryview),
        st.binary(min_size=2, max_size=64).map(lambda data: memoryview(data)[::2]),
        st.binary(min_size=2, max_size=64).map(lambda data: np.frombuffer(data, np.uint8)[::-1]),
        arrays(),
        st.text(max_size=4),
        st.lists(st.integers(0, 255), max_size=4),
        st.none(),
    )),
)  # fmt: skip


def _bytes(payload: Any) -> bytes:
    if isinstance(payload, memoryview):
        return payload.tobytes()
    if isinstance(payload, np.ndarray):
        return payload.tobytes()
    return bytes(payload)


def test_log_packages_from_any_fields(tmp_path: Path) -> None:
    expected: dict[int, list[tuple[int, bytes]]] = {}
    with DataLogger(tmp_path, "fuzz") as logger:

        @settings(
            max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
        @given(source=sources, stamp=stamps, payload=payloads)
        def fuzz(source: Any, stamp: Any, payload: Any) -> None:
            package = None
            with attempt("LogPackage"):
                package = LogPackage(source, stamp, payload)
            if package is not None:
                with attempt("DataLogger.input_queue.put"):
                    logger.input_queue.put(package, timeout=10)
                    expected.setdefault(package.source_id, []).append(
                        (package.acquisition_time, _bytes(payload))
                    )

        fuzz()
    found, _duplicates = collect_entries(tmp_path / "fuzz_data_log")
    assert {source: sorted(items) for source, items in found.items()} == {
        source: sorted(items) for source, items in expected.items()
    }
