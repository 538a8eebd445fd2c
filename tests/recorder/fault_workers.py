"""Worker functions for the fault tests (importable by spawn); each waits to be SIGKILLed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ataraxis_like.recorder import ExperimentCollection, Recorder, RecorderError
from ataraxis_like.recorder.redis_store import RedisStore

FLUSHED_AT = 5_000
NODES = 6


def step_values(step: int) -> dict[str, Any]:
    """What the streaming victim pushes at ``step`` (text, int, float; widens at 6000)."""
    return {"step": step, "loss": step if step < 6000 else step + 0.5, "tag": f"t{step % 97}"}


def stream_until_killed(client: Any, key: str, flushed: Any, pushed: Any) -> None:
    """Stream records, flush at FLUSHED_AT and say so, then push (and auto-send) until killed."""
    root = Recorder(worker="victim")
    train = root.child(phase="train")
    stream = root.stream_to(client, key)
    step = 0
    while True:
        train.push(step_values(step))
        step += 1
        if step == FLUSHED_AT:
            stream.flush()
            flushed.set()
        if step % 256 == 0:
            pushed.value = step


class Hang(Recorder):
    """A node whose ``flush`` (called once per node by ``save``) signals, then maybe blocks."""

    reached: Any = None
    block = True

    def flush(self) -> None:
        super().flush()
        if Hang.reached is not None:
            Hang.reached.set()
            if Hang.block:
                threading.Event().wait()


def tree(hang_at: int | None, size: int = 50) -> Recorder:
    """A root with NODES children (node ``hang_at`` of the save order is a ``Hang``)."""
    root = Recorder(run="second")
    for index in range(NODES):
        kind = Hang if index == hang_at else Recorder
        child = kind(index=index).set_parent(root)
        for step in range(size):
            child.push(step=step, value=step * 0.5, label=f"n{index}")
        if index % 2:
            child.push(extra=[index])
    return root


def save_until_killed(path: Path, hang_at: int, reached: Any, block: bool) -> None:
    """Save ``tree(hang_at)`` under "second"; the hang node signals (and blocks if ``block``)."""
    Hang.reached, Hang.block = reached, block
    tree(hang_at, size=50 if block else 20_000).save(path, key="second")


def experiment_until_killed(path: Path, reached: Any, fail: bool) -> None:
    """End an experiment (failed or not) whose save blocks at its run recorder's flush."""
    Hang.reached, Hang.block = reached, True

    class Collection(ExperimentCollection):
        node_type = Hang

    collection = Collection(path)
    try:
        with collection.new_experiment(value=99) as recorder:
            train = recorder.child(phase="train")
            train.push()  # row 0 misses every column: stale masks would hide later values
            train.push(loss=9.0, extra=[1, 2])
            train.push(step=0)
            if fail:
                raise ValueError("the killed run failed")
    except ValueError:
        pass


def redis_until_killed(port: int, namespace: str, flushed: Any, pending: int) -> None:
    """Append, flush at FLUSHED_AT and say so, queue ``pending`` more (under the batch), block."""
    store = RedisStore("127.0.0.1", port, namespace=namespace, batch=10 * FLUSHED_AT)
    for index in range(FLUSHED_AT):
        store.append("victim", index)
    store.flush()
    for index in range(FLUSHED_AT, FLUSHED_AT + pending):
        store.append("victim", index)
    flushed.set()
    threading.Event().wait()


def redis_stream_until_killed(port: int, namespace: str, flushed: Any, pushed: Any) -> None:
    """Append in batches of 100 until killed (batches go out while the kill lands)."""
    store = RedisStore("127.0.0.1", port, namespace=namespace, batch=100)
    index = 0
    while True:
        store.append("victim", index)
        index += 1
        if index == FLUSHED_AT:
            store.flush()
            flushed.set()
        if index % 100 == 0:
            pushed.value = index


RUNS = 8


def save_same_key(path: Path, rank: int, barrier: Any, results: Any) -> None:
    """Save a tree under "same" together with another process; report how it went."""
    root = tree(None)
    root.set(rank=rank)
    barrier.wait(30)
    try:
        root.save(path, key="same")
    except RecorderError as error:
        results.put((rank, f"RecorderError: {error}"))
    else:
        results.put((rank, "saved"))


def run_experiments(path: Path, rank: int, barrier: Any) -> None:
    """Run RUNS experiments of the collection at ``path`` while another process does too."""
    collection = ExperimentCollection(path)
    barrier.wait(30)
    for run in range(RUNS):
        with collection.new_experiment(value=rank * 100 + run) as recorder:
            recorder.push(step=run)
