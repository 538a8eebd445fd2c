"""HDF5 lock workloads: one case, one lock, in a fresh process; prints one JSON object.

Usage: python hdf5_lock_workload.py CASE LOCK [REDIS_PORT]
CASE: wait (a writer's wait with 4 readers that never pause), roundtrip (acquire + release,
uncontended), appends (one row per call, opening the file per call as h5pySWMR does), sink
(one row per call from 2 processes, each a lock-mode Hdf5Sink: buffered, one locked batch per
flush; LOCK flock or redis).
LOCK: main (the flock lock before writer preference: plain LOCK_SH/LOCK_EX polling, kept here
to measure "before"), flock, redis (ours), h5pyswmr (h5pySWMR's algorithm, see below), none
(raw h5py: no lock; "open" opens the file per call, "kept" keeps it open), h5pyswmr-real (the
h5pySWMR package, under an interpreter that can import it).

h5pySWMR is not on PyPI (only its GitHub repository, unmaintained), so its design is
re-implemented here from its locking.py, clearly as a model: the second readers-writers problem
over Redis locks made of SETNX + EXPIRE, polled every millisecond and released with
WATCH/GET/MULTI/DEL; readers pass mutex3, r and mutex1 to count themselves in (the first takes
w); writers pass mutex2 to count themselves in (the first takes r), then take w.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py

CASE, LOCK = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
URL = f"redis://127.0.0.1:{PORT}/0"
READERS, READ_HOLD, WRITES, WAIT_CAP = 4, 0.005, 20, 2.0


class MainFlock:
    """The lock as it was before writer preference: readers and writers poll one flock."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o666)

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None:
        operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(self.fd, operation)
                return
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class SwmrModel:
    """h5pySWMR's readers-writer algorithm (see the module docstring), one file's locks."""

    def __init__(self, path: Path) -> None:
        import redis

        self.redis = redis.Redis(port=PORT, decode_responses=True)
        self.name = str(path)
        self.ticket = ""

    def _take(self, lock: str, ident: str, timeout: float = 15.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.redis.setnx(f"{lock}__{self.name}", ident):
                self.redis.expire(f"{lock}__{self.name}", 20)
                return
            time.sleep(0.001)
        raise TimeoutError(lock)

    def _give(self, lock: str, ident: str) -> None:
        key = f"{lock}__{self.name}"
        with self.redis.pipeline(True) as pipe:
            pipe.watch(key)
            if pipe.get(key) == ident:
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
            else:
                pipe.unwatch()

    @contextmanager
    def _mutex(self, lock: str) -> Iterator[None]:
        ident = f"pid{os.getpid()}_{uuid.uuid4()}"
        self._take(lock, ident)
        try:
            yield
        finally:
            self._give(lock, ident)

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None:
        if exclusive:
            with self._mutex("mutex2"):
                if self.redis.incr(f"writecount__{self.name}") == 1:
                    self._take("r", "id_writer")
            self.ticket = f"pid{os.getpid()}_{uuid.uuid4()}"
            self._take("w", self.ticket, timeout or 15.0)
        else:
            with self._mutex("mutex3"), self._mutex("r"), self._mutex("mutex1"):
                if self.redis.incr(f"readcount__{self.name}") == 1:
                    self._take("w", "id_reader")

    def release(self, exclusive: bool = True) -> None:
        if exclusive:
            self._give("w", self.ticket)
            with self._mutex("mutex2"):
                if self.redis.decr(f"writecount__{self.name}") == 0:
                    self._give("r", "id_writer")
        else:
            with self._mutex("mutex1"):
                if self.redis.decr(f"readcount__{self.name}") == 0:
                    self._give("w", "id_reader")


def make_lock(path: Path) -> Any:
    if LOCK == "main":
        return MainFlock(path)
    if LOCK == "h5pyswmr":
        return SwmrModel(path)
    if LOCK == "h5pyswmr-real":
        return RealSwmr(path)
    from ataraxis_like.hdf5._locks import open_lock

    return open_lock(path, URL if LOCK == "redis" else "flock")


class RealSwmr:
    """The h5pySWMR package itself, when this interpreter can import it: its decorators hold
    its lock around a call, so ``hold`` runs the body inside a decorated function."""

    def __init__(self, path: Path) -> None:
        import redis
        from h5pyswmr import locking

        locking.redis_conn = redis.StrictRedis(port=PORT, decode_responses=True)
        self.locking = locking
        self.file = str(path)


def hold(lock: Any, exclusive: bool, timeout: float, body: Callable[[], None]) -> None:
    """Run ``body`` under ``lock`` (TimeoutError when it is not had within ``timeout``)."""
    if isinstance(lock, RealSwmr):  # its own timeouts: 15-20 s
        decorator = lock.locking.writer if exclusive else lock.locking.reader
        decorator(lambda _self: body())(lock)
        return
    lock.acquire(exclusive, timeout)
    try:
        body()
    finally:
        if isinstance(lock, SwmrModel):
            lock.release(exclusive)
        else:
            lock.release()


def reader(path: Path, stop: Any, started: Any) -> None:
    lock = make_lock(path)
    started.release()
    while not stop.is_set():
        hold(lock, False, 60, lambda: time.sleep(READ_HOLD))


def writer_wait(path: Path) -> dict[str, float]:
    context = mp.get_context("fork")
    stop, started = context.Event(), context.Semaphore(0)
    readers = [context.Process(target=reader, args=(path, stop, started)) for _ in range(READERS)]
    for process in readers:
        process.start()
    for _ in readers:
        started.acquire()
    time.sleep(0.2)
    waits, timeouts = [], 0
    lock = make_lock(path)
    entered: list[float] = []
    try:
        for _ in range(WRITES):
            began = time.monotonic()
            try:
                hold(lock, True, WAIT_CAP,
                     lambda: (entered.append(time.monotonic()), time.sleep(0.001)))  # fmt: skip
            except TimeoutError:
                timeouts += 1
                waits.append(WAIT_CAP)
                continue
            waits.append(entered[-1] - began)
            time.sleep(0.05)
    finally:
        stop.set()
        for process in readers:
            process.join(60)
    waits.sort()
    return {"median_ms": statistics.median(waits) * 1e3,
            "p99_ms": waits[min(len(waits) - 1, int(0.99 * len(waits)))] * 1e3,
            "timeouts": timeouts, "tries": WRITES}  # fmt: skip


def roundtrip(path: Path) -> dict[str, float]:
    lock = make_lock(path)
    count = 2000 if LOCK in ("flock", "main") else 300
    began = time.perf_counter()
    for _ in range(count):
        hold(lock, True, 10, lambda: None)
    return {"us": (time.perf_counter() - began) / count * 1e6}


def appends(path: Path) -> dict[str, float]:
    """One row per call: resize, then write the row (two calls, as h5pySWMR code does)."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("x", shape=(0,), maxshape=(None,), chunks=(4096,), dtype="f8")
    count = 300
    if LOCK == "kept":
        began = time.perf_counter()
        with h5py.File(path, "a") as handle:
            for row in range(count):
                handle["x"].resize((row + 1,))
                handle["x"][row] = row
        return {"rows_per_s": count / (time.perf_counter() - began)}
    if LOCK == "h5pyswmr-real":
        RealSwmr(path)  # points its lock at our server
        from h5pyswmr import File

        dataset = File(str(path), "a")["x"]
        began = time.perf_counter()
        for row in range(count):
            dataset.resize((row + 1,))
            dataset[row] = row
        return {"rows_per_s": count / (time.perf_counter() - began)}
    if LOCK in ("flock", "redis"):
        from ataraxis_like.compat import h5pyswmr

        h5pyswmr.locking.lock_url = URL if LOCK == "redis" else None
        dataset = h5pyswmr.File(str(path), "a")["x"]
        began = time.perf_counter()
        for row in range(count):
            dataset.resize((row + 1,))
            dataset[row] = row
        return {"rows_per_s": count / (time.perf_counter() - began)}
    lock = make_lock(path) if LOCK == "h5pyswmr" else None

    def call(work: Callable[[h5py.File], None]) -> None:
        def opened() -> None:
            with h5py.File(path, "r+") as handle:
                work(handle)

        if lock is None:
            opened()
        else:
            hold(lock, True, 60, opened)

    began = time.perf_counter()
    for row in range(count):
        call(lambda handle, row=row: handle["x"].resize((row + 1,)))
        call(lambda handle, row=row: handle["x"].__setitem__(row, row))
    return {"rows_per_s": count / (time.perf_counter() - began)}


def sink_producer(path: Path, writer: int, count: int, start: Any) -> None:
    from ataraxis_like.hdf5 import Hdf5Sink

    with Hdf5Sink(path, "a", sharing="lock", lock=URL if LOCK == "redis" else None) as sink:
        start.wait()
        for row in range(count):
            sink.append(f"w{writer}", float(row))


def sink(path: Path) -> dict[str, float]:
    """Rows/s of two processes appending one row per call through lock-mode sinks."""
    from ataraxis_like.hdf5 import Hdf5Sink

    path.unlink()
    Hdf5Sink(path, "w", sharing="lock", lock=URL if LOCK == "redis" else None).close()
    count = 200_000
    context = mp.get_context("fork")
    start = context.Event()
    writers = [context.Process(target=sink_producer, args=(path, writer, count, start))
               for writer in range(2)]  # fmt: skip
    for process in writers:
        process.start()
    time.sleep(0.5)  # both sinks open (their first batch read the file's keys)
    began = time.perf_counter()
    start.set()
    for process in writers:
        process.join(600)
    elapsed = time.perf_counter() - began
    with h5py.File(path, "r") as handle:
        assert all(len(handle[f"w{writer}"]) == count for writer in range(2))
    return {"rows_per_s": 2 * count / elapsed}


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path.home()) as directory:
        path = Path(directory) / "bench.h5"
        path.touch()
        work = {"wait": writer_wait, "roundtrip": roundtrip, "appends": appends,
                "sink": sink}[CASE]  # fmt: skip
        figures = work(path)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
