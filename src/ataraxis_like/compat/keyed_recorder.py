"""SimRecorder's API (github IGITUGraz/SimRecorder) on our series stores.

Code written against its quick start runs after changing only the import::

    from ataraxis_like.compat.keyed_recorder import (
        Recorder, InMemoryDataStore, RedisDataStore, HDF5DataStore)

``RedisDataStore(server_host, data_directory)`` connects to a Redis server on ``REDIS_PORT``
(65535, as SimRecorder) and, when none answers on this host, starts ``redis-server`` there
with its files in ``data_directory`` and shuts it down (saving) at ``close()``, as SimRecorder
does. Values are numbers, str and numeric numpy arrays; any other picklable value (SimRecorder
pickled everything into Redis) with ``allow_pickle=True`` on the datastore, which is also needed
to read such values back: unpickling runs code chosen by whoever wrote them, so pass it only for
data you wrote yourself. See docs/migrating-from-simrecorder.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ..recorder._errors import StoreConnectionError
from ..recorder.hdf5_store import Hdf5Store
from ..recorder.keyed import record_into
from ..recorder.redis_store import RedisStore
from ..recorder.stores import MemoryStore, Store, normalize_key

REDIS_PORT = 65535
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")


class DataStore:
    """SimRecorder's datastore interface over one of our stores (``allow_pickle``: see above)."""

    def __init__(self, allow_pickle: bool = False) -> None:
        self.store: Store | None = None
        self.allow_pickle = allow_pickle

    def connect(self) -> DataStore:
        return self

    def _store(self) -> Store:
        self.connect()
        assert self.store is not None
        return self.store

    def append(self, key: str, value: Any) -> None:
        self._store().append(key, value)

    def _series(self, value: Any) -> Any:
        return list(value)

    def get(self, key: str) -> Any:
        """The values recorded under ``key`` (or, for a prefix, every series below it)."""
        return self.get_all(key)

    def get_all(self, key: str) -> Any:
        store = self._store()
        if key in store:
            return self._series(store.get(key))
        below = store.get_all(key)
        if below:
            return {name: self._series(value) for name, value in below.items()}
        return []

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class InMemoryDataStore(DataStore):
    """Everything in this process; its data outlives ``close()`` so a new Recorder reads it."""

    def connect(self) -> InMemoryDataStore:
        if self.store is None:
            self.store = MemoryStore(allow_pickle=self.allow_pickle)
        return self

    def close(self) -> None:
        if self.store is not None:
            self.store.flush()


class HDF5DataStore(DataStore):
    """An HDF5 file: created (with its folder) when missing, opened read-only when it exists."""

    def __init__(self, data_file_pth: str | os.PathLike[str], allow_pickle: bool = False) -> None:
        super().__init__(allow_pickle)
        self.path = Path(data_file_pth).expanduser()

    def connect(self) -> HDF5DataStore:
        if self.store is None:
            if self.path.exists():
                self.store = Hdf5Store(self.path, "r", allow_pickle=self.allow_pickle)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.store = Hdf5Store(self.path, "w", allow_pickle=self.allow_pickle)
        return self

    def _series(self, value: Any) -> Any:
        return value


class RedisDataStore(DataStore):
    """A Redis server on ``server_host:REDIS_PORT``; started here (files in ``data_directory``)
    when this host runs none."""

    def __init__(
        self,
        server_host: str,
        data_directory: str | os.PathLike[str],
        serialization: Any = None,
        use_multiprocess_deserialization: bool = False,
        use_compression: bool = True,
        port: int | None = None,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(allow_pickle)
        self.server_host = server_host
        self.data_directory = Path(data_directory).expanduser()
        self.port = port
        self._server: subprocess.Popen[bytes] | None = None

    def connect(self) -> RedisDataStore:
        if self.store is not None:
            return self
        port = REDIS_PORT if self.port is None else self.port
        host = self.server_host
        try:
            self.store = RedisStore(host, port, timeout=2.0, allow_pickle=self.allow_pickle)
        except StoreConnectionError:
            if host not in _LOCAL_HOSTS:
                raise
            self._server = _start_server(port, self.data_directory)
            self.store = RedisStore(host, port, allow_pickle=self.allow_pickle)
        return self

    def close(self) -> None:
        store = self.store
        server, self._server = self._server, None
        try:
            if server is not None and isinstance(store, RedisStore):
                store.shutdown_server()
        finally:
            super().close()
        if server is not None:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _start_server(port: int, directory: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StoreConnectionError(
            f"no Redis server answers on port {port} and redis-server is not installed: "
            "expected one of them; install redis-server or start a server on that port",
            port=port,
        )
    directory.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10.0
    while True:
        try:
            RedisStore("127.0.0.1", port, timeout=0.5).close()
            return server
        except StoreConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                raise StoreConnectionError(
                    f"redis-server on port {port} did not start within 10 s: expected it to "
                    "answer PING; check that the port is free",
                    port=port,
                ) from None
            time.sleep(0.02)


class Recorder:
    """``Recorder(*datastores)`` with ``record``, ``get``, ``get_all`` and ``close``."""

    def __init__(self, *datastores: DataStore) -> None:
        self.datastores = datastores
        for datastore in datastores:
            datastore.connect()

    def record(self, key: str, val: Any, datastore: DataStore | None = None) -> None:
        """Append ``val`` to the list at ``key`` in every datastore (or only ``datastore``)."""
        chosen = self.datastores if datastore is None else (datastore,)
        normalize_key(key)  # refused even when there is no datastore
        record_into([each._store() for each in chosen], key, val)

    def get(self, key: str, datastore: DataStore | None = None) -> Any:
        return (datastore or self.datastores[0]).get(key)

    def get_all(self, key: str, datastore: DataStore | None = None) -> Any:
        return (datastore or self.datastores[0]).get_all(key)

    def close(self) -> None:
        for datastore in self.datastores:
            datastore.close()


__all__ = [
    "REDIS_PORT",
    "DataStore",
    "HDF5DataStore",
    "InMemoryDataStore",
    "Recorder",
    "RedisDataStore",
]
