"""Experiment: run a function over a parameter space, in this process, a pool of processes or
any executor, resumably.

Every run's outcome reaches one HDF5 file, ``results.h5`` in the experiment directory, through
one sink: the calling process is its single writer in every mode, and stores outcomes in
batches (see _writer.py). A run is done once its row is in the file's run table, so calling
``run`` again after a crash (or a SIGKILL of the whole experiment) runs exactly the runs that
never finished, in every execution mode. Provenance is stored once per session.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import Hdf5Sink, open_sink, recover
from ..hdf5._store import compression_options
from . import provenance
from ._executor import check_executor, run_on_executor, start_forked_workers
from ._layout import (
    EXPLORATION,
    LAYOUT_VERSION,
    TABLE,
    TABLE_DTYPE,
    is_layout1,
    same_space,
    space_hash,
    statuses_of,
)
from ._pool import Pool, check_picklable, check_start_method
from ._run import Run, execute
from ._session_log import SessionLog
from ._writer import ResultsWriter
from .errors import ExperimentArgumentError, ExperimentError
from .params import ParameterSpace

RESULTS_FILE = "results.h5"


def _layout1_error(path: Path) -> ExperimentError:
    return ExperimentError(
        f"{path} has results layout 1 (written by ataraxis-like before the run table), which "
        "loads but takes no new runs; convert it with ataraxis_like.experiment.upgrade("
        f"{str(path.parent)!r}) and run again, or run in a new directory",
        path=str(path),
    )


def read_state(path: Path) -> tuple[dict[int, str], dict[str, Any]]:
    """The recorded status of every run and the file's own attributes (a new file: empty).

    A file whose writer was killed is recovered first.
    """
    if not path.exists():
        return {}, {}
    recover(path)
    with open_sink(path) as reader:
        attributes = dict(reader.file.attrs)
        runs = reader.file.get(TABLE)
        layout1 = runs is not None and not hasattr(runs, "dtype")
        if layout1 and is_layout1(attributes, [f"runs/{name}" for name in runs]):
            raise _layout1_error(path)
        table = runs[()] if runs is not None else np.zeros(0, dtype=TABLE_DTYPE)
    return statuses_of(table), attributes


def sink_state(sink: Hdf5Sink) -> tuple[dict[int, str], dict[str, Any], set[str]]:
    """``read_state`` through the sink that writes the file (its writer lock held), and the
    file's dataset keys."""
    keys = set(sink.keys())
    attributes = sink.attrs("/")
    if is_layout1(attributes, list(keys)):
        raise _layout1_error(sink.path)
    table = sink.load(TABLE) if TABLE in keys else np.zeros(0, dtype=TABLE_DTYPE)
    return statuses_of(table), attributes, keys


def read_statuses(path: Path) -> dict[int, str]:
    """The recorded status of every run in the results file."""
    return read_state(path)[0]


class Experiment:
    """A named parameter exploration stored in ``directory``.

    ``defaults`` is a mapping or a dataclass instance (a YamlConfig serves); ``exploration`` a
    list of points such as ``cartesian_product(x=[...], y=[...])``. ``repository`` is the git
    work tree of the code that runs, recorded with the results; ``git_message`` commits its
    tracked changes before each sweep with that message ("" for ours alone);
    ``require_clean`` refuses to start on uncommitted changes. ``comment`` is kept with the
    results; ``compression`` (None, "gzip", "lzf" or a gzip level 0-9) applies to the datasets
    of the results file. ``queue_bytes`` bounds what pool workers may have in flight to the
    parent (one run's results must fit).
    """

    def __init__(
        self,
        name: str,
        directory: Path | str,
        defaults: Mapping[str, Any] | Any = None,
        exploration: Sequence[Mapping[str, Any]] = (),
        *,
        repository: Path | str | None = None,
        git_message: str | None = None,
        require_clean: bool = False,
        comment: str = "",
        compression: str | int | None = None,
        queue_bytes: int = 64 << 20,
    ) -> None:
        compression_options(compression)  # refused here, not at the first run
        self.name = name
        self.directory = Path(directory)
        self.space = ParameterSpace.build({} if defaults is None else defaults, exploration)
        self.repository = repository
        self.git_message = git_message
        self.require_clean = require_clean
        self.comment = comment
        self.compression = compression
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
        function: Callable[..., Any],
        *misplaced: Any,
        processes: int = 1,
        executor: Any = None,
        start_method: str = "spawn",
        retry_failed: bool = False,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        runs_per_task: int = 1,
    ) -> dict[str, int]:
        """Execute every run not done yet; return how many completed, failed and were skipped.

        ``function(run, *args, **kwargs)`` is called once per run. ``processes=1`` runs in
        this process; more start that many worker processes (the function must then be
        importable), started by ``start_method``: "spawn" (a clean interpreter each, safe
        anywhere), "forkserver", or "fork" (a copy of this process in milliseconds, for many
        short runs; refused while other threads run here). ``executor`` instead sends runs as
        tasks (``runs_per_task`` each) to a ``concurrent.futures.Executor`` or a Dask
        ``Client``. In every mode this process stores the results. Options are keyword-only.
        """
        self._check_options(misplaced, processes, executor, runs_per_task)
        pooled = executor is None and processes > 1
        check_start_method(start_method, processes if executor is None else 1)
        if pooled:
            check_picklable(function)
        facts = provenance.collect(self.repository, self.require_clean,
                                   git_message=self.git_message, name=self.name,
                                   comment=self.comment)  # fmt: skip
        self.directory.mkdir(parents=True, exist_ok=True)
        statuses, attributes = read_state(self.results_path)  # a first look, without the lock
        self._check_same_space(attributes)
        call = (tuple(args), dict(kwargs) if kwargs else None)
        with contextlib.ExitStack() as stack:
            pool = None
            workers = min(processes, len(self._pending(statuses, retry_failed)))
            if pooled and workers:  # before the file opens: forked workers must not share it
                pool = Pool(start_method, (function, self.directory, *call), workers,
                            self.queue_bytes)  # fmt: skip
                stack.callback(pool.close, kill=True)  # kills only what did not finish
            elif executor is not None:
                start_forked_workers(executor)
            # This process is the file's single writer; workers send it what to store.
            sink = stack.enter_context(
                Hdf5Sink(self.results_path, "a", compression=self.compression)
            )
            # Decided under the file's writer lock: another run may have ended runs meanwhile.
            statuses, attributes, keys = sink_state(sink)
            self._check_same_space(attributes)
            todo = self._pending(statuses, retry_failed)
            session = sum(1 for key in attributes if key.endswith("_provenance"))
            self._write_header(sink, attributes, keys, session, facts)
            log = SessionLog(self.directory, self.name, len(todo))
            stack.callback(log.close)
            log.logger.info("session %d (%s) started: %d runs to do, %d done before",
                            session, facts["environment_name"], len(todo),
                            len(self.space) - len(todo))  # fmt: skip
            writer = ResultsWriter(sink, self.directory, session, log)
            orders = [(index, self.space.run_parameters(index)) for index in todo]
            try:
                if executor is not None:
                    run_on_executor(executor, orders, writer, function, self.directory,
                                    *call, runs_per_task)  # fmt: skip
                elif pool is not None:
                    pool.run_all(orders, writer)
                else:
                    for index, parameters in orders:
                        writer.add(execute(function, index, parameters, self.directory, *call))
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.commit()  # what finished is kept; the rest stays pending
                raise
            writer.commit()
            sink.set_attrs("/", **{f"session_{session}_end": provenance.utc_now()})
            sink.flush()
            counts = {**writer.counts, "skipped": len(self.space) - len(todo)}
            log.logger.info("session %d ended: %s", session, counts)
        return counts

    def _check_options(
        self, misplaced: tuple[Any, ...], processes: Any, executor: Any, runs_per_task: Any
    ) -> None:
        if misplaced:
            shown = ", ".join(repr(value) for value in misplaced)
            raise ExperimentArgumentError(
                f"run() takes only the function positionally (got also {shown}); its options "
                "are keyword-only (processes=, executor=, retry_failed=, ...) and the "
                f"function's own arguments go in args=({shown},) and kwargs={{...}}"
            )
        for name, value in (("processes", processes), ("runs_per_task", runs_per_task)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ExperimentArgumentError(
                    f"run({name}=...) must be a positive int (got {value!r}); pass e.g. {name}=2"
                )
        if executor is not None and processes != 1:
            raise ExperimentArgumentError(
                f"run() got executor= and processes={processes}; the executor decides where "
                "runs go: pass one of the two"
            )
        if executor is not None:
            check_executor(executor)

    def _write_header(
        self,
        sink: Hdf5Sink,
        attributes: dict[str, Any],
        keys: set[str],
        session: int,
        facts: dict[str, Any],
    ) -> None:
        """The experiment's own attributes (first session) and this session's provenance."""
        with sink.grouped():
            if EXPLORATION not in keys:
                sink.write(EXPLORATION, json.dumps(list(self.space.points)))
            header: dict[str, Any] = {f"session_{session}_provenance": json.dumps(facts)}
            if "space" not in attributes:
                header.update(layout=LAYOUT_VERSION, experiment=self.name,
                              space=space_hash(self.space.fingerprint()),
                              defaults=json.dumps(self.space.defaults), runs=len(self.space),
                              comment=self.comment)  # fmt: skip
            sink.set_attrs("/", **header)

    def _check_same_space(self, attributes: dict[str, Any]) -> None:
        recorded = attributes.get("space")
        if recorded is not None and not same_space(recorded, self.space.fingerprint()):
            raise ExperimentError(
                f"{self.results_path} holds a different parameter space than this experiment; "
                "resume with the same defaults and exploration, or use a new directory",
                path=str(self.results_path),
            )

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, {str(self.directory)!r}, runs={len(self.space)})"


__all__ = ["Experiment", "ExperimentError", "Run", "read_statuses"]
