"""Recorder stores (memory, HDF5, Redis) with arbitrary keys and values: each append or extend is
accepted or refused with one of our errors, and afterwards every store holds exactly the values
it accepted, under the keys it accepted."""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.recorder import Hdf5Store, MemoryStore, Store
from ataraxis_like.recorder.redis_store import RedisStore
from ataraxis_like.recorder.stores import normalize_key

from .strategies import batches, keys, values
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(180))

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), keys, values), st.tuples(st.just("extend"), keys, batches)
    ),
    min_size=1,
    max_size=8,
)


def _fuzz(make: Callable[[], Store], name: str) -> None:
    @settings(
        max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(ops=operations)
    def fuzz(ops: list[tuple[str, Any, Any]]) -> None:
        store = make()
        counts: Counter[str] = Counter()
        try:
            for op, key, value in ops:
                done = False
                with attempt(f"{name}.{op}"):
                    getattr(store, op)(key, value)
                    done = True
                if done:
                    counts[normalize_key(key)] += 1 if op == "append" else len(list(value))
            for key, count in counts.items():
                if count:
                    assert len(store.get(key)) == count, key
            assert set(store.keys()) == {key for key, count in counts.items() if count}
        finally:
            store.close()

    fuzz()


def test_memory_store() -> None:
    _fuzz(MemoryStore, "MemoryStore")


def test_hdf5_store() -> None:
    with tempfile.TemporaryDirectory() as name:
        _fuzz(lambda: Hdf5Store(Path(name) / "series.h5", "w"), "Hdf5Store")


def test_redis_store(redis_port: int) -> None:
    def make() -> Store:
        namespace = f"fuzz-{uuid.uuid4().hex[:12]}"
        return RedisStore("127.0.0.1", redis_port, namespace=namespace)

    _fuzz(make, "RedisStore")
