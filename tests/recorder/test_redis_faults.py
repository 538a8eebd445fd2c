"""Redis faults: writers SIGKILLed mid-batch, a server that stops or stalls, bad input."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest
import redis

from ataraxis_like.recorder import RecordValueError, SeriesKeyError, StoreConnectionError
from ataraxis_like.recorder.redis_store import RedisStore

from .fault_workers import FLUSHED_AT, redis_stream_until_killed, redis_until_killed
from .redis_server import redis_server
from .test_faults import kill, wait_for
from .workers import record_into_redis

pytestmark = pytest.mark.timeout(90)


def others_complete(port: int, namespace: str, writers: int, count: int) -> None:
    with RedisStore("127.0.0.1", port, namespace=namespace) as store:
        for rank in range(writers):
            assert store.get(f"own/w{rank}").tolist() == [float(i) for i in range(count)]
        shared = sorted(store.get("shared/values").tolist())
        assert shared == [r * 1_000_000 + i for r in range(writers) for i in range(count)]


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_writer_killed_with_a_batch_pending(redis_port: int, namespace: str, method: str) -> None:
    context = multiprocessing.get_context(method)
    flushed = context.Event()
    victim = context.Process(target=redis_until_killed, args=(redis_port, namespace, flushed, 300))
    victim.start()
    others = [
        context.Process(target=record_into_redis, args=(redis_port, namespace, rank, 2000))
        for rank in range(2)
    ]
    for worker in others:
        worker.start()
    assert flushed.wait(30)
    kill(victim)
    for worker in others:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        assert store.get("victim").tolist() == list(range(FLUSHED_AT))
    others_complete(redis_port, namespace, 2, 2000)


def test_writer_killed_while_sending(redis_port: int, namespace: str) -> None:
    context = multiprocessing.get_context("fork")
    flushed, pushed = context.Event(), context.RawValue("q", 0)
    victim = context.Process(
        target=redis_stream_until_killed, args=(redis_port, namespace, flushed, pushed)
    )
    victim.start()
    assert flushed.wait(30)
    wait_for(lambda: pushed.value >= 2 * FLUSHED_AT, "the victim to send batches")
    kill(victim)
    with RedisStore("127.0.0.1", redis_port, namespace=namespace) as store:
        values = store.get("victim").tolist()
    assert len(values) >= 2 * FLUSHED_AT - 100
    assert values == list(range(len(values)))  # whole batches, in order, each once


def test_stalled_server_never_gets_a_batch_twice(redis_port: int, namespace: str) -> None:
    """A batch that timed out (maybe applied, maybe not) is resent safely by the next flush."""
    admin = redis.Redis("127.0.0.1", redis_port)
    store = RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=10_000, timeout=0.2)
    store.extend("values", np.arange(100))
    store.flush()
    store.extend("values", np.arange(100, 200))
    admin.client_pause(1500, all=False)  # WRITE: our batch is queued, replies wait
    with pytest.raises(StoreConnectionError, match=f"127.0.0.1:{redis_port}"):
        store.flush()
    store.append("values", 200)
    admin.set(f"{namespace}:after-pause", 1)  # a write: returns once the pause is over
    assert admin.llen(f"{namespace}:data:values") in (100, 200)
    store.flush()
    assert store.get("values").tolist() == list(range(201))
    store.close()
    admin.close()


def test_big_batch_slower_than_the_timeout_arrives_once(redis_port: int, namespace: str) -> None:
    """The client gives up on a long script and retries it (4 sends): one is applied."""
    admin = redis.Redis("127.0.0.1", redis_port)
    store = RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=10**7, timeout=0.05)
    store.extend("values", np.arange(400_000))
    with pytest.raises(StoreConnectionError, match="did not answer"):
        store.flush()
    data = f"{namespace}:data:values"
    wait_for(lambda: admin.llen(data) >= 400_000, "the first send to be applied", 20)
    for _ in range(3):  # the other sends were queued behind it: each is answered before these
        admin.ping()
    assert admin.llen(data) == 400_000
    assert np.array_equal(np.frombuffer(b"".join(admin.lrange(data, 0, -1)), np.int64),
                          np.arange(400_000))  # fmt: skip
    admin.close()


def test_server_gone_names_host_and_port_and_keeps_the_batch(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with redis_server(tmp_path / "a") as port:
        store = RedisStore("127.0.0.1", port, namespace="gone", batch=10_000, timeout=1.0)
        store.extend("values", [1, 2, 3])
        store.flush()
        store.extend("values", [4, 5])
    message = f"Redis at 127.0.0.1:{port} did not answer .*redis-server --port {port}"
    with pytest.raises(StoreConnectionError, match=message):
        store.flush()
    with pytest.raises(StoreConnectionError, match=message):
        RedisStore("127.0.0.1", port)
    with redis_server(tmp_path / "b", port=port):  # a fresh, empty server
        store.flush()
        assert store.get("values").tolist() == [4, 5]
        store.close()


def test_bad_input_is_named_and_loses_nothing(redis_port: int, namespace: str) -> None:
    with RedisStore("127.0.0.1", redis_port, namespace=namespace, batch=1000) as store:
        store.extend("a/b", [1.0, 2.0])
        with pytest.raises(SeriesKeyError, match="'a//b' is malformed"):
            store.append("a//b", 1.0)
        with pytest.raises(SeriesKeyError, match="'a' clashes with the existing key 'a/b'"):
            store.append("a", 1.0)
        with pytest.raises(SeriesKeyError, match="'a/b/c' clashes with the existing key 'a/b'"):
            store.append("a/b/c", 1.0)
        with pytest.raises(RecordValueError, match="a/b"):
            store.append("a/b", "text")
        with pytest.raises(RecordValueError, match="a/b"):
            store.append("a/b", np.zeros(3))
        with pytest.raises(RecordValueError, match="obj"):
            store.append("obj", threading.Lock())
        assert store.get("a/b").tolist() == [1.0, 2.0]
        assert store.keys() == ["a/b"]
