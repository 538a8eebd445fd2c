"""ShmQueue: items, bounds, exactly-once delivery, and kills at the worst moment."""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import threading
import uuid

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import (
    ItemTooLargeError,
    NotConnectedError,
    QueueClosedError,
    QueueEmptyError,
    QueueFullError,
)
from ataraxis_like.shm._names import segment_path
from ataraxis_like.shm.queue import ShmQueue

from ..support.kill import kill_inside_lock
from . import queue_workers as workers

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def queue_name() -> collections.abc.Iterator[str]:
    name = f"tq_{uuid.uuid4().hex[:12]}"
    yield name
    segment_path(name).unlink(missing_ok=True)


@pytest.mark.parametrize(
    "item",
    [
        b"",
        b"bytes",
        bytearray(b"\x00\xff" * 100),
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array(5, dtype=np.int8),
        np.zeros((0, 3), dtype=np.complex128),
        np.array([(1, 2.5, b"ab")], dtype=[("a", "<i4"), ("b", "<f8"), ("c", "S2")]),
        np.arange(10)[::2],
        {"any": ["picklable", 1, 2.0]},
        None,
    ],
)
def test_items_round_trip(queue_name: str, item: object) -> None:
    with ShmQueue(queue_name, capacity_bytes=1 << 16) as queue:
        queue.put(item)
        got = queue.get(timeout=5)
        if isinstance(item, np.ndarray):
            assert isinstance(got, np.ndarray)
            assert got.dtype == item.dtype
            assert got.shape == item.shape
            np.testing.assert_array_equal(got, item)
            assert got.flags.writeable
        elif isinstance(item, bytearray):
            assert got == bytes(item)
        else:
            assert got == item


def test_memoryview_and_view_items(queue_name: str) -> None:
    with ShmQueue(queue_name, capacity_bytes=1 << 20) as queue:
        queue.put(memoryview(b"abcdef")[1:4])
        assert queue.get() == b"bcd"
        frame = np.random.default_rng(1).integers(0, 255, (240, 320), dtype=np.uint8)
        queue.put(frame)
        with queue.get_view(timeout=5) as view:
            np.testing.assert_array_equal(view, frame)
            assert not view.flags.writeable
        assert queue.stats()["bytes_used"] == 0


def test_bounds_timeouts_and_too_large(queue_name: str) -> None:
    with ShmQueue(queue_name, capacity_bytes=4096) as queue:
        with pytest.raises(QueueEmptyError, match="stayed empty"):
            queue.get_nowait()
        with pytest.raises(QueueEmptyError):
            queue.get(timeout=0.05)
        with pytest.raises(ItemTooLargeError, match="capacity_bytes >="):
            queue.put(b"x" * 5000)
        queue.put(b"a" * 2000)
        with pytest.raises(QueueFullError, match="stayed full"):
            queue.put_nowait(b"b" * 2500)
        with pytest.raises(QueueFullError):
            queue.put(b"b" * 2500, timeout=0.05)
        assert queue.get() == b"a" * 2000
        queue.put(b"b" * 4000)  # an empty queue takes any item that fits its capacity
        assert queue.get() == b"b" * 4000


def test_order_and_wraparound_single_process(queue_name: str) -> None:
    rng = random.Random(3)
    with ShmQueue(queue_name, capacity_bytes=8192) as queue:
        model: collections.deque[bytes] = collections.deque()
        for step in range(5000):
            if rng.random() < 0.55:
                item = bytes([step % 256]) * rng.randint(0, 3000)
                try:
                    queue.put_nowait(item)
                    model.append(item)
                except QueueFullError:
                    assert model, "an empty queue refused an item that fits"
            elif model:
                assert queue.get_nowait() == model.popleft()
        assert queue.get_many(10_000, timeout=0) == list(model)


def test_get_many_drains_a_large_backlog_in_order(queue_name: str) -> None:
    """A backlog far larger than one batch copy, with items larger than a copy among them."""
    rng = random.Random(5)
    sizes = [rng.choice([0, 1, 64, 300, 5000, 300_000]) for _ in range(3000)]
    items = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
    with ShmQueue(queue_name, capacity_bytes=256 << 20) as queue:
        for item in items:
            queue.put(item)
        received: list[bytes] = []
        while len(received) < len(items):
            batch = queue.get_many(rng.choice([1, 7, 256, 5000]), timeout=0)
            assert batch, "a non-empty queue returned nothing"
            received.extend(batch)
        assert received == items
        assert queue.stats()["items"] == 0


def test_exactly_once_4_producers_4_consumers(queue_name: str, start_method: str) -> None:
    context = mp.get_context(start_method)
    rng = random.Random(42)
    items_per_producer = 120
    sizes = [
        [rng.choice([0, 8, 64, 4096, 100_000, 1 << 20]) for _ in range(items_per_producer)]
        for _ in range(4)
    ]
    with ShmQueue(queue_name, capacity_bytes=4 << 20) as queue:
        start = context.Event()
        results = context.Queue()
        consumers = [
            context.Process(target=workers.consume, args=(queue, results, batch))
            for batch in (1, 1, 16, 64)
        ]
        producers = [
            context.Process(target=workers.produce, args=(queue, index, sizes[index], start))
            for index in range(4)
        ]
        for process in consumers + producers:
            process.start()
        start.set()
        for process in producers:
            process.join(90)
            assert process.exitcode == 0
        for _ in consumers:
            queue.put(workers.STOP)
        received = [results.get(timeout=60) for _ in consumers]
        for process in consumers:
            process.join(30)
            assert process.exitcode == 0
    everything = [pair for part in received for pair in part]
    assert sorted(everything) == [(p, s) for p in range(4) for s in range(items_per_producer)]
    for part in received:
        for producer in range(4):
            sequences = [s for p, s in part if p == producer]
            assert sequences == sorted(sequences), "order per producer broken"


def test_threads_share_a_queue(queue_name: str) -> None:
    with ShmQueue(queue_name, capacity_bytes=1 << 16) as queue:
        got: list[bytes] = []
        lock = threading.Lock()

        def consume() -> None:
            while True:
                item = queue.get(timeout=30)
                if item == b"":
                    return
                with lock:
                    got.append(item)

        threads = [threading.Thread(target=consume) for _ in range(3)]
        for thread in threads:
            thread.start()
        for index in range(3000):
            queue.put(index.to_bytes(4, "little") * 10)
        for _ in threads:
            queue.put(b"")
        for thread in threads:
            thread.join(30)
        assert sorted(got) == sorted(index.to_bytes(4, "little") * 10 for index in range(3000))


def test_attach_by_name_from_unrelated_process(queue_name: str) -> None:
    with ShmQueue(queue_name, capacity_bytes=1 << 16) as queue:
        queue.put(np.arange(4))
        code = f"""
            import numpy as np
            from ataraxis_like.shm.queue import ShmQueue
            queue = ShmQueue.attach({queue_name!r})
            item = queue.get(timeout=10)
            queue.put(item * 10)
            queue.close()
        """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        np.testing.assert_array_equal(queue.get(timeout=5), np.arange(4) * 10)


def test_close_wakes_blocked_consumer_and_refuses_puts(queue_name: str) -> None:
    queue = ShmQueue(queue_name, capacity_bytes=4096)
    copy = pickle.loads(pickle.dumps(queue))
    errors: list[BaseException] = []
    waiting = threading.Event()

    def blocked_get() -> None:
        waiting.set()
        try:
            copy.get(timeout=30)
        except BaseException as error:
            errors.append(error)

    copy.ring()  # attach before the creator closes the name
    thread = threading.Thread(target=blocked_get)
    thread.start()
    assert waiting.wait(10)
    queue.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], QueueClosedError)
    with pytest.raises(QueueClosedError, match="closed by its creator"):
        copy.put(b"late")
    with pytest.raises(NotConnectedError):
        queue.put(b"after close")
    copy.close()


def test_killed_creator_wakes_blocked_consumer(queue_name: str) -> None:
    code = f"""
        import os, signal, sys
        from ataraxis_like.shm.queue import ShmQueue
        queue = ShmQueue({queue_name!r}, capacity_bytes=4096)
        print("ready", flush=True)
        sys.stdin.readline()
        os.kill(os.getpid(), signal.SIGKILL)
    """
    creator = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert creator.stdout is not None
    assert creator.stdin is not None
    assert creator.stdout.readline().strip() == "ready"
    queue = ShmQueue.attach(queue_name)
    creator.stdin.write("go\n")
    creator.stdin.flush()
    creator.wait(10)
    with pytest.raises(QueueClosedError, match=r"creator .* died"):
        queue.get(timeout=30)
    queue.close()


def test_consumer_killed_inside_get_loses_nothing(queue_name: str) -> None:
    context = mp.get_context("fork")
    count = 48
    seen_name = f"seen_{uuid.uuid4().hex[:10]}"
    with (
        ShmQueue(queue_name, capacity_bytes=64 << 20) as queue,
        SharedMemoryArray.create_array(seen_name, np.zeros(count, dtype=np.int64)) as seen,
    ):
        for identifier in range(count):
            item = np.full(1 << 20, identifier % 251, dtype=np.uint8)
            item[:8] = np.array([identifier], dtype=np.int64).view(np.uint8)
            queue.put(item)
        kills = 0
        for attempt in range(3):
            ready = context.Event()
            victim = context.Process(
                target=workers.consume_and_record, args=(queue, seen_name, ready)
            )
            victim.start()
            assert ready.wait(30)
            kills += kill_inside_lock(victim.pid, queue_name, seed=attempt)
            victim.join(10)
        assert kills >= 2, "never caught a consumer inside get"
        survivor_ready = context.Event()
        queue.put(b"done")
        survivor = context.Process(
            target=workers.consume_and_record, args=(queue, seen_name, survivor_ready)
        )
        survivor.start()
        survivor.join(60)
        assert survivor.exitcode == 0
        counts = seen.read_data((0,))
        assert counts.min() == 1, f"lost: {np.flatnonzero(counts == 0).tolist()}"
        assert counts.max() == 1, f"duplicated: {np.flatnonzero(counts > 1).tolist()}"
        assert queue.ring().segment.recoveries >= 1  # victims died holding the lock
        assert queue.qsize() == 0, "the repairs left the item count off"
        assert queue.empty()


def test_consumer_killed_inside_get_many_loses_nothing(queue_name: str) -> None:
    context = mp.get_context("fork")
    count = 60_000
    seen_name = f"seen_{uuid.uuid4().hex[:10]}"
    with (
        ShmQueue(queue_name, capacity_bytes=16 << 20) as queue,
        SharedMemoryArray.create_array(seen_name, np.zeros(count, dtype=np.int64)) as seen,
    ):
        for identifier in range(count):
            queue.put(identifier.to_bytes(8, "little") * 8)
        kills = 0
        for attempt in range(4):
            ready = context.Event()
            victim = context.Process(
                target=workers.consume_many_and_record, args=(queue, seen_name, ready)
            )
            victim.start()
            assert ready.wait(30)
            kills += kill_inside_lock(victim.pid, queue_name, seed=20 + attempt)
            victim.join(10)
        assert kills >= 3, "never caught a consumer inside get_many"
        queue.put(b"done")
        survivor = context.Process(
            target=workers.consume_many_and_record, args=(queue, seen_name, context.Event())
        )
        survivor.start()
        survivor.join(60)
        assert survivor.exitcode == 0
        counts = seen.read_data((0,))
        assert counts.min() == 1, f"lost: {np.flatnonzero(counts == 0)[:10].tolist()}"
        assert counts.max() == 1, f"duplicated: {np.flatnonzero(counts > 1)[:10].tolist()}"
        assert queue.qsize() == 0, "the repairs left the item count off"


def test_producer_killed_inside_put_corrupts_nothing(queue_name: str) -> None:
    context = mp.get_context("fork")
    with ShmQueue(queue_name, capacity_bytes=32 << 20) as queue:
        victims = 0
        for attempt in range(3):
            victim = context.Process(target=workers.put_forever, args=(queue, 512 * 1024))
            victim.start()
            victims += kill_inside_lock(victim.pid, queue_name, seed=10 + attempt)
            victim.join(10)
            while True:  # drain: every item must be whole
                try:
                    item = queue.get(timeout=0)
                except QueueEmptyError:
                    break
                workers.check_item(item)
        assert victims >= 2, "never caught a producer inside put"
        queue.put(workers.make_item(1, 1, 1000))
        assert workers.check_item(queue.get(timeout=5)) == (1, 1)


def test_view_holder_killed_item_delivered_again(queue_name: str) -> None:
    context = mp.get_context("spawn")
    with ShmQueue(queue_name, capacity_bytes=1 << 20) as queue:
        queue.put(workers.make_item(3, 9, 5000))
        holding = context.Event()
        holder = context.Process(target=workers.take_view_and_wait, args=(queue, holding))
        holder.start()
        assert holding.wait(30)
        with pytest.raises(QueueEmptyError):
            queue.get_nowait()
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        item = queue.get(timeout=5)  # found again by the wait's periodic rescue
        assert workers.check_item(item) == (3, 9)
        assert queue.stats()["redelivered"] == 1


def test_counts_stay_exact_when_an_item_is_delivered_again(queue_name: str) -> None:
    context = mp.get_context("fork")
    with ShmQueue(queue_name, capacity_bytes=1 << 20) as queue:
        queue.put(b"first")
        holding = context.Event()
        holder = context.Process(target=workers.take_view_and_wait, args=(queue, holding))
        holder.start()
        assert holding.wait(30)
        assert (queue.qsize(), queue.empty()) == (0, True)
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        assert queue.ring().rescue_abandoned() == 1
        assert (queue.qsize(), queue.empty()) == (1, False)
        assert queue.get(timeout=5) == b"first"  # delivered again
        assert (queue.qsize(), queue.empty()) == (0, True)
        queue.put(b"second")
        assert (queue.qsize(), queue.empty()) == (1, False)
        # Taken in place and handed back (what the logger does after a failed write).
        ring = queue.ring()
        _kind, _meta, (position, _payload) = ring.get(5, take=True)
        assert (queue.qsize(), queue.empty()) == (0, True)
        ring.give_back([position])
        assert (queue.qsize(), queue.empty()) == (1, False)
        assert queue.get_many(4, timeout=5) == [b"second"]
        assert (queue.qsize(), queue.empty()) == (0, True)
        assert queue.stats()["redelivered"] == 2


class QueueAgainstDeque(RuleBasedStateMachine):
    """The queue behaves as a FIFO deque bounded by bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = ShmQueue(f"hq_{uuid.uuid4().hex[:12]}", capacity_bytes=2048)
        self.model: collections.deque[object] = collections.deque()

    @rule(size=st.integers(0, 1500), kind=st.sampled_from(["bytes", "array", "object"]))
    def put(self, size: int, kind: str) -> None:
        item: object = {
            "bytes": b"z" * size,
            "array": np.arange(size // 8, dtype=np.int64),
            "object": ("t", size),
        }[kind]
        try:
            self.queue.put_nowait(item)
            self.model.append(item)
        except QueueFullError:
            assert self.model, "an empty queue refused an item that fits"

    @rule()
    def get(self) -> None:
        if not self.model:
            with pytest.raises(QueueEmptyError):
                self.queue.get_nowait()
            return
        expected = self.model.popleft()
        got = self.queue.get_nowait()
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(got, expected)
        else:
            assert got == expected

    @rule(count=st.integers(1, 5))
    def get_many(self, count: int) -> None:
        if not self.model:
            return
        got = self.queue.get_many(count, timeout=0)
        assert len(got) == min(count, len(self.model))
        for item in got:
            expected = self.model.popleft()
            if isinstance(expected, np.ndarray):
                np.testing.assert_array_equal(item, expected)
            else:
                assert item == expected

    @invariant()
    def sizes_agree(self) -> None:
        assert self.queue.qsize() == len(self.model)

    def teardown(self) -> None:
        self.queue.close()


QueueAgainstDeque.TestCase.settings = settings(max_examples=40, deadline=None)
test_queue_state_machine = QueueAgainstDeque.TestCase
