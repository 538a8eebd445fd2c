"""Every store passes the same conformance suite (store_suite.py), plus its own specifics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.recorder import (
    Hdf5Store,
    LazySeries,
    MemoryStore,
    SeriesKeyError,
    Store,
    StoreConnectionError,
)
from ataraxis_like.recorder.redis_store import RedisStore

from .redis_server import free_port
from .store_suite import StoreSuite

pytestmark = pytest.mark.timeout(60)


class TestMemoryStore(StoreSuite):
    persistent = False

    def make(self, request: pytest.FixtureRequest, allow_pickle: bool = False) -> Store:
        return MemoryStore(allow_pickle=allow_pickle)


class TestHdf5Store(StoreSuite):
    def make(self, request: pytest.FixtureRequest, allow_pickle: bool = False) -> Store:
        path = request.getfixturevalue("tmp_path") / "series.h5"
        return Hdf5Store(path, "w", allow_pickle=allow_pickle)

    def reopen(
        self, store: Store, request: pytest.FixtureRequest, allow_pickle: bool = False
    ) -> Store:
        assert isinstance(store, Hdf5Store)
        return Hdf5Store(store.path, "a", allow_pickle=allow_pickle)


class TestRedisStore(StoreSuite):
    def make(self, request: pytest.FixtureRequest, allow_pickle: bool = False) -> Store:
        port = request.getfixturevalue("redis_port")
        namespace = request.getfixturevalue("namespace")
        return RedisStore(
            "127.0.0.1", port, namespace=namespace, batch=64, allow_pickle=allow_pickle
        )

    def reopen(
        self, store: Store, request: pytest.FixtureRequest, allow_pickle: bool = False
    ) -> Store:
        return self.make(request, allow_pickle)


def test_hdf5_get_is_a_lazy_view_that_slices(tmp_path: Path) -> None:
    with Hdf5Store(tmp_path / "big.h5", "w") as store:
        store.extend("signal", np.arange(200_000, dtype=np.float32))
        view = store.get("signal")
        assert isinstance(view, LazySeries)
        assert not isinstance(view, np.ndarray)
        assert view.shape == (200_000,)
        assert view.dtype == np.float32
        assert view[199_998:].tolist() == [199_998.0, 199_999.0]
        store.append("signal", np.float32(-1))
        assert len(view) == 200_001
        assert float(view[-1]) == -1.0
    with Hdf5Store(tmp_path / "big.h5", "r") as reader:
        assert float(np.asarray(reader.get("signal"))[:10].sum()) == 45.0
        with pytest.raises(SeriesKeyError, match="read-only"):
            reader.append("new", 1)


def test_hdf5_reads_while_another_process_writes(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "live.h5"
    with Hdf5Store(path, "w") as store:
        store.extend("x", [1, 2, 3])
        store.flush()
        code = (
            "import sys; from ataraxis_like.recorder import Hdf5Store\n"
            "with Hdf5Store(sys.argv[1], 'r') as s: print(s.get('x')[:].tolist())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[1, 2, 3]"


def test_redis_unreachable_server_says_how_to_fix() -> None:
    port = free_port()
    with pytest.raises(StoreConnectionError, match=f"redis-server --port {port}") as caught:
        RedisStore("127.0.0.1", port, timeout=0.5)
    assert isinstance(caught.value, ConnectionError)


def test_redis_batches_until_flush(redis_port: int, namespace: str) -> None:
    writer = RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=1000)
    reader = RedisStore("127.0.0.1", redis_port, namespace=namespace)
    writer.append("x", 1.0)
    writer.append("x", 2.0)
    assert reader.length("x") == 0
    writer.flush()
    assert reader.length("x") == 2
    immediate = RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=1)
    immediate.append("x", 3.0)
    assert reader.get("x").tolist() == [1.0, 2.0, 3.0]
    for store in (writer, reader, immediate):
        store.close()


def test_redis_namespaces_do_not_mix(redis_port: int, namespace: str) -> None:
    with (
        RedisStore("127.0.0.1", redis_port, namespace=namespace + "a") as first,
        RedisStore("127.0.0.1", redis_port, namespace=namespace + "b") as second,
    ):
        first.append("k", 1)
        second.append("k", "text")
        assert first.get("k").tolist() == [1]
        assert second.get("k").tolist() == ["text"]
        assert second.delete() == 1
        assert second.keys() == []
        assert first.keys() == ["k"]
