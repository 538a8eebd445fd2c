"""A worker of a distributed SimRecorder run (importable under spawn)."""

from __future__ import annotations

from ataraxis_like.compat.keyed_recorder import Recorder, RedisDataStore


def record_from_a_worker(host: str, port: int, directory: str, worker: int) -> None:
    """What SimRecorder's README tells a worker node to do: the main node's host, then record."""
    recorder = Recorder(RedisDataStore(server_host=host, data_directory=directory, port=port))
    for step in range(50):
        recorder.record(f"workers/{worker}", float(step))
    recorder.close()
