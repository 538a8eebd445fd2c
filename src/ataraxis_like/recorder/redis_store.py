"""A store in a Redis server, so that many processes and hosts record into one place.

Layout under a namespace ``ns`` (default "recorder"): the hash ``ns:schema`` maps each series
key to its schema (its fields are the key registry), and the list ``ns:data:<key>`` holds the
values, one Redis list item each: the raw bytes of the value in the series' dtype, or UTF-8 text.
No pickle is involved, so reading a server someone else wrote into runs no foreign code; the
one exception is a series of pickled values, kept and read only by a store opened with
``allow_pickle=True`` (its schema says "pickle"; see ``Store``).

The first value of a key sets its schema with HSETNX, so concurrent writers agree on it; values
go out in batches, each one Lua script (atomic in Redis) that pushes the batch's values only if
the writer's batch serial is new, so every value arrives exactly once even when a timed-out
batch is sent again (values from different writers interleave in arrival order). A batch holds
``batch`` values (or what is pending at ``flush()``, ``get``, ``keys`` and ``close()``);
``batch=1`` sends each value at once.

``drain_to_hdf5`` copies a namespace into an HDF5 file; ``python -m
ataraxis_like.recorder.redis_store --port 6379 out.h5`` does the same from a shell.
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import OptionalDependencyError, StoreConnectionError
from ._series import SeriesSchema, unpickled
from .stores import (
    Rows,
    Store,
    _clash,
    conflict_error,
    normalize_key,
    prefixes,
    under,
)

_READ_CHUNK = 65536
_WRITER_TTL = 86_400
_BATCH_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local position = 3
for index = 2, #KEYS do
  local count = tonumber(ARGV[position])
  position = position + 1
  local done = 0
  while done < count do
    local step = math.min(count - done, 4000)
    redis.call('RPUSH', KEYS[index], unpack(ARGV, position + done, position + done + step - 1))
    done = done + step
  end
  position = position + count
end
return 1
"""


def _redis_module() -> Any:
    try:
        import redis
    except ImportError as error:
        raise OptionalDependencyError(
            "RedisStore needs the redis client, which is not installed; run "
            "`pip install ataraxis-like[redis]`",
            package="redis",
        ) from error
    return redis


class RedisStore(Store):
    """Series in a Redis server at ``host:port`` (the server must be running)."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        *,
        db: int = 0,
        namespace: str = "recorder",
        batch: int = 256,
        password: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(allow_pickle=allow_pickle)
        self._config: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": db,
            "namespace": namespace,
            "batch": batch,
            "password": password,
            "timeout": timeout,
            "retries": retries,
        }
        self._connect()

    def _connect(self) -> None:
        config = self._config
        self._namespace = str(config["namespace"])
        self._schema_key = f"{self._namespace}:schema"
        self._batch = max(1, int(config["batch"]))
        self._client: Any = self._new_client(int(config.get("retries", 3)))
        self._batch_script = self._client.register_script(_BATCH_SCRIPT)
        self._writer = f"{self._namespace}:writer:{uuid.uuid4().hex}"
        self._serial = 0
        self._pending: list[tuple[str, list[bytes]]] = []
        self._doubtful: tuple[list[str], list[Any]] | None = None  # sent, not acknowledged
        self._queued = 0
        self._call(self._client.ping)

    def _new_client(self, retries: int) -> Any:
        """A client that retries a failed command ``retries`` times within about 0.15 s."""
        redis = _redis_module()
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        config = self._config
        return redis.Redis(
            host=config["host"],
            port=config["port"],
            db=config["db"],
            password=config["password"],
            socket_timeout=config["timeout"],
            socket_connect_timeout=config["timeout"],
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries),
        )

    def _call(self, function: Any, *arguments: Any) -> Any:
        redis = _redis_module()
        try:
            return function(*arguments)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            host, port = self._config["host"], self._config["port"]
            raise StoreConnectionError(
                f"Redis at {host}:{port} did not answer ({error}): expected a running "
                f"redis-server there; start one (redis-server --port {port}) or fix host/port",
                host=host,
                port=port,
            ) from error

    def _data_key(self, key: str) -> str:
        return f"{self._namespace}:data:{key}"

    def keys(self, prefix: str = "") -> list[str]:
        self._ensure_open()
        self.flush()
        names = self._call(self._client.hkeys, self._schema_key)
        return sorted(k for k in (n.decode() for n in names) if under(k, prefix))

    def _check_conflicts(self, key: str) -> None:
        names = self._call(self._client.hkeys, self._schema_key)
        known = {name.decode() for name in names}
        groups = {prefix for name in known for prefix in prefixes(name)}
        other = _clash(key, known, groups)
        if other is not None:
            raise conflict_error(key, other)

    def _load_schema(self, key: str) -> SeriesSchema | None:
        text = self._call(self._client.hget, self._schema_key, key)
        return None if text is None else SeriesSchema.from_text(text.decode())

    def _create(self, key: str, schema: SeriesSchema) -> SeriesSchema:
        if self._call(self._client.hsetnx, self._schema_key, key, schema.to_text()):
            return schema
        stored = self._load_schema(key)
        return schema if stored is None else stored

    def _append_many(self, key: str, schema: SeriesSchema, values: Rows) -> None:
        if schema.pickled:
            encoded = list(values)  # already pickle bytes
        elif schema.text:
            encoded = [value.encode("utf-8") for value in values]
        else:
            encoded = [np.ascontiguousarray(value).tobytes() for value in values]
        self._pending.append((self._data_key(key), encoded))
        self._queued += len(values)
        if self._queued >= self._batch:
            self.flush()

    def _read(self, key: str, schema: SeriesSchema) -> Any:
        self.flush()
        items: list[bytes] = []
        start = 0
        while True:
            chunk = self._call(
                self._client.lrange, self._data_key(key), start, start + _READ_CHUNK - 1
            )
            items.extend(chunk)
            if len(chunk) < _READ_CHUNK:
                break
            start += _READ_CHUNK
        if schema.pickled:
            return [unpickled(item) for item in items]
        if schema.text:
            return schema.stack([item.decode("utf-8") for item in items])
        joined = bytearray().join(items)
        return np.frombuffer(joined, dtype=schema.dtype).reshape(len(items), *schema.shape)

    def length(self, key: str) -> int:
        """How many values the series ``key`` holds (without reading them)."""
        self._ensure_open()
        self.flush()
        return int(self._call(self._client.llen, self._data_key(normalize_key(key))))

    def delete(self, prefix: str = "") -> int:
        """Remove every series equal to or below ``prefix``; returns how many were removed."""
        doomed = self.keys(prefix)
        for key in doomed:
            self._call(self._client.delete, self._data_key(key))
            self._call(self._client.hdel, self._schema_key, key)
            self._schemas.pop(key, None)
        return len(doomed)

    def shutdown_server(self) -> None:
        """Ask the server to save its data to disk and exit (for a server this program started)."""
        redis = _redis_module()
        self.flush()
        once = self._new_client(0)
        try:
            once.shutdown(save=True)
        except redis.exceptions.ConnectionError:
            pass
        finally:
            once.close()

    def flush(self) -> None:
        """Send the pending batch; a batch whose sending failed is resent first, next time.

        A batch is one Lua script that records its serial under this writer's key and pushes
        only if that serial is new, so a resend (ours, or the client's retry after a timeout)
        is never applied twice.
        """
        if self._doubtful is not None:
            self._call(self._batch_script, *self._doubtful)
            self._doubtful = None
        if not self._pending:
            return
        keys = [self._writer]
        arguments: list[Any] = [self._serial, _WRITER_TTL]
        for data_key, encoded in self._pending:
            keys.append(data_key)
            arguments.append(len(encoded))
            arguments.extend(encoded)
        self._serial += 1
        self._pending, self._queued = [], 0
        self._doubtful = (keys, arguments)
        self._call(self._batch_script, keys, arguments)
        self._doubtful = None

    def close(self) -> None:
        if not self._closed:
            try:
                self.flush()
            finally:
                self._closed = True
                self._client.close()

    def __getstate__(self) -> dict[str, Any]:
        """Only the connection settings travel (pending values are sent first)."""
        self.flush()
        return {"config": self._config, "allow_pickle": self.allow_pickle}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Store.__init__(self, allow_pickle=state.get("allow_pickle", False))
        self._config = dict(state["config"])
        self._connect()


def drain_to_hdf5(
    store: RedisStore, path: str | Path, *, prefix: str = "", delete: bool = False
) -> list[str]:
    """Copy every series under ``prefix`` into the HDF5 file ``path`` (same keys); return them.

    With ``delete=True`` each series is removed from Redis once it is in the file. Pickled
    series are copied only from a store opened with ``allow_pickle=True``.
    """
    from .hdf5_store import Hdf5Store

    copied: list[str] = []
    with Hdf5Store(path, allow_pickle=store.allow_pickle) as target:
        for key in store.keys(prefix):
            values = store.get(key)
            if isinstance(values, np.ndarray) and values.dtype.kind == "U":
                values = values.tolist()
            target.extend(key, values)
            copied.append(key)
        target.flush()
    if delete:
        for key in copied:
            store.delete(key)
    return copied


def main(arguments: list[str] | None = None) -> int:
    """Shell entry: drain a Redis namespace into an HDF5 file."""
    parser = argparse.ArgumentParser(
        prog="python -m ataraxis_like.recorder.redis_store",
        description="Copy every series of a Redis recorder namespace into an HDF5 file.",
    )
    parser.add_argument("output", help="HDF5 file to write (created or appended to)")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--db", type=int, default=0)
    parser.add_argument("--namespace", default="recorder")
    parser.add_argument("--prefix", default="", help="only series at or below this key")
    parser.add_argument("--delete", action="store_true", help="remove copied series from Redis")
    options = parser.parse_args(arguments)
    store = RedisStore(options.host, options.port, db=options.db, namespace=options.namespace)
    try:
        keys = drain_to_hdf5(store, options.output, prefix=options.prefix, delete=options.delete)
    finally:
        store.close()
    print(f"copied {len(keys)} series into {options.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
