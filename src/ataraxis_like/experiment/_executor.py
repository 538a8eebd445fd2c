"""Runs as tasks of an existing executor: any ``concurrent.futures.Executor`` (a process pool,
loky, ``mpi4py.futures``, Dask's ``client.get_executor()``) or a Dask ``Client``.

Each task runs a few runs (``runs_per_task``) and returns their outcomes; the calling process,
the file's single writer, stores them as tasks finish. A worker that dies is handled by the
executor: Dask runs the task again on another worker and gives up after its
``allowed-failures`` (then the future raises ``KilledWorker``: those runs are stored as
failed); a ``ProcessPoolExecutor`` breaks instead (every task in flight raises
``BrokenProcessPool``): nothing is stored for those runs, which stay pending, and ``run``
raises ``ExperimentError`` once the finished tasks are stored.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._run import FAILED, Outcome, execute_many
from ._writer import ResultsWriter
from .errors import ExperimentArgumentError, ExperimentError


def as_executor(executor: Any) -> cf.Executor:
    """``executor`` itself, or the ``concurrent.futures`` face of a Dask ``Client``."""
    if isinstance(executor, cf.Executor):
        return executor
    get_executor = getattr(executor, "get_executor", None)
    if get_executor is None:
        raise ExperimentArgumentError(
            f"executor must be a concurrent.futures.Executor or a dask.distributed Client (got "
            f"{type(executor).__name__}); pass e.g. ProcessPoolExecutor() or Client(cluster)"
        )
    result: cf.Executor = get_executor(pure=False)  # every run is its own task, even if equal
    return result


def _slots(executor: cf.Executor) -> int:
    """How many tasks the executor runs at once, as far as it tells."""
    client = getattr(executor, "_client", None)
    if client is not None and hasattr(client, "nthreads"):
        return max(1, int(sum(client.nthreads().values())))
    count = getattr(executor, "_max_workers", None)
    return max(1, int(count) if count else (os.cpu_count() or 1))


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
    pool = as_executor(executor)
    chunks = iter([orders[start : start + runs_per_task] for start in
                   range(0, len(orders), runs_per_task)])  # fmt: skip
    limit = 2 * _slots(pool) + 2
    in_flight: dict[cf.Future[list[Outcome]], list[tuple[int, dict[str, Any]]]] = {}
    broken: BaseException | None = None

    def submit_more() -> None:
        nonlocal broken
        while broken is None and len(in_flight) < limit:
            chunk = next(chunks, None)
            if chunk is None:
                return
            try:
                future = pool.submit(execute_many, function, chunk, directory, args, kwargs)
            except cf.BrokenExecutor as error:
                broken = error
                return
            in_flight[future] = chunk

    submit_more()
    while in_flight:
        finished, _ = cf.wait(in_flight, timeout=0.1, return_when=cf.FIRST_COMPLETED)
        writer.commit_if_due()
        for future in finished:
            chunk = in_flight.pop(future)
            try:
                outcomes = future.result()
            except cf.BrokenExecutor as error:
                broken = error  # its runs stay pending: a later run() does them
                continue
            except Exception as error:  # the executor gave up on the task (Dask: KilledWorker)
                reason = f"the executor could not run it: {type(error).__name__}: {error}"
                for index, _ in chunk:
                    writer.add(Outcome(index, FAILED, time.time(), 0.0, reason))
                continue
            for outcome in outcomes:
                writer.add(outcome)
        submit_more()
    if broken is not None:
        raise ExperimentError(
            f"the executor broke ({type(broken).__name__}: {broken}); the runs it had in flight "
            "were not stored and stay pending: call run() again with a working executor"
        )
