"""Queue mode with real processes: many clients, killed clients, killed and failing writers."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.errors import ItemTooLargeError
from ataraxis_like.hdf5 import Hdf5Client, Hdf5Sink, SinkClosedError, SinkError, open_sink
from ataraxis_like.hdf5._store import Store
from ataraxis_like.hdf5._writer import Journal

from ..support.kill import kill_inside_lock
from ..support.processes import run_together
from ..support.waiting import wait_until
from . import workers

pytestmark = pytest.mark.timeout(90)


def _check_exact(path: Path, clients: int, count: int) -> None:
    """Every row of every client is there exactly once, in each client's order."""
    with open_sink(path) as reader:
        shared = reader.load("shared")
        assert len(shared) == clients * count
        for index in range(clients):
            mine = shared[shared // 1_000_000 == index] - index * 1_000_000
            assert np.array_equal(mine, np.arange(count)), f"client {index} rows differ"
            assert np.array_equal(reader.load(f"own/{index}"), np.arange(count))


def test_four_client_processes_lose_and_duplicate_nothing(h5_path: Path) -> None:
    count = 50_000
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        client = sink.client()
        contexts = [mp.get_context(method) for method in ("spawn", "fork", "spawn", "fork")]
        start = contexts[0].Event()
        processes = [
            context.Process(target=workers.append_rows, args=(client, index, count, start))
            for index, context in enumerate(contexts)
        ]
        run_together(processes, start, 60)
    _check_exact(h5_path, 4, count)


def test_a_client_checks_values_in_its_own_process(h5_path: Path, start_method: str) -> None:
    context = mp.get_context(start_method)
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        sink.append("names", "first")
        out = context.Queue()
        process = context.Process(target=workers.try_bad_rows, args=(sink, out))  # the pickled sink
        process.start()
        errors = out.get(timeout=30)
        process.join(30)
        assert process.exitcode == 0
        assert all(error is not None and "'frames'" in error for error in errors), errors
        assert "shape (3,) float32; got shape (4,)" in errors[0]
        assert sink.load("frames").shape == (4, 3)
        assert sink.attrs("frames") == {"units": "px"}
        assert sink.load("calibration").tolist() == np.eye(2).tolist()
        assert sink.load("names").tolist() == ["first", "héllo"]
    with pytest.raises(SinkClosedError, match="closed"):
        sink.append("names", "late")


def test_killed_writers_lose_and_duplicate_nothing(h5_path: Path) -> None:
    count = 40_000
    sink = Hdf5Sink(h5_path, "w", sharing="queue", flush_interval=0.05)
    client = sink.client()
    context = mp.get_context("fork")
    start = context.Event()
    processes = [
        context.Process(target=workers.append_rows, args=(client, index, count, start))
        for index in range(2)
    ]
    for process in processes:
        process.start()
    start.set()
    ring = sink._queue._ring  # type: ignore[union-attr]
    kills = 0
    for threshold in (10_000, 40_000, 70_000):
        wait_until(lambda threshold=threshold: ring.stats()["got_total"] >= threshold)  # type: ignore[misc]
        pid = sink.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        kills += 1
        wait_until(lambda pid=pid: sink.writer_pid not in (None, pid))  # type: ignore[misc]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    with pytest.raises(SinkError, match=f"died {kills} time") as caught:
        sink.close()
    assert "every accepted row was written" in str(caught.value)
    _check_exact(h5_path, 2, count)


def test_a_client_killed_mid_append_harms_nothing(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        context = mp.get_context("fork")
        started = context.Event()
        victim = context.Process(target=workers.append_forever, args=(sink.client(), "victim",
                                                                      started))  # fmt: skip
        victim.start()
        assert started.wait(30)
        ring_name = sink._queue._ring.name  # type: ignore[union-attr]
        assert kill_inside_lock(victim.pid, ring_name)  # type: ignore[arg-type]
        victim.join(10)
        for row in range(1000):
            sink.append("after", row)
        sink.flush()
        assert sink.load("after").tolist() == list(range(1000))
    with open_sink(h5_path) as reader:
        rows = reader.load("victim")
    assert len(rows) >= 1000
    assert np.array_equal(rows, np.arange(len(rows)))


def test_a_writer_that_cannot_write_is_reported_everywhere(h5_path: Path) -> None:
    with h5py.File(h5_path, "w", libver="latest") as handle:
        handle.create_group("taken")
    sink = Hdf5Sink(h5_path, "a", sharing="queue")
    sink.append("fine", 1)
    sink.append("taken", 1)
    with pytest.raises(SinkError, match="'taken' is already a group"):
        sink.flush()
    with pytest.raises(SinkError, match="cannot write"):
        sink.append("fine", 2)
    with pytest.raises(SinkError, match="never written"):
        sink.close()


def test_a_writer_dying_too_often_fails_the_clients(h5_path: Path) -> None:
    sink = Hdf5Sink(h5_path, "w", sharing="queue", max_restarts=0)
    sink.append("rows", 1)
    sink.flush()
    pid = sink.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    ring = sink._queue._ring  # type: ignore[union-attr]
    wait_until(lambda: ring.segment.flags & 2)
    with pytest.raises(SinkError, match="died 1 times"):
        sink.append("rows", 2)
    with pytest.raises(SinkError, match="died 1 times"):
        sink.close()
    with open_sink(h5_path) as reader:
        assert reader.load("rows").tolist() == [1]


_JOURNAL_SCRIPT = """
import os, signal, numpy as np
from ataraxis_like.hdf5._schema import schema_for_row
from ataraxis_like.hdf5._store import Store
from ataraxis_like.hdf5._writer import Journal
store = Store({path!r}, "a")
journal = Journal(store, 7)
schema = schema_for_row("k", 1)
store.create([schema])
journal.begin({{0: 5}}, {{"k": (0, 10)}})
store.append_block("k", np.arange(10))
store.flush()
journal.commit({{0: 5}})
journal.begin({{0: 9}}, {{"k": (10, 30)}})
store.append_block("k", np.arange(10, 30))
store.flush()
if {commit}:
    journal.commit({{0: 9}})
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("committed", [False, True])
def test_journal_undoes_a_batch_cut_short(h5_path: Path, committed: bool) -> None:
    """A writer SIGKILLed after writing rows but before committing them: its successor
    truncates them (their records are still in the ring) and knows what was committed."""
    script = textwrap.dedent(_JOURNAL_SCRIPT).format(path=str(h5_path), commit=committed)
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == -signal.SIGKILL
    store = Store(h5_path, "a")
    try:
        journal = Journal(store, 7)
        journal.recover()
        assert len(store.dataset("k")) == (30 if committed else 10)
        assert journal.applied == {0: 9 if committed else 5}
        other = Journal(store, 8)
        other.recover()
        assert other.applied == {}
    finally:
        store.close()


def test_clients_are_picklable_and_attach_lazily(
    h5_path: Path, make_sink: Callable[..., Hdf5Sink]
) -> None:
    sink = make_sink(h5_path, "w", sharing="queue")
    client = pickle.loads(pickle.dumps(sink))
    assert isinstance(client, Hdf5Client)
    assert client.path == h5_path
    client.append("x", 1.5)
    client.flush(timeout=10)
    assert sink.load("x").tolist() == [1.5]


def test_an_array_larger_than_the_queue_is_refused_clearly(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue", queue_bytes=1 << 16) as sink:
        with pytest.raises(ItemTooLargeError, match="larger queue_bytes"):
            sink.write("big", np.zeros(1 << 14))
        sink.extend("rows", np.arange(50_000))  # split into records that fit
        assert len(sink.load("rows")) == 50_000
