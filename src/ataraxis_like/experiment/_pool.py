"""The experiment's own pool of worker processes, fed through shared-memory queues.

Workers take run orders from one ``ShmQueue`` and report on another: ``ready``, ``started``
(which run), and ``ended`` with the run's whole ``Outcome``, which the calling process (the
file's single writer) stores. A worker that dies mid-run has that run recorded as failed and is
replaced; an order a dead worker took but had not started is delivered again. A worker that
dies before it is ready (its function cannot be imported, say) stops the experiment.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import QueueEmptyError, QueueFullError
from ..shm.queue import ShmQueue
from ._run import FAILED, Outcome, execute
from ._writer import ResultsWriter
from .errors import ExperimentError

START_METHODS = ("spawn", "forkserver", "fork")
ORDERS_BYTES = 1 << 20  # run orders in flight to the workers (more wait in the parent)
_BATCH_MESSAGES = 4096


def worker_main(
    function: Callable[..., Any],
    directory: Path,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any] | None,
    tasks: Any,
    done: Any,
) -> None:
    """A pool process: take run orders until a stop order, report each run as it ends.

    An order stays taken (not released) until this worker has said which run it started, so
    a worker killed in between leaves the order to be delivered again, never lost.
    """
    done.put(("ready", os.getpid()))
    while True:
        view = tasks.get_view()
        order = view.value
        if order is None:
            view.release()
            return
        index, parameters = order
        done.put(("started", (os.getpid(), index)))
        view.release()
        done.put(("ended", execute(function, index, parameters, directory, args, kwargs)))


def check_start_method(start_method: str, processes: int) -> None:
    if start_method not in START_METHODS:
        raise ExperimentError(
            f"start_method must be one of {', '.join(START_METHODS)}, got {start_method!r}: "
            "pass 'spawn' unless runs are short and this process runs no other threads"
        )
    others = [
        thread.name for thread in threading.enumerate() if thread is not threading.current_thread()
    ]
    if start_method == "fork" and processes > 1 and others:
        raise ExperimentError(
            f"start_method='fork' copies this process, but other threads run in it "
            f"({', '.join(others)}) and the copies would inherit the locks they hold; use "
            "start_method='spawn' or 'forkserver', or start the experiment before those threads"
        )


def check_picklable(function: Callable[..., Any], what: str = "run(processes > 1)") -> None:
    try:
        pickle.dumps(function)
    except Exception as error:
        raise ExperimentError(
            f"{what} needs a function worker processes can import; "
            f"{function!r} cannot be pickled ({error}): define it at the top level of a module"
        ) from error


def _drain(queue: ShmQueue, limit: int | None = None) -> list[Any]:
    """What waits in ``queue`` (up to about ``limit`` items), without waiting."""
    items: list[Any] = []
    while limit is None or len(items) < limit:
        try:
            items += queue.get_many(256, timeout=0)
        except QueueEmptyError:
            break
    return items


class Pool:
    """The worker processes: started at once, replaced when they die mid-experiment.

    Replacements are always spawned: by then the results file is open in this process, and a
    forked copy holding its HDF5 handles could write to it when they are freed.
    """

    def __init__(
        self, start_method: str, arguments: tuple[Any, ...], count: int, queue_bytes: int
    ) -> None:
        self.tasks = ShmQueue(capacity_bytes=ORDERS_BYTES)
        try:
            self.done = ShmQueue(capacity_bytes=queue_bytes)
        except BaseException:
            self.tasks.close()
            raise
        self._arguments = (*arguments, self.tasks, self.done)
        self.ready: set[int] = set()
        self.running: dict[int, int] = {}  # worker pid -> run index
        self.workers: list[Any] = []
        try:
            context = mp.get_context(start_method)
            self.workers = [self._start(context) for _ in range(count)]
        except BaseException:
            self.close(kill=True)
            raise

    def _start(self, context: Any) -> Any:
        worker = context.Process(target=worker_main, args=self._arguments)
        worker.start()
        return worker

    def replace_dead(self) -> list[tuple[int, int | None]]:
        """Start a replacement for every worker that died; return ``(pid, exit code)`` of each.

        A worker that died before it was ready cannot run anything: that is an error.
        """
        dead = []
        for position, worker in enumerate(self.workers):
            if worker.is_alive() or worker.exitcode == 0:
                continue
            if worker.pid not in self.ready:
                raise ExperimentError(
                    f"worker process {worker.pid} exited with code {worker.exitcode} before it "
                    "was ready: its error is printed above (is the function importable from a "
                    "module, and are its arguments picklable?)"
                )
            dead.append((worker.pid, worker.exitcode))
            self.workers[position] = self._start(mp.get_context("spawn"))
        return dead

    def stop(self, kill_unready: bool = False, kill: bool = False) -> None:
        """Wait for the workers to finish their stop orders; kill them all after an error, or
        those not ready yet (they hold no order) once every run is done."""
        for worker in self.workers:
            if worker.exitcode is not None:
                continue
            if kill or (kill_unready and worker.pid not in self.ready):
                worker.kill()
            worker.join()

    def close(self, kill: bool = False) -> None:
        try:
            self.stop(kill=kill)
        finally:
            self.tasks.close()
            self.done.close()

    # ------------------------------------------------------------------ one session
    def run_all(self, orders: list[tuple[int, dict[str, Any]]], writer: ResultsWriter) -> None:
        """Send ``orders`` and a stop order per worker; store what comes back until every run
        has ended."""
        waiting: deque[Any] = deque(orders)
        waiting.extend(None for _ in self.workers)
        ended: set[int] = set()
        while len(ended) < len(orders):
            self._feed(waiting)
            try:
                messages = self.done.get_many(256, timeout=0.2)
            except QueueEmptyError:
                for pid, exitcode in self.replace_dead():
                    index = self.running.pop(pid, None)
                    if index is not None:
                        writer.add(Outcome(index, FAILED, time.time(), 0.0,
                                           f"worker process {pid} died (exit code {exitcode})",
                                           pid=pid))  # fmt: skip
                        ended.add(index)
                    waiting.append(None)  # the replacement needs its own stop order
                self.tasks.ring().rescue_abandoned()
                writer.commit_if_due()
                continue
            self._take(messages + _drain(self.done, _BATCH_MESSAGES), writer, ended)
        self._feed(waiting, wait=True)  # every run has ended: workers take their stop orders
        self._take(_drain(self.done), writer, ended)
        self.stop(kill_unready=True)  # a worker still starting up has nothing left to do
        self._take(_drain(self.done), writer, ended)  # a run delivered again after a death

    def _feed(self, waiting: deque[Any], wait: bool = False) -> None:
        """Put the orders that fit now (``wait``: all, once only stop orders are left): this
        process must go on storing what workers send meanwhile, or both queues could fill."""
        while waiting:
            try:
                self.tasks.put(waiting[0], timeout=None if wait else 0)
            except QueueFullError:
                return
            waiting.popleft()

    def _take(self, messages: list[Any], writer: ResultsWriter, ended: set[int]) -> None:
        for kind, value in messages:
            if kind == "ended":
                self.running.pop(value.pid, None)
                writer.add(value)
                ended.add(value.index)
            elif kind == "ready":
                self.ready.add(value)
            else:
                self.running[value[0]] = value[1]
