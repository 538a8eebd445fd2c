"""The chaos run: start everything, kill at random, restart, stop, count on disk."""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from ..errors import LockOwnerDiedWarning
from ..hdf5 import Hdf5Sink, SinkError, open_sink
from ..logs import DataLogger, LoggerError
from ..shm import SharedMemoryArray
from ._report import ChaosReport
from ._verify import verify_logs, verify_rows
from ._workers import ROWS_KEY, append_rows, produce, run_worker

MAX_EPOCHS = 4096
STALL_SECONDS = 10.0
EXIT_DEADLOCK = 1
_FORKING = threading.Lock()


class _Workers:
    """Fork children of one kind, restarted in a new epoch after each kill."""

    def __init__(self, count: int, target: Callable[..., None], channel: Any,
                 acked: SharedMemoryArray, rng: random.Random) -> None:  # fmt: skip
        self.target, self.channel, self.acked, self.rng = target, channel, acked, rng
        self.epochs = [0] * count
        self.processes: list[Any] = [None] * count
        for index in range(count):
            self.launch(index)

    def launch(self, index: int) -> None:
        arguments = (self.channel, self.acked, index, self.epochs[index], self.rng.randrange(2**31))
        process = mp.get_context("fork").Process(
            target=run_worker, args=(os.getpid(), self.target, *arguments), daemon=True
        )
        with _FORKING:  # the deadlock watchdog takes it for good: no fork after its last look
            process.start()
        self.processes[index] = process

    def kill_one(self) -> bool:
        """SIGKILL a random worker and start its successor; False when epochs ran out."""
        index = self.rng.randrange(len(self.processes))
        os.kill(self.processes[index].pid, signal.SIGKILL)
        self.processes[index].join()
        self.epochs[index] += 1
        if self.epochs[index] >= MAX_EPOCHS:
            return False
        self.launch(index)
        return True

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join()


def _deadlock_watchdog(deadline: float, done: threading.Event, output: str) -> None:
    """If the run is not done by ``deadline`` (monotonic), print the stacks, kill every process
    this run started and exit 1."""
    if done.wait(max(0.0, deadline - time.monotonic())):
        return
    print(f"chaos run FAILED: deadlock: the run did not finish by its deadline; its data is kept "
          f"in {output}; stacks follow", file=sys.stderr, flush=True)  # fmt: skip
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    _FORKING.acquire(timeout=5.0)  # never released: this process forks no more workers
    # SIGKILL every process of the run and exit at once: waiting here would let the main thread
    # see its helpers die and exit first with another code. Fork workers also die with us
    # (PR_SET_PDEATHSIG); a logger or writer a restart thread starts meanwhile ends by itself
    # when it finds its owner gone.
    for process in psutil.Process().children(recursive=True):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    os._exit(EXIT_DEADLOCK)  # our segments go to the next library call of this user (stale)


class _Progress:
    """Notices a kind of work whose acknowledgements stop growing for STALL_SECONDS."""

    def __init__(self, name: str, acked: SharedMemoryArray) -> None:
        self.name, self.acked = name, acked
        self.total, self.since = 0, time.monotonic()

    def stalled(self) -> str | None:
        total = int(self.acked.read_data((0,)).sum())
        if total > self.total:
            self.total, self.since = total, time.monotonic()
            return None
        if time.monotonic() - self.since > STALL_SECONDS:
            return f"{self.name}: no acknowledgement for {STALL_SECONDS:g} s"
        return None


def run_chaos(
    seconds: float,
    producers: int = 3,
    seed: int = 0,
    output: Path | None = None,
    clients: int = 2,
    deadline: float | None = None,
) -> ChaosReport:
    """Run logger and sink for ``seconds`` while killing their processes; count what is on disk.

    ``deadline`` (s, default ``seconds + 60``) bounds the whole run including shutdown: past it
    the run is a deadlock, and the process prints every thread's stack and exits with code 1.
    """
    warnings.simplefilter("ignore", LockOwnerDiedWarning)  # expected: we kill lock holders
    rng = random.Random(seed)
    directory = Path(output) if output else Path(tempfile.mkdtemp(prefix="ataraxis_chaos_"))
    directory.mkdir(parents=True, exist_ok=True)
    report = ChaosReport(seconds=seconds, output=str(directory))
    tag = f"{os.getpid()}_{seed}"
    entry_acks = SharedMemoryArray.create_array(
        f"chaos_e_{tag}", np.zeros((producers, MAX_EPOCHS), dtype=np.int64)
    )
    row_acks = SharedMemoryArray.create_array(
        f"chaos_r_{tag}", np.zeros((clients, MAX_EPOCHS), dtype=np.int64)
    )
    logger = DataLogger(directory, "chaos", flush_interval=0.05, max_restarts=100_000,
                        queue_bytes=32 << 20)  # fmt: skip
    sink_path = directory / "chaos_rows.h5"
    sink = Hdf5Sink(sink_path, "w", sharing="queue", max_restarts=100_000,
                    queue_bytes=16 << 20, max_clients=4 * MAX_EPOCHS * max(1, clients))  # fmt: skip
    groups: list[_Workers] = []
    done = threading.Event()
    limit = time.monotonic() + (deadline if deadline is not None else seconds + 60.0)
    watchdog_arguments = (limit, done, str(directory))
    threading.Thread(target=_deadlock_watchdog, args=watchdog_arguments, daemon=True).start()
    logger.start()
    try:
        groups.append(_Workers(producers, produce, logger.input_queue, entry_acks, rng))
        groups.append(_Workers(clients, append_rows, sink.client(), row_acks, rng))
        watches = [_Progress("log entries", entry_acks), _Progress("sink rows", row_acks)]
        _kill_loop(seconds, rng, logger, sink, groups, report, watches)
    finally:
        for group in groups:
            group.stop()
        _stop(report, logger.stop, logger.close, sink.close)
    done.set()
    report.entries = verify_logs(logger.output_directory, entry_acks.read_data((0,)))
    with open_sink(sink_path) as reader:
        rows = reader.load(ROWS_KEY) if ROWS_KEY in reader else np.empty((0, 3), np.int64)
    report.rows = verify_rows(rows, row_acks.read_data((0,)))
    entry_acks.destroy()
    row_acks.destroy()
    if output is None and report.passed:
        shutil.rmtree(directory, ignore_errors=True)  # nothing to look at: give the space back
        report.output = f"{directory} (removed: the run passed; pass --output to keep it)"
    return report


def _kill_loop(
    seconds: float,
    rng: random.Random,
    logger: DataLogger,
    sink: Hdf5Sink,
    groups: list[_Workers],
    report: ChaosReport,
    progress: list[_Progress],
) -> None:
    """Until ``seconds`` pass: sleep a random moment, SIGKILL one random process, restart it."""
    producers, clients = groups
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(rng.uniform(0.05, 0.3))
        victim = rng.choice(("producer", "logger", "client", "writer"))
        if victim in ("logger", "writer"):
            process = logger._process if victim == "logger" else None
            pid = process.pid if process is not None else sink.writer_pid
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)  # may already have exited: the watchdog restarts
                except ProcessLookupError:
                    pass
        elif not (producers if victim == "producer" else clients).kill_one():
            break
        report.kills[victim] += 1
        stalls = [why for why in (watch.stalled() for watch in progress) if why]
        if stalls:
            report.stalls += stalls
            break


def _stop(report: ChaosReport, *steps: Callable[[], None]) -> None:
    """Run each shutdown step; a restart notice is expected, any other error fails the run."""
    for step in steps:
        try:
            step()
        except (LoggerError, SinkError) as error:
            if "deaths" not in error.details:  # the restart notice: nothing accepted was lost
                report.errors.append(str(error))
