"""Runs as tasks of an existing executor: any ``concurrent.futures.Executor`` (a process pool,
loky, ``mpi4py.futures``) or a Dask ``Client`` (also when given as ``client.get_executor()``).

Each task runs a few runs (``runs_per_task``) and returns their outcomes; the calling process,
the file's single writer, stores them as tasks finish. A worker that dies is handled by the
executor: Dask runs the task again on another worker and gives up after its
``allowed-failures`` (then the future raises ``KilledWorker``: those runs are stored as
failed); a ``ProcessPoolExecutor`` breaks instead (every task in flight raises
``BrokenProcessPool``): nothing is stored for those runs, which stay pending, and ``run``
raises ``ExperimentError`` once the finished tasks are stored.

Dask tasks go through the ``Client`` itself, never through its ``concurrent.futures`` face:
that face settles a task from the future's status read again after the result arrived, so a
worker dying at that moment (its finished results now "lost") turned a good result into a
``ValueError`` or ``TypeError`` (a few tasks in a hundred kills:
``benchmarks/dask_lost_results.py``). A Dask future whose result is lost computes it again,
and ``result()`` waits for that.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from ._run import FAILED, Outcome, execute_many
from ._writer import ResultsWriter
from .errors import ExperimentArgumentError, ExperimentError

# A Dask future is asked whether it is done (a flag read) after 0.5 ms, then ever less often.
_FIRST_POLL_SECONDS, _LAST_POLL_SECONDS = 0.0005, 0.02
Settled = list[Outcome] | Exception  # a task's outcomes, or why the executor could not run it


class _PoolTasks:
    """Tasks of a ``concurrent.futures.Executor``."""

    def __init__(self, pool: cf.Executor) -> None:
        self.pool = pool

    def slots(self) -> int:
        """How many tasks the pool runs at once, as far as it tells."""
        count = getattr(self.pool, "_max_workers", None)
        return max(1, int(count) if count else (os.cpu_count() or 1))

    def submit(self, *call: Any) -> Any:
        return self.pool.submit(execute_many, *call)

    def finished(self, futures: Collection[Any], timeout: float) -> set[Any]:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def settle(self, futures: Collection[Any]) -> list[tuple[Any, Settled]]:
        return [(future, _settled(future)) for future in futures]


class _DaskTasks:
    """Tasks of a Dask ``Client``: each a future of its own (``pure=False``), with the
    options a ``client.get_executor(...)`` was made with."""

    def __init__(self, client: Any, options: Mapping[str, Any]) -> None:
        self.client = client
        self.options = {**options, "pure": False}  # every task its own, even if equal

    def slots(self) -> int:
        """The cluster's threads (asks the scheduler: once per run, not in the option check)."""
        return max(1, int(sum(self.client.nthreads().values())))

    def submit(self, *call: Any) -> Any:
        return self.client.submit(execute_many, *call, **self.options)

    def finished(self, futures: Collection[Any], timeout: float) -> set[Any]:
        """The futures done within ``timeout``. Polled: the client's ``wait`` would wait on
        the default client, which need not be this one."""
        deadline, pause = time.monotonic() + timeout, _FIRST_POLL_SECONDS
        while True:
            done = {future for future in futures if future.done()}
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(pause)
            pause = min(2 * pause, _LAST_POLL_SECONDS)

    def settle(self, futures: Collection[Any]) -> list[tuple[Any, Settled]]:
        """Each future's outcomes or error; the finished ones' results in one gather (one
        round trip instead of one each). A result lost meanwhile is computed again first."""
        ready = [future for future in futures if future.status == "finished"]
        settled: list[tuple[Any, Settled]] = []
        if ready:
            try:
                settled = list(zip(ready, self.client.gather(ready), strict=True))
            except Exception:  # one failed after all (its recomputation): each on its own
                settled = []
        gathered = {id(future) for future, _ in settled}
        return settled + [(f, _settled(f)) for f in futures if id(f) not in gathered]


def _settled(future: Any) -> Settled:
    try:
        outcomes: list[Outcome] = future.result()
    except Exception as error:
        return error
    return outcomes


def _tasks(executor: Any) -> _PoolTasks | _DaskTasks:
    """How to send tasks to ``executor``, or ExperimentArgumentError."""
    client = getattr(executor, "_client", None)  # Dask's ClientExecutor keeps its client here
    if isinstance(executor, cf.Executor) and _is_dask_client(client):
        return _DaskTasks(client, getattr(executor, "_kwargs", {}))
    if isinstance(executor, cf.Executor):
        return _PoolTasks(executor)
    if _is_dask_client(executor):
        return _DaskTasks(executor, {})
    raise ExperimentArgumentError(
        f"executor must be a concurrent.futures.Executor or a dask.distributed Client (got "
        f"{type(executor).__name__}); pass e.g. ProcessPoolExecutor() or Client(cluster)"
    )


def _is_dask_client(candidate: Any) -> bool:
    return all(hasattr(candidate, name) for name in ("submit", "nthreads", "get_executor"))


def check_executor(executor: Any) -> None:
    """ExperimentArgumentError unless ``executor`` is something ``run`` can send tasks to."""
    _tasks(executor)


def start_forked_workers(executor: Any) -> None:
    """Make a fork-context ``ProcessPoolExecutor`` start its workers now, before the results
    file opens: it forks them all at its first task, and a worker forked later would inherit
    the file's descriptor and keep it open (refusing a resume) after this process is killed.
    Workers of other executors are not forked from this process."""
    if isinstance(executor, cf.ProcessPoolExecutor):
        executor.submit(int).result()


def run_on_executor(
    executor: Any,
    orders: list[tuple[int, dict[str, Any]]],
    writer: ResultsWriter,
    function: Callable[..., Any],
    directory: Path,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any] | None,
    runs_per_task: int,
) -> None:
    """Submit ``orders`` (a bounded number of tasks at a time) and store every outcome."""
    tasks = _tasks(executor)
    chunks = iter([orders[start : start + runs_per_task] for start in
                   range(0, len(orders), runs_per_task)])  # fmt: skip
    limit = 2 * tasks.slots() + 2
    in_flight: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    broken: BaseException | None = None

    def submit_more() -> None:
        nonlocal broken
        while broken is None and len(in_flight) < limit:
            chunk = next(chunks, None)
            if chunk is None:
                return
            try:
                future = tasks.submit(function, chunk, directory, args, kwargs)
            except cf.BrokenExecutor as error:
                broken = error
                return
            in_flight[future] = chunk

    submit_more()
    while in_flight:
        finished = tasks.finished(in_flight, timeout=0.1)
        writer.commit_if_due()
        for future, settled in tasks.settle(finished):
            chunk = in_flight.pop(future)
            if isinstance(settled, cf.BrokenExecutor):
                broken = settled  # its runs stay pending: a later run() does them
            elif isinstance(settled, Exception):  # the executor gave up (Dask: KilledWorker)
                reason = f"the executor could not run it: {type(settled).__name__}: {settled}"
                for index, _ in chunk:
                    writer.add(Outcome(index, FAILED, time.time(), 0.0, reason))
            else:
                for outcome in settled:
                    writer.add(outcome)
        submit_more()
    if broken is not None:
        raise ExperimentError(
            f"the executor broke ({type(broken).__name__}: {broken}); the runs it had in flight "
            "were not stored and stay pending: call run() again with a working executor"
        )
