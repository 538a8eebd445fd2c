"""Functions run in worker processes (importable by spawn)."""

from __future__ import annotations

from typing import Any

from ataraxis_like.recorder import Recorder
from ataraxis_like.recorder.redis_store import RedisStore


def build(rank: int, count: int, client: Any = None) -> Recorder:
    """A worker's tree: a column that widens from int to float, a late field, a late column."""
    root = Recorder(worker=rank)
    stream = None if client is None else root.stream_to(client, f"workers/w{rank}")
    train = root.child(phase="train")
    for step in range(count):
        train.push(step=step, value=step if step < count // 2 else step + 0.5)
        if step == 100:
            root.set(late="yes")
        if step % 1000 == 999:
            train.push(step=-1, note=f"n{step}")
    root.child(phase="test").push(accuracy=0.5, label="final")
    if stream is not None:
        stream.close()
    return root


def record_into_redis(port: int, namespace: str, rank: int, count: int) -> None:
    """Append ``count`` values to a shared key and to this writer's own key."""
    with RedisStore("127.0.0.1", port, namespace=namespace, batch=100) as store:
        for index in range(count):
            store.append("shared/values", rank * 1_000_000 + index)
            store.append(f"own/w{rank}", float(index))


def record_with_pickled_store(store: RedisStore, rank: int) -> None:
    """Use a store object that travelled to this process."""
    store.append("pickled", rank)
    store.close()
