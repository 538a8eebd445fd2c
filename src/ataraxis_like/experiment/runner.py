"""Experiment: run a function over a parameter space, in a pool of processes, resumably.

Every run's outcome reaches one HDF5 file, ``results.h5`` in the experiment directory, through
one sink: the calling process is its single writer, and pool workers send it their results.
A run is done once its status attribute is in the file, so calling ``run`` again after a crash
(or a SIGKILL of the whole experiment) runs exactly the runs that never finished, in every
execution mode. Provenance is stored once per session.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import pickle
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AtaraxisError, QueueEmptyError, QueueFullError
from ..hdf5 import Hdf5Sink, open_sink, recover
from ..shm.queue import ShmQueue
from . import provenance
from ._worker import Run, execute, run_key, worker_main
from .params import ParameterSpace

RESULTS_FILE = "results.h5"
START_METHODS = ("spawn", "forkserver", "fork")
_BATCH_MESSAGES = 4096
_ORDERS_BYTES = 1 << 20  # run orders in flight to the workers (more wait in this process)


class ExperimentError(AtaraxisError, RuntimeError):
    """The experiment cannot run as asked (changed parameters, a lost worker, ...)."""


def read_state(path: Path) -> tuple[dict[int, str], dict[str, Any]]:
    """The recorded status of every run and the file's own attributes (a new file: empty).

    A file whose writer was killed is recovered first.
    """
    if not path.exists():
        return {}, {}
    recover(path)
    statuses: dict[int, str] = {}
    with open_sink(path) as reader:
        runs = reader.file.get("runs")
        for name in runs.keys() if runs is not None else ():
            status = runs[name].attrs.get("status")
            if status is not None:
                statuses[int(name[1:])] = str(status)
        attributes = dict(reader.file.attrs)
    return statuses, attributes


def sink_state(sink: Hdf5Sink) -> tuple[dict[int, str], dict[str, Any]]:
    """``read_state`` through the sink that writes the file (its writer lock held)."""
    statuses: dict[int, str] = {}
    keys = sink.keys()
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "runs" and parts[2] == "index":  # one per run group
            status = sink.attrs(f"runs/{parts[1]}").get("status")
            if status is not None:
                statuses[int(parts[1][1:])] = str(status)
    return statuses, sink.attrs("/")


def read_statuses(path: Path) -> dict[int, str]:
    """The recorded status of every run in the results file."""
    return read_state(path)[0]


class Experiment:
    """A named parameter exploration stored in ``directory``.

    ``defaults`` is a mapping or a dataclass instance (a YamlConfig serves); ``exploration`` a
    list of points such as ``cartesian_product(x=[...], y=[...])``. ``repository`` is the git
    work tree of the code that runs, recorded with the results; ``require_clean`` refuses to
    start on uncommitted changes. ``queue_bytes`` bounds what pool workers may have in flight
    to the parent (one run's results must fit).
    """

    def __init__(
        self,
        name: str,
        directory: Path | str,
        defaults: Mapping[str, Any] | Any = None,
        exploration: Sequence[Mapping[str, Any]] = (),
        *,
        repository: Path | str | None = None,
        require_clean: bool = False,
        queue_bytes: int = 64 << 20,
    ) -> None:
        self.name = name
        self.directory = Path(directory)
        self.space = ParameterSpace.build({} if defaults is None else defaults, exploration)
        self.repository = repository
        self.require_clean = require_clean
        self.queue_bytes = queue_bytes

    @property
    def results_path(self) -> Path:
        return self.directory / RESULTS_FILE

    def pending(self, retry_failed: bool = False) -> list[int]:
        """Indices of the runs a ``run`` call would execute now."""
        return self._pending(read_statuses(self.results_path), retry_failed)

    def _pending(self, statuses: dict[int, str], retry_failed: bool) -> list[int]:
        wanted = {"completed"} if retry_failed else {"completed", "failed"}
        return [index for index in range(len(self.space)) if statuses.get(index) not in wanted]

    def run(
        self,
        function: Callable[[Run], Any],
        processes: int = 1,
        retry_failed: bool = False,
        start_method: str = "spawn",
    ) -> dict[str, int]:
        """Execute every run not done yet; return how many completed, failed and were skipped.

        ``processes=1`` runs in this process; more start that many worker processes (the
        function must then be importable, as for any process pool). ``start_method`` is how
        they start: "spawn" (a clean interpreter each, safe anywhere), "forkserver", or
        "fork" (a copy of this process in milliseconds, for many short runs; refused while
        other threads run here, whose locks the copies would inherit).
        """
        _check_start_method(start_method, processes)
        facts = provenance.collect(self.repository, self.require_clean)
        self.directory.mkdir(parents=True, exist_ok=True)
        statuses, attributes = read_state(self.results_path)  # a first look, without the lock
        self._check_same_space(attributes)
        workers = min(processes, len(self._pending(statuses, retry_failed)))
        with ExitStack() as stack:
            pool = None
            if processes > 1 and workers:  # before the file opens: forked workers must not share it
                pool = self._start_pool(stack, function, workers, start_method)
            # This process is the file's single writer; pool workers send it what to store.
            sink = stack.enter_context(Hdf5Sink(self.results_path, "a"))
            # Decided under the file's writer lock: another run may have ended runs meanwhile.
            statuses, attributes = sink_state(sink)
            self._check_same_space(attributes)
            todo = self._pending(statuses, retry_failed)
            counts = {"completed": 0, "failed": 0, "skipped": len(self.space) - len(todo)}
            session = sum(1 for key in attributes if key.endswith("_provenance"))
            sink.set_attrs(
                "/",
                experiment=self.name,
                space=self.space.fingerprint(),
                defaults=json.dumps(self.space.defaults),
                exploration=json.dumps(list(self.space.points)),
                runs=len(self.space),
                **{f"session_{session}_provenance": json.dumps(facts)},
            )
            if pool is None:
                for index in todo:
                    outcome = execute(function, index, self.space.run_parameters(index),
                                      self.directory, sink)  # fmt: skip
                    counts[outcome["status"]] += 1
            else:
                for outcome in self._finish_pool(pool, todo, sink):
                    counts[outcome["status"]] += 1
            sink.set_attrs("/", **{f"session_{session}_end": provenance.utc_now()})
            sink.flush()
        return counts

    def _check_same_space(self, attributes: dict[str, Any]) -> None:
        recorded = attributes.get("space")
        if recorded is not None and recorded != self.space.fingerprint():
            raise ExperimentError(
                f"{self.results_path} holds a different parameter space than this experiment; "
                "resume with the same defaults and exploration, or use a new directory",
                path=str(self.results_path),
            )

    def _start_pool(
        self, stack: ExitStack, function: Callable[[Run], Any], count: int, start_method: str
    ) -> _Pool:
        """Start ``count`` workers; they wait for run orders, which ``_finish_pool`` sends.

        Workers take run orders from a shared-memory queue and send progress and results on
        another, which this process applies to the file in the order sent. A worker that dies
        mid-run has that run recorded as failed and is replaced; an order a dead worker took
        but had not started is delivered again. A worker that dies before it is ready (its
        function cannot be imported, say) stops the experiment with an error.
        """
        _check_picklable(function)
        tasks = stack.enter_context(ShmQueue(capacity_bytes=_ORDERS_BYTES))
        done = stack.enter_context(ShmQueue(capacity_bytes=self.queue_bytes))
        pool = _Pool(mp.get_context(start_method), (function, self.directory, tasks, done), count)
        stack.callback(pool.stop, kill=True)  # only does anything when the run did not finish
        return pool

    def _finish_pool(self, pool: _Pool, todo: list[int], sink: Hdf5Sink) -> list[dict[str, Any]]:
        """Send the orders for ``todo`` and one stop order per worker; apply what comes back."""
        orders = _Orders(pool.tasks, [(index, self.space.run_parameters(index)) for index in todo])
        for _ in pool.workers:
            orders.add(None)
        done = pool.done
        progress = _Progress(pool, _ResultWriter(sink))
        self._collect(progress, todo, orders, done)
        orders.feed(wait=True)  # every run has ended: the workers now take their stop orders
        progress.take(_drain(done))
        pool.stop(kill_unready=True)  # a worker still starting up has nothing left to do
        progress.take(_drain(done))  # a run delivered again after its worker died
        return list(progress.outcomes.values())

    def _collect(
        self, progress: _Progress, todo: list[int], orders: _Orders, done: ShmQueue
    ) -> None:
        """Apply what workers send until every run has ended; replace workers that die."""
        while len(progress.outcomes) < len(todo):
            orders.feed()
            try:
                messages = done.get_many(256, timeout=0.2)
            except QueueEmptyError:
                for pid, exitcode in progress.pool.replace_dead():
                    index = progress.running.pop(pid, None)
                    if index is not None:
                        self._record_lost(progress.writer.sink, index, pid, exitcode)
                        progress.outcomes[index] = {
                            "index": index, "status": "failed", "duration_s": 0.0
                        }  # fmt: skip
                    orders.add(None)  # the replacement needs its own stop order
                orders.tasks.ring().rescue_abandoned()
                continue
            progress.take(messages + _drain(done, _BATCH_MESSAGES))  # in one window of the file

    def _record_lost(self, sink: Hdf5Sink, index: int, pid: int, exitcode: int | None) -> None:
        sink.write(f"{run_key(index)}/index", np.asarray(index))
        sink.set_attrs(
            run_key(index),
            status="failed",
            error=f"worker process {pid} died (exit code {exitcode})",
            stored=json.dumps({"results": [], "recorder": False}),
            duration_s=0.0,
            parameters=json.dumps(self.space.run_parameters(index)),
        )

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, {str(self.directory)!r}, runs={len(self.space)})"


class _Orders:
    """Orders for the workers, put on their bounded queue as it has room: this process must
    go on applying what the workers send meanwhile, or a long exploration would stall with
    both queues full."""

    def __init__(self, tasks: ShmQueue, orders: list[Any]) -> None:
        self.tasks = tasks
        self._waiting = deque(orders)

    def add(self, order: Any) -> None:
        self._waiting.append(order)

    def feed(self, wait: bool = False) -> None:
        """Put what fits now (``wait``: everything, once only stop orders are left)."""
        waiting = self._waiting
        while waiting:
            try:
                self.tasks.put(waiting[0], timeout=None if wait else 0)
            except QueueFullError:
                return
            waiting.popleft()


class _Progress:
    """What the workers have reported: who is ready, which run each one runs, how runs ended."""

    def __init__(self, pool: _Pool, writer: _ResultWriter) -> None:
        self.pool = pool
        self.writer = writer
        self.running: dict[int, int] = {}  # worker pid -> run index
        self.outcomes: dict[int, dict[str, Any]] = {}

    def take(self, messages: list[Any]) -> None:
        """Apply a batch of worker messages, in order, with one reopening of the file."""
        with self.writer.sink.grouped():
            for kind, value in messages:
                if kind == "write" or kind == "attrs":
                    self.writer.apply(kind, value)
                elif kind == "ready":
                    self.pool.ready.add(value)
                elif kind == "started":
                    self.running[value[0]] = value[1]
                else:
                    self.running.pop(value["pid"], None)
                    self.outcomes[value["index"]] = self.writer.ended(value)


class _ResultWriter:
    """Applies what pool workers send to the results file, in the order each one sent it.

    A write the file refuses (a key clash between results, say) fails that run: its later
    writes are skipped and its status becomes ``failed`` with the reason.
    """

    def __init__(self, sink: Hdf5Sink) -> None:
        self.sink = sink
        self._refused: dict[int, str] = {}

    def apply(self, kind: str, message: tuple[Any, ...]) -> None:
        index, key, value = message
        if index in self._refused:
            if kind == "attrs" and "status" in value:
                value = {**value, "status": "failed", "error": self._refused[index]}
                self.sink.set_attrs(key, **value)
            return
        try:
            if kind == "write":
                self.sink.write(key, value)
            else:
                self.sink.set_attrs(key, **value)
        except OSError:
            raise  # the file or the disk failed: no run's fault, the experiment stops
        except Exception as error:
            self._refused[index] = f"the run's results could not be stored: {error}"
            if kind == "attrs" and "status" in value:
                self.apply(kind, message)

    def ended(self, outcome: dict[str, Any]) -> dict[str, Any]:
        if outcome["index"] in self._refused:
            return {**outcome, "status": "failed"}
        return outcome


def _check_start_method(start_method: str, processes: int) -> None:
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


def _check_picklable(function: Callable[..., Any]) -> None:
    try:
        pickle.dumps(function)
    except Exception as error:
        raise ExperimentError(
            f"run(processes > 1) needs a function worker processes can import; "
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


class _Pool:
    """The worker processes: started at once, replaced when they die mid-experiment.

    Replacements are always spawned: by then the results file is open in this process, and a
    forked copy holding its HDF5 handles could write to it when they are freed.
    """

    def __init__(self, context: Any, arguments: tuple[Any, ...], count: int) -> None:
        self._arguments = arguments
        self.tasks: ShmQueue = arguments[2]
        self.done: ShmQueue = arguments[3]
        self.ready: set[int] = set()
        self.workers = [self._start(context) for _ in range(count)]

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

    def stop(self, kill: bool = False, kill_unready: bool = False) -> None:
        """Wait for the workers to finish their stop orders; kill them all after an error, or
        those not ready yet (they hold no order) once every run is done."""
        for worker in self.workers:
            if worker.exitcode is not None:
                continue
            if kill or (kill_unready and worker.pid not in self.ready):
                worker.kill()
            worker.join()


__all__ = ["Experiment", "ExperimentError", "Run", "read_statuses", "run_key"]
